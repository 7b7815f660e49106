from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group

from .models import AuditLog, User


class SuperuserOnly:
    """Logins, roles and groups are the admins' alone (DESIGN §1).

    The "Managers" group grants nothing on these models; this mixin is the
    second lock, so a permission added by hand still cannot open them.
    """

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


@admin.register(User)
class UserAdmin(SuperuserOnly, BaseUserAdmin):
    """Role changes end the user's tokens (accounts.signals) and are audited."""

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    readonly_fields = ["last_login", "date_joined", "tokens_valid_after"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["first_name", "last_name"]}),
        ("Access", {"fields": ["role", "is_active"]}),
        ("Dates", {"fields": ["last_login", "date_joined", "tokens_valid_after"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "role", "password1", "password2"]}),
    ]
    filter_horizontal = []


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SuperuserOnly, BaseGroupAdmin):
    """Read the "Managers" group here; ``manage.py setup_roles`` owns its permissions."""


@admin.register(AuditLog)
class AuditLogAdmin(SuperuserOnly, admin.ModelAdmin):
    list_display = ["created_at", "action", "actor_email", "target", "ip", "request_id"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor_email", "target", "request_id"]
    readonly_fields = [field.name for field in AuditLog._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
