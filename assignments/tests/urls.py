"""The project's URLs plus the distribution operations, for the API tests.

Used only while ``config/urls.py`` does not include
``assignments.api.operation_urls`` yet; delete it once it does.
"""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("api/v1/", include("assignments.api.operation_urls")),
    *project_urlpatterns,
]
