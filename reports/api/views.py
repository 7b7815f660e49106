from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsLeadOwnerOrManager
from reports.selectors import get_dashboard


class DashboardView(APIView):
    """Counts per agent and status, unassigned leads and a 30-day series.

    Managers and admins see the whole desk; an agent sees only its own leads
    (no unassigned count, no imports). Served from the shared cache, per scope.
    """

    permission_classes = [IsLeadOwnerOrManager]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        data = get_dashboard(request.user)
        if data is None:  # an agent login without an agent profile owns nothing
            data = {"scope": "agent", "totals": {}, "per_agent": [], "series": []}
        return Response(data)
