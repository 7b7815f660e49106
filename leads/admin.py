from django.contrib import admin

from .models import ImportBatch, Lead, LeadActivity


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["first_name", "last_name", "phone", "status", "agent", "batch", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["first_name", "last_name", "phone", "email"]
    list_select_related = ["agent", "batch"]
    autocomplete_fields = ["agent"]
    raw_id_fields = ["batch"]
    show_full_result_count = False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "file_name", "state", "rows", "created", "invalid", "created_at"]
    list_filter = ["state", "created_at"]
    search_fields = ["file_name", "sha256"]
    list_select_related = ["created_by"]


@admin.register(LeadActivity)
class LeadActivityAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "actor", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["lead", "actor"]
    raw_id_fields = ["lead"]
