"""Imports over HTTP: upload (with preview), list, detail, error report, commit, undo.

Thin: each view parses input, calls one service of ``imports.services``
and serializes the batch. Manager and admin only.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManagerOrAdmin
from assignments.distribution import STRATEGIES
from common.ratelimit import rate_limit
from imports import services
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


class ImportBatchOutput(ImportBatchSummaryOutput):
    errors = ImportErrorOutput(many=True)
    # Per routing rule that matched (teams and routing, issue #15): rule, team or
    # agent, matched, per_agent, unplaced, fallback, no_eligible. [] without rules.
    routing = serializers.SerializerMethodField()

    class Meta(ImportBatchSummaryOutput.Meta):
        fields = [*ImportBatchSummaryOutput.Meta.fields, "errors", "duplicate_rows", "routing"]

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

    @extend_schema(request={"multipart/form-data": ImportInput}, responses={201: ImportBatchOutput})
    @rate_limit("import-upload", rate="RATELIMIT_UPLOAD", key="user_or_ip")
    def post(self, request):
        data = ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        options = data.validated_data
        result = services.import_file(
            file=options.pop("file"),
            actor=request.user,
            strategy=options.pop("strategy", None) or None,
            **options,
        )
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

    @extend_schema(request=None, responses={200: ImportBatchOutput})
    def post(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        result = services.commit_batch(batch=batch, actor=request.user)
        return Response(_batch_body(result))


class ImportUndoView(APIView):
    permission_classes = [IsManagerOrAdmin]

    @extend_schema(request=None, responses={200: ImportUndoOutput})
    def post(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        result = services.undo_batch(batch=batch, actor=request.user)
        body = ImportBatchOutput(result.batch).data
        body.update(removed=result.removed, kept=result.kept)
        return Response(body)
