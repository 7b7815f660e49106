from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config import health, metrics, webapp

api_v1 = [
    path("auth/", include("accounts.api.urls")),
    path("", include("agents.api.urls")),
    path("", include("leads.api.export_urls")),
    path("", include("leads.api.urls")),
    path("", include("reports.api.urls")),
    path("", include("imports.api.urls")),
    path("", include("assignments.api.urls")),
    path("", include("assignments.api.operation_urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("health", health.health, name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP
    # allows no inline scripts.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # The web app: its service worker at the root, and its index.html for every
    # path not reserved above (the app routes it). Keep these last.
    path("sw.js", webapp.service_worker, name="webapp-sw"),
    re_path(webapp.ROUTE, webapp.index, name="webapp"),
]

# Under /api/ every error is the envelope (common.api); elsewhere Django's pages.
handler400 = "common.api.json_400"
handler403 = "common.api.json_403"
handler404 = "common.api.json_404"
handler500 = "common.api.json_500"
