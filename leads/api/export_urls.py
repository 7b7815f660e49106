from django.urls import path

from .export import ExportDownloadView, ExportJobView, LeadExportView

app_name = "leads_export"

# Included before the leads router so "export.csv" is never read as a lead id.
urlpatterns = [
    path("leads/export.csv", LeadExportView.as_view(), name="export-csv"),
    path("leads/exports/<int:pk>/", ExportJobView.as_view(), name="job"),
    path("leads/exports/<int:pk>/download/", ExportDownloadView.as_view(), name="download"),
]
