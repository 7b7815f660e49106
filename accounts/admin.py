import copy
from functools import partial

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group

from . import services
from .models import AuditLog, PendingEmail, User


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


class PasswordChangeForm(AdminPasswordChangeForm):
    """Django's admin password form, saved through ``accounts.services`` as ``actor``."""

    def __init__(self, user, *args, actor, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.actor = actor

    def save(self, commit=True):
        if not commit:
            return super().save(commit=False)
        password = (
            self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        )
        return services.user_change_password(user=self.user, password=password, actor=self.actor)


@admin.register(User)
class UserAdmin(SuperuserOnly, BaseUserAdmin):
    """Edits and password changes go through ``accounts.services``.

    A role or password change ends the user's tokens and is audited with the
    acting admin as its actor.
    """

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
    change_password_form = PasswordChangeForm  # needs the actor: see user_change_password

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        edits = {name: form.cleaned_data[name] for name in form.changed_data}
        services.user_update(user=obj, actor=request.user, **edits)

    def user_change_password(self, request, id, form_url=""):
        # Django's view builds ``self.change_password_form(user, data)``: a copy
        # of this admin for the one request hands the form the acting admin.
        view = copy.copy(self)
        view.change_password_form = partial(PasswordChangeForm, actor=request.user)
        return super(UserAdmin, view).user_change_password(request, id, form_url)


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


@admin.register(PendingEmail)
class PendingEmailAdmin(SuperuserOnly, admin.ModelAdmin):
    """Emails SMTP did not take while tasks ran in-process, waiting for their next
    attempt (``accounts.mail.send_pending``). Read only; deleting one gives it up."""

    list_display = ["task", "args", "attempts", "next_attempt_at", "last_error", "created_at"]
    list_filter = ["task"]
    readonly_fields = [field.name for field in PendingEmail._meta.fields]
    ordering = ["next_attempt_at"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False
