"""Routes of the import API; included by ``config/urls.py`` under ``api/v1/``."""

from django.urls import path

from . import imports

app_name = "imports"

urlpatterns = [
    path("imports/", imports.ImportListCreateView.as_view(), name="list"),
    path("imports/<int:pk>/", imports.ImportDetailView.as_view(), name="detail"),
    path("imports/<int:pk>/errors.csv", imports.ImportErrorsCsvView.as_view(), name="errors-csv"),
    path("imports/<int:pk>/commit/", imports.ImportCommitView.as_view(), name="commit"),
    path("imports/<int:pk>/undo/", imports.ImportUndoView.as_view(), name="undo"),
]
