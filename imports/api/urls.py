"""Routes of the import API; included by ``config/urls.py`` under ``api/v1/``."""

from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("imports/", views.ImportListCreateView.as_view(), name="list"),
    path("imports/<int:pk>/", views.ImportDetailView.as_view(), name="detail"),
    path("imports/<int:pk>/errors.csv", views.ImportErrorsCsvView.as_view(), name="errors-csv"),
    path("imports/<int:pk>/commit/", views.ImportCommitView.as_view(), name="commit"),
    path("imports/<int:pk>/undo/", views.ImportUndoView.as_view(), name="undo"),
    path("imports/<int:pk>/cancel/", views.ImportCancelView.as_view(), name="cancel"),
    path("imports/<int:pk>/discard/", views.ImportDiscardView.as_view(), name="discard"),
]
