from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from accounts.permissions import IsLeadOwnerOrManager
from leads.exporting import stream_csv
from leads.models import Lead

from .filters import LeadFilter, LeadSearchFilter
from .views import LeadViewSet


class LeadExportView(APIView):
    """The lead list as CSV, streamed, with the list's filters and search.

    Managers export any leads, an agent only its own. Cells that a spreadsheet
    would run as formulas are neutralized.
    """

    permission_classes = [IsLeadOwnerOrManager]
    search_fields = LeadViewSet.search_fields

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        filterset = LeadFilter(
            request.query_params, queryset=Lead.objects.visible_to(request.user), request=request
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        leads = LeadSearchFilter().filter_queryset(request, filterset.qs, self)
        response = StreamingHttpResponse(stream_csv(leads), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
