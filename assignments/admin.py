from django.contrib import admin

from .models import Assignment, RotationState


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["lead", "agent", "reason", "strategy", "assigned_at", "ended_at"]
    list_filter = ["reason", "strategy", "assigned_at"]
    list_select_related = ["lead", "agent"]
    raw_id_fields = ["lead"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RotationState)
class RotationStateAdmin(admin.ModelAdmin):
    list_display = ["pool", "last_agent_id", "updated_at"]

    def has_add_permission(self, request):
        return False
