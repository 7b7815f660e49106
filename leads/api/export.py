from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from accounts.permissions import IsLeadOwnerOrManager
from leads.exporting import started_csv_stream
from leads.models import Lead

from .filters import LeadFilter, LeadSearchFilter


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

    @extend_schema(filters=True, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        # Every filter is validated (a 400 naming it) and the first rows are read
        # before the response exists: the stream never starts unless it can finish.
        leads = self.get_queryset()
        for backend in self.filter_backends:
            leads = backend().filter_queryset(request, leads, self)
        response = StreamingHttpResponse(
            started_csv_stream(leads), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
