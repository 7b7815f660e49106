"""Imports over HTTP: upload (with preview), list, detail, error report, commit, undo, cancel.

Thin: each view parses input, calls one service of ``imports.services``
and serializes the batch. Manager and admin only.

Work on a file over ``IMPORT_INLINE_MAX_BYTES``, or any work the client asks
to be asynchronous (``Prefer: respond-async``, RFC 7240), is queued: the
answer is ``202 Accepted`` with the batch and a ``Location`` to poll; small
files are processed in the request and answered as before (201 or 200).
"""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManagerOrAdmin
from assignments.distribution import STRATEGIES
from common.ratelimit import rate_limit
from imports import queueing, services
from leads.exporting import error_report_response
from leads.models import ImportBatch
from routing.models import BatchRouting

# Room for the multipart envelope (boundaries, other fields) around the file.
_ENVELOPE = 64 * 1024


class FormBoolean(serializers.BooleanField):
    # A multipart form that omits the field means "default", not False.
    default_empty_html = serializers.empty


class ImportInput(serializers.Serializer):
    file = serializers.FileField()
    strategy = serializers.ChoiceField(choices=STRATEGIES, required=False, allow_blank=True)
    dedupe = serializers.ChoiceField(
        choices=ImportBatch.Dedupe.values, default=ImportBatch.Dedupe.SKIP
    )
    preview = FormBoolean(default=False)
    distribute = FormBoolean(default=True)
    strict = FormBoolean(default=False)
    force = FormBoolean(default=False)


class ImportErrorOutput(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.CharField()
    value = serializers.CharField()
    message = serializers.CharField()


class ImportBatchSummaryOutput(serializers.ModelSerializer):
    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "state",
            "file_name",
            "source",
            "strategy",
            "dedupe",
            "distribute",
            "strict",
            "rows",
            "created",
            "updated",
            "duplicates",
            "invalid",
            "assigned",
            "unassigned",
            "per_agent",
            "message",
            "created_by",
            "created_at",
            "committed_at",
            "undone_at",
        ]


class ImportProgressOutput(serializers.Serializer):
    stage = serializers.CharField(
        help_text="queued, reading, committing, undoing, cancelling, done, failed, cancelled"
    )
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField(
        allow_null=True, help_text="Known, or estimated from the bytes read so far."
    )
    percent = serializers.IntegerField(min_value=0, max_value=100)


class ImportBatchOutput(ImportBatchSummaryOutput):
    errors = ImportErrorOutput(many=True)
    progress = serializers.SerializerMethodField()
    # Per routing rule that matched (teams and routing, issue #15): rule, team or
    # agent, matched, per_agent, unplaced, fallback, no_eligible. [] without rules.
    routing = serializers.SerializerMethodField()

    class Meta(ImportBatchSummaryOutput.Meta):
        fields = [
            *ImportBatchSummaryOutput.Meta.fields,
            "action",
            "attempts",
            "progress",
            "errors",
            "duplicate_rows",
            "routing",
        ]

    @extend_schema_field(ImportProgressOutput)
    def get_progress(self, batch):
        return queueing.progress_of(batch)

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_routing(self, batch):
        found = BatchRouting.objects.filter(batch_id=batch.pk).values_list("report", flat=True)
        return found.first() or []


class ImportUndoOutput(ImportBatchOutput):
    removed = serializers.IntegerField()
    kept = serializers.ListField(child=serializers.IntegerField())

    class Meta(ImportBatchOutput.Meta):
        fields = [*ImportBatchOutput.Meta.fields, "removed", "kept"]


def _batch_body(result):
    body = ImportBatchOutput(result.batch).data
    body["timings"] = result.timings
    return body


def respond_async(request):
    """Whether the client sent ``Prefer: respond-async`` (RFC 7240)."""
    prefer = request.headers.get("Prefer", "")
    return any(part.split(";")[0].strip().lower() == "respond-async" for part in prefer.split(","))


def _accepted(request, batch):
    """``202 Accepted``: the batch as it stands and where to follow it."""
    response = Response(ImportBatchOutput(batch).data, status=status.HTTP_202_ACCEPTED)
    response["Location"] = request.build_absolute_uri(
        reverse("imports:detail", kwargs={"pk": batch.pk})
    )
    response["Preference-Applied"] = "respond-async"
    return response


PREFER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "`respond-async` queues the work whatever the file's size and answers 202. "
        "Without it, files up to IMPORT_INLINE_MAX_BYTES (256 KiB) are processed in "
        "the request."
    ),
)
ACCEPTED = OpenApiResponse(
    ImportBatchOutput,
    description=(
        "Queued: the batch (state `queued`) with a `Location` header naming "
        "`GET /api/v1/imports/{id}/`; poll it for `state` and `progress`."
    ),
)


class ImportListCreateView(generics.ListAPIView):
    """``GET`` the batches, newest first; ``POST`` a file (multipart ``file``)."""

    permission_classes = [IsManagerOrAdmin]
    serializer_class = ImportBatchSummaryOutput
    parser_classes = [MultiPartParser]
    filter_backends = []
    queryset = ImportBatch.objects.defer("errors", "duplicate_rows").order_by("-id")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Refuse an oversized body before Django spools it to disk; the file
        # itself is measured by the service.
        if request.method == "POST":
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            services.check_upload_size(length, allowance=_ENVELOPE)

    @extend_schema(
        request={"multipart/form-data": ImportInput},
        parameters=[PREFER],
        responses={
            201: OpenApiResponse(ImportBatchOutput, description="Processed in the request."),
            202: ACCEPTED,
        },
    )
    @rate_limit("import-upload", rate="RATELIMIT_UPLOAD", key="user_or_ip")
    def post(self, request):
        data = ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        options = data.validated_data
        result, queued = services.upload(
            file=options.pop("file"),
            actor=request.user,
            strategy=options.pop("strategy", None) or None,
            respond_async=respond_async(request),
            request_id=getattr(request, "request_id", ""),
            **options,
        )
        if queued:
            return _accepted(request, result.batch)
        return Response(_batch_body(result), status=status.HTTP_201_CREATED)


class ImportDetailView(generics.RetrieveAPIView):
    permission_classes = [IsManagerOrAdmin]
    serializer_class = ImportBatchOutput
    queryset = ImportBatch.objects.all()

    def get_object(self):
        batch = super().get_object()
        if batch.state == ImportBatch.State.PROCESSING:
            services.batch_as_it_stands(batch)
        return batch


class ImportErrorsCsvView(APIView):
    """The error report as CSV; cells that a spreadsheet would run as formulas are quoted."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request, pk):
        batch = get_object_or_404(ImportBatch.objects.only("id", "errors"), pk=pk)
        return error_report_response(batch)


class ImportCommitView(APIView):
    permission_classes = [IsManagerOrAdmin]

    @extend_schema(
        request=None, parameters=[PREFER], responses={200: ImportBatchOutput, 202: ACCEPTED}
    )
    def post(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        result, queued = services.request_commit(
            batch=batch,
            actor=request.user,
            respond_async=respond_async(request),
            request_id=getattr(request, "request_id", ""),
        )
        if queued:
            return _accepted(request, result.batch)
        return Response(_batch_body(result))


class ImportUndoView(APIView):
    permission_classes = [IsManagerOrAdmin]

    @extend_schema(
        request=None, parameters=[PREFER], responses={200: ImportUndoOutput, 202: ACCEPTED}
    )
    def post(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        result, queued = services.request_undo(
            batch=batch,
            actor=request.user,
            respond_async=respond_async(request),
            request_id=getattr(request, "request_id", ""),
        )
        if queued:
            return _accepted(request, result.batch)
        body = ImportBatchOutput(result.batch).data
        body.update(removed=result.removed, kept=result.kept)
        return Response(body)


class ImportCancelView(APIView):
    """Stop a batch's queued or running work; nothing of it stays written.

    200: it was queued and is cancelled now. 202: it is running and will stop
    at its next chunk (poll the batch: ``progress.stage`` reads ``cancelling``
    until the batch is ``cancelled``, or back to ``preview``/``committed`` for
    a cancelled commit/undo). 409 ``batch_not_cancellable`` otherwise.
    """

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(ImportBatchOutput, description="Cancelled."),
            202: OpenApiResponse(ImportBatchOutput, description="Stopping at the next chunk."),
        },
    )
    def post(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        batch, pending = services.cancel_batch(batch=batch, actor=request.user)
        if pending:
            return _accepted(request, batch)
        return Response(ImportBatchOutput(batch).data)


class ImportDiscardView(APIView):
    """Discard a preview: the batch ends ``cancelled``, its stored file deleted;
    nothing else was written. 409 ``batch_not_discardable`` for any other state."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(
        request=None,
        responses={200: OpenApiResponse(ImportBatchOutput, description="Discarded.")},
    )
    def post(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        return Response(
            ImportBatchOutput(services.discard_preview(batch=batch, actor=request.user)).data
        )
