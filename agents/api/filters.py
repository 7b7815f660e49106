import django_filters

from agents.models import Agent
from common.filtering import BooleanFilter


class AgentFilter(django_filters.FilterSet):
    """``?is_active=`` and ``?accepts_leads=``: ``true`` or ``false``, anything else a 400."""

    is_active = BooleanFilter()
    accepts_leads = BooleanFilter()

    class Meta:
        model = Agent
        fields = []
