"""The operator console's site: Leadline's name on every admin page."""

from django.contrib import admin


class LeadlineAdminSite(admin.AdminSite):
    """Django's admin site under Leadline's name, instead of "Django administration".

    Installed as the default site by ``config.apps.LeadlineAdminConfig``, so
    ``admin.site`` and every ``@admin.register`` in the apps use it.
    """

    site_header = "Leadline"
    site_title = "Leadline admin"
    index_title = "Lead desk"
