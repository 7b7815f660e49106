from django.urls import path

from .export import LeadExportView

app_name = "leads_export"

# Included before the leads router so "export.csv" is never read as a lead id.
urlpatterns = [path("leads/export.csv", LeadExportView.as_view(), name="export-csv")]
