from django.contrib.admin.apps import AdminConfig


class LeadlineAdminConfig(AdminConfig):
    """``django.contrib.admin`` with Leadline's site (see config/admin.py)."""

    default_site = "config.admin.LeadlineAdminSite"
