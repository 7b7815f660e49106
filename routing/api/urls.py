from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "routing"

router = SimpleRouter()
router.register("teams", views.TeamViewSet, basename="team")
router.register("routing-rules", views.RuleViewSet, basename="routing-rule")

urlpatterns = [
    path("routing/explain/", views.ExplainView.as_view(), name="explain"),
    path("routing/settings/", views.RoutingSettingsView.as_view(), name="settings"),
    *router.urls,
]
