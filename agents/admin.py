from django.contrib import admin

from .models import Agent
from .selectors import agents_with_open_counts


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "email",
        "mobile",
        "is_active",
        "accepts_leads",
        "away_until",
        "weight",
        "capacity",
        "open_leads",
    ]
    list_filter = ["is_active", "accepts_leads"]
    search_fields = ["name", "email", "mobile"]
    readonly_fields = ["user", "created_at", "updated_at"]

    def get_queryset(self, request):
        return agents_with_open_counts()

    @admin.display(description="Open leads", ordering="open_leads")
    def open_leads(self, obj):
        return obj.open_leads
