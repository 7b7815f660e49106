from django.conf import settings
from django.db import transaction
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsLeadOwnerOrManager
from common.errors import Conflict
from leads.exporting import export_job_create, started_csv_stream
from leads.models import ExportJob, Lead
from leads.tasks import export_leads

from .filters import LeadFilter, LeadSearchFilter


class ExportJobOutput(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "state",
            "rows",
            "rows_total",
            "message",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, job) -> str | None:
        if job.state != ExportJob.State.DONE:
            return None
        url = reverse("leads_export:download", kwargs={"pk": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class LeadExportView(APIView):
    """The lead list as CSV, streamed, with the list's filters and search.

    Managers export any leads, an agent only its own. Cells that a spreadsheet
    would run as formulas are neutralized.
    """

    permission_classes = [IsLeadOwnerOrManager]
    # The list's filters and search (not its ordering: an export is in id order).
    filter_backends = [DjangoFilterBackend, LeadSearchFilter]
    filterset_class = LeadFilter

    def get_queryset(self):
        return Lead.objects.visible_to(self.request.user)

    def filtered(self, request):
        leads = self.get_queryset()
        for backend in self.filter_backends:
            leads = backend().filter_queryset(request, leads, self)
        return leads

    @extend_schema(
        filters=True,
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            202: OpenApiResponse(
                ExportJobOutput,
                description=(
                    "More than EXPORT_INLINE_MAX_ROWS rows: written by a worker. `Location` "
                    "names the job; its `download_url` appears when it is done."
                ),
            ),
        },
    )
    def get(self, request):
        # Every filter is validated (a 400 naming it) and the first rows are read
        # before the response exists: the stream never starts unless it can finish.
        leads = self.filtered(request)
        limit = settings.EXPORT_INLINE_MAX_ROWS
        rows = leads.order_by()[: limit + 1].count()  # bounded: never counts a whole table
        if rows > limit:
            return self._queue(request, leads)
        response = StreamingHttpResponse(
            started_csv_stream(leads), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    def _queue(self, request, leads):
        query = {key: request.query_params.getlist(key) for key in request.query_params}
        request_id = getattr(request, "request_id", "")
        job = export_job_create(
            user=request.user, query=query, rows_total=leads.count(), request_id=request_id
        )
        transaction.on_commit(
            lambda: export_leads.delay(job_id=job.pk, request_id=request_id or None)
        )
        response = Response(
            ExportJobOutput(job, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )
        response["Location"] = request.build_absolute_uri(
            reverse("leads_export:job", kwargs={"pk": job.pk})
        )
        return response


class ExportJobView(APIView):
    """A queued export: its state, and its download link when done. Only the
    user who asked sees it (anyone else: 404)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: ExportJobOutput})
    def get(self, request, pk):
        job = get_object_or_404(ExportJob, pk=pk, created_by=request.user)
        return Response(ExportJobOutput(job, context={"request": request}).data)


class ExportDownloadView(APIView):
    """The CSV of a finished export, to the user who asked only (anyone else: 404)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, pk):
        job = get_object_or_404(ExportJob, pk=pk, created_by=request.user)
        if job.state != ExportJob.State.DONE or not job.file:
            raise Conflict(
                f"Export #{job.pk} is {job.state}; it has no file yet.", code="export_not_ready"
            )
        response = FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=f"leads-export-{job.pk}.csv",
            content_type="text/csv; charset=utf-8",
        )
        response["Cache-Control"] = "no-store"
        return response
