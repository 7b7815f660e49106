"""The operator console's site: Leadline's name on every admin page, and the
API login's limits and audit on its sign-in page."""

from django.contrib import admin

from accounts.admin_login import LoginForm, refuse_over_limit


class LeadlineAdminSite(admin.AdminSite):
    """Django's admin site under Leadline's name, instead of "Django administration".

    Installed as the default site by ``config.apps.LeadlineAdminConfig``, so
    ``admin.site`` and every ``@admin.register`` in the apps use it.
    """

    site_header = "Leadline"
    site_title = "Leadline admin"
    index_title = "Lead desk"
    # Audits every checked attempt, as the API login does.
    login_form = LoginForm

    def login(self, request, extra_context=None):
        """Django's login page behind the API login's rate limits."""
        return refuse_over_limit(self, request) or super().login(request, extra_context)
