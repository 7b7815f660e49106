import hashlib
from datetime import UTC

from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

from accounts.permissions import IsLeadOwnerOrManager
from common import dataversion
from common.errors import DomainError
from common.filtering import KeysetPageNumberPagination, StrictPageNumberPagination
from common.renderers import ORJSONRenderer
from imports.selectors import LeadTimeline
from leads import services
from leads.counters import lead_total
from leads.models import EVERYONE, NO_AGENT, Lead, visible_owner
from leads.selectors import LEAD_LIST_FIELDS, LEAD_LIST_ORDERING, lead_list_page

from .filters import LeadFilter, LeadOrderingFilter, LeadSearchFilter
from .serializers import LeadActivityOutput, LeadCreateInput, LeadOutput, LeadUpdateInput

_DATETIMES = ("next_follow_up", "created_at", "updated_at")


def _is_utc(tz):
    return tz is UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")


def _iso(value, tz, utc=False):
    """What DRF's DateTimeField renders: current time zone, "Z" for UTC.

    Aware values come from the ORM; naive ones from ``lead_list_page``, in UTC
    (``USE_TZ`` is always on).
    """
    if value is None:
        return None
    if value.tzinfo is None:
        if utc:
            return value.isoformat() + "Z"
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# A backstop: every write that changes who owns which lead bumps the data version.
COUNT_CACHE_SECONDS = 30


class _DefaultPage:
    """The unfiltered list as Django's Paginator sees it.

    The total is known (cached), and the paginator's one slice becomes one
    ``lead_list_page`` query: no queryset is built or compiled on the hot path.
    """

    ordered = True
    keyset_order = "-id"  # LEAD_LIST_ORDERING: cursor links past the deep offset

    def __init__(self, agent_id, count):
        self._agent_id = agent_id
        self._count = count

    def count(self):
        return self._count

    def __getitem__(self, key):
        # Paginator.page() only ever asks for object_list[bottom:top].
        return lead_list_page(
            agent_id=self._agent_id, offset=key.start, limit=max(0, key.stop - key.start)
        )


def _row_id(row):
    return row[0]  # LEAD_LIST_FIELDS starts with the id


# What a filtered list's total depends on: everything but where the page is.
_NOT_FILTERS = {"page", "page_size", "cursor", "ordering"}


# Filters whose totals the counters hold (leads by owner and status).
_COUNTED_FILTERS = {"status", "agent", "unassigned"}


def _counter_total(params, agent_id=None):
    """A callable answering the total of the (already validated) ``params`` from
    the counters, or None when a filter is not one they hold. ``agent_id``: the
    rows are that agent's (its own list), else everyone's."""
    given = {name for name in params if name not in _NOT_FILTERS and params.get(name) != ""}
    if not given <= _COUNTED_FILTERS:
        return None
    statuses = [value for value in params.getlist("status") if value] or None
    agent_keys, exclude = None, ()
    if agent_id is not None:
        agent_keys = {agent_id}
    if params.get("agent"):
        asked = {int(params["agent"])}
        agent_keys = asked if agent_keys is None else agent_keys & asked
    unassigned = params.get("unassigned")
    if unassigned == "true":
        agent_keys = {NO_AGENT} if agent_keys is None else agent_keys & {NO_AGENT}
    elif unassigned == "false":
        exclude = (NO_AGENT,)
    return lambda: lead_total(statuses=statuses, agent_keys=agent_keys, exclude_keys=exclude)


def _list_scope(user):
    """``(cache scope, agent id)`` of the user's unfiltered list; None sees nothing.

    The compiled page takes an agent id, not a queryset, so this asks
    ``visible_owner`` (what ``Lead.objects.visible_to`` applies) directly.
    """
    owner = visible_owner(user)
    if owner is EVERYONE:
        return "all", None
    return (f"agent:{owner.pk}", owner.pk) if owner is not None else None


class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Leads. Managers see and edit all; an agent sees only its own leads and may
    change only their status, notes and follow-up; other leads are 404."""

    permission_classes = [IsLeadOwnerOrManager]
    serializer_class = LeadOutput
    filter_backends = [DjangoFilterBackend, LeadSearchFilter, LeadOrderingFilter]
    filterset_class = LeadFilter
    search_fields = ["first_name", "last_name", "email"]
    ordering_fields = ["id", "created_at", "updated_at", "next_follow_up", "first_name", "status"]
    ordering = list(LEAD_LIST_ORDERING)
    renderer_classes = [ORJSONRenderer]
    pagination_class = KeysetPageNumberPagination

    def get_queryset(self):
        return Lead.objects.select_related("agent").visible_to(self.request.user)

    def list(self, request, *args, **kwargs):
        """The agents' hot path: ``values()`` rows shaped exactly like ``LeadOutput``.

        A ModelSerializer page of 50 costs ~10 ms of Python; plain dicts rendered
        by orjson cost well under one (bench/api_bench.py measures it).
        """
        scope = _list_scope(request.user)
        if (
            set(request.query_params) - {"page", "page_size"}
            or scope is None
            # A deep page is a seek from a cached anchor (the paginator's), not
            # an OFFSET walk of the compiled query through every row above it.
            or self.paginator.wants_deep_page(request)
        ):
            queryset = self.filter_queryset(self.get_queryset())
            count = self._count(scope, request, queryset)
            page = self.paginator.paginate_queryset(
                queryset.values_list(*LEAD_LIST_FIELDS.values()),
                request,
                view=self,
                count=count,
                row_id=_row_id,
                ids=queryset.values_list("id", flat=True),
            )
        else:
            # No filter, search or ordering asked for: the default order (what
            # OrderingFilter would apply), the total from the cache, the page
            # from the compiled query.
            key, agent_id = scope
            # Counting an agent's thousand leads is the costliest part of the
            # page; every write that creates, deletes or moves leads bumps the
            # data version, which retires the cached totals in every process.
            total = dataversion.cached(
                f"leads:count:{key}",
                # Sums of the counters (leads by owner and status), not COUNT(*).
                lambda: lead_total(agent_keys=None if agent_id is None else {agent_id}),
                timeout=COUNT_CACHE_SECONDS,
            )
            page = self.paginator.paginate_queryset(
                _DefaultPage(agent_id, total), request, view=self, row_id=_row_id
            )
        tz = timezone.get_current_timezone()
        utc = _is_utc(tz)
        names = tuple(LEAD_LIST_FIELDS)
        rows = []
        for values in page:
            row = dict(zip(names, values, strict=True))
            for name in _DATETIMES:
                row[name] = _iso(row[name], tz, utc)
            rows.append(row)
        return self.get_paginated_response(rows)

    @staticmethod
    def _count(scope, request, queryset):
        """The list's total as a callable cached under the data version, or None
        (``COUNT(*)`` afresh).

        Totals by status and owner alone (an agent's ``?status=``, a manager's
        ``?status=``/``?agent=``/``?unassigned=``, any ordering) are sums of the
        counters (``leads.counters.lead_total``), kept in the writes'
        transactions: a manager's ``?status=new`` would otherwise count hundreds
        of thousands of index entries after every write. A manager's other
        filters are counted once per write instead of once per page. An
        agent's other totals are bounded by its own rows (an index range) and
        counted each time; so are the follow-up filters, which move with the clock.
        """
        if scope is None or {"view", "follow_up_due"} & set(request.query_params):
            return None
        key, agent_id = scope
        compute = _counter_total(request.query_params, agent_id)
        if compute is None:
            if agent_id is not None:
                return None
            compute = queryset.count
        params = sorted(
            (name, request.query_params.getlist(name))
            for name in request.query_params
            if name not in _NOT_FILTERS
        )
        digest = hashlib.sha256(repr(params).encode()).hexdigest()[:32]
        return lambda: dataversion.cached(
            f"leads:count:{key}:{digest}", compute, timeout=COUNT_CACHE_SECONDS
        )

    @extend_schema(request=LeadCreateInput, responses={201: LeadOutput})
    def create(self, request):
        if not request.user.is_manager_or_admin:
            raise DomainError(
                "Only managers and admins may create leads.",
                code="permission_denied",
                status=status.HTTP_403_FORBIDDEN,
            )
        data = LeadCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        lead = services.lead_create(**data.validated_data, actor=request.user)
        return Response(LeadOutput(lead).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LeadUpdateInput, responses={200: LeadOutput})
    def partial_update(self, request, pk=None):
        lead = self.get_object()
        data = LeadUpdateInput(data=request.data, partial=True)
        if not isinstance(request.data, dict):
            data.is_valid(raise_exception=True)
        unknown = set(request.data) - set(data.fields)
        if unknown:
            raise DomainError(
                "Unknown fields.",
                code="validation_error",
                fields={name: ["Unknown field."] for name in sorted(unknown)},
            )
        data.is_valid(raise_exception=True)
        is_manager = request.user.is_manager_or_admin
        lead = services.lead_update(
            lead=lead,
            actor=request.user,
            allowed=services.MANAGER_FIELDS if is_manager else services.AGENT_FIELDS,
            **data.validated_data,
        )
        lead = self.get_queryset().get(pk=lead.pk)
        return Response(LeadOutput(lead).data)

    @extend_schema(request=LeadUpdateInput, responses={200: LeadOutput})
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    @extend_schema(responses={405: None})
    def destroy(self, request, pk=None):
        # Leads are never deleted through the API (undo an import instead). The
        # lookup comes first so another agent's lead is a 404 for every method.
        self.get_object()
        raise MethodNotAllowed(request.method)

    @extend_schema(responses={200: LeadActivityOutput(many=True)})
    # The timeline is in time order: page numbers only (no id cursor).
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=StrictPageNumberPagination,
    )
    def activity(self, request, pk=None):
        # An imported lead's "created" entry is derived from its batch (imports.selectors).
        lead = self.get_object()
        page = self.paginator.paginate_queryset(LeadTimeline(lead), request, view=self)
        return self.paginator.get_paginated_response(LeadActivityOutput(page, many=True).data)
