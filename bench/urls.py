from django.urls import path

from config.urls import handler404, handler500, urlpatterns  # noqa: F401 - the same handlers

from .bare_view import bare_leads

urlpatterns = [*urlpatterns, path("bench/bare-leads/<int:agent_id>/", bare_leads)]
