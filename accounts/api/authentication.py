from django.db import router
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User
from accounts.tokens import token_is_current
from agents.models import Agent
from common.compiled import CompiledQuery

_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_AGENT_FIELDS = [field.attname for field in Agent._meta.concrete_fields]
_AGENT_ID = len(_USER_FIELDS) + _AGENT_FIELDS.index(Agent._meta.pk.attname)

# The user row and its agent profile (LEFT JOIN) in one statement, compiled once.
_USER_WITH_AGENT = CompiledQuery(
    lambda: User.objects.filter(**{api_settings.USER_ID_FIELD: 0}).values_list(
        *_USER_FIELDS, *(f"agent_profile__{name}" for name in _AGENT_FIELDS)
    )
)


def user_with_agent(user_id):
    """The user ``user_id`` with ``agent_profile`` already loaded (None when absent).

    What ``select_related("agent_profile").get()`` returns, from a statement
    compiled once: every API request runs it, and building the queryset cost
    more than the query.
    """
    alias = router.db_for_read(User)
    rows = _USER_WITH_AGENT.rows((user_id,), convert=True, using=alias)
    if not rows:
        raise User.DoesNotExist
    row = rows[0]
    user = User.from_db(alias, _USER_FIELDS, row[: len(_USER_FIELDS)])
    agent = None
    if row[_AGENT_ID] is not None:
        agent = Agent.from_db(alias, _AGENT_FIELDS, row[len(_USER_FIELDS) :])
        Agent.user.field.set_cached_value(agent, user)
    User.agent_profile.related.set_cached_value(user, agent)
    return user


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt's authentication plus the per-user revocation timestamp.

    The user and its agent profile come in one query, and the revocation check
    reads that same row, so authentication costs one query per request.
    """

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        try:
            if isinstance(user_id, bool) or not isinstance(user_id, (int, str)):
                raise ValueError(user_id)
            user_id = int(user_id)
            if not 0 < user_id < 2**63:  # outside a BIGINT key: no such user
                raise ValueError(user_id)
            user = user_with_agent(user_id)
        except (User.DoesNotExist, ValueError):
            raise AuthenticationFailed("User not found", code="user_not_found") from None
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if not token_is_current(validated_token, user):
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        return user
