from django.contrib import admin

from common.admin import CappedCountPaginator

from .models import Assignment, RotationState


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by assignments.services only; the console just reads it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = [
        "assigned_at",
        "lead",
        "agent",
        "reason",
        "strategy",
        "why",
        "assigned_by",
        "batch",
        "ended_at",
        "end_reason",
    ]
    list_filter = ["agent", "reason", "strategy", "team", "assigned_at", "ended_at"]
    list_select_related = ["lead", "agent", "assigned_by", "batch"]
    raw_id_fields = ["lead", "batch"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    @admin.display(description="why")
    def why(self, assignment):
        return assignment.explanation


@admin.register(RotationState)
class RotationStateAdmin(ReadOnlyAdmin):
    list_display = ["pool", "last_agent_id", "updated_at"]
