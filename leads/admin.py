from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from agents.models import Agent
from assignments.models import Assignment
from assignments.services import distribute, reassign
from common.admin import (
    CappedCountPaginator,
    ServiceChangeFormMixin,
    domain_errors,
    intermediate_page,
)
from common.phones import InvalidPhone, normalize_phone
from imports.selectors import LeadTimeline
from leads import services
from leads.exporting import stream_csv
from leads.selectors import search_leads

from .models import ImportBatch, Lead, LeadActivity

_FORM_FIELDS = ["first_name", "last_name", "phone", "email", "status", "next_follow_up", "notes"]


class ReassignForm(forms.Form):
    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"] = forms.ModelChoiceField(
            queryset=agents, label="Give the selected leads to", empty_label="— choose —"
        )


class LeadForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = [*_FORM_FIELDS, "agent", "extra"]

    def clean_phone(self):
        # Normalized before the model's unique check, so "098765 43210" and
        # "+919876543210" are recognized as the same lead.
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_extra(self):
        value = self.cleaned_data.get("extra")
        problem = services.extra_problem(value)
        if problem:
            raise forms.ValidationError(problem[1])
        return value

    def clean_agent(self):
        agent = self.cleaned_data.get("agent")
        if agent is None and self.instance.agent_id is not None:
            raise forms.ValidationError(
                "A lead cannot be taken from its agent here: use “Distribute selected” or the "
                "agent's “Redistribute” action."
            )
        return agent


class FollowUpFilter(admin.SimpleListFilter):
    title = "follow-up"
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [
            ("due", "Due now"),
            ("today", "Due by end of today"),
            ("week", "Next 7 days"),
            ("none", "None set"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        end_of_today = timezone.localtime(now).replace(hour=23, minute=59, second=59)
        bounds = {
            "due": Q(next_follow_up__lte=now),
            "today": Q(next_follow_up__lte=end_of_today),
            "week": Q(next_follow_up__gt=now, next_follow_up__lte=now + timedelta(days=7)),
            "none": Q(next_follow_up__isnull=True),
        }
        return queryset.filter(bounds[self.value()]) if self.value() in bounds else queryset


class BatchFilter(admin.SimpleListFilter):
    """The latest imports only: listing every batch would grow without bound."""

    title = "import"
    parameter_name = "batch"
    SHOWN = 10

    def lookups(self, request, model_admin):
        batches = ImportBatch.objects.order_by("-id").only("id", "file_name")[: self.SHOWN]
        return [(str(b.pk), f"#{b.pk} {b.file_name}") for b in batches]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(batch_id=value) if value and value.isdigit() else queryset


class AssignmentInline(admin.TabularInline):
    model = Assignment
    fk_name = "lead"
    fields = [
        "agent", "assigned_at", "assigned_by", "reason", "strategy", "why",
        "ended_at", "end_reason",
    ]  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-assigned_at", "-id"]
    verbose_name_plural = "assignment history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("agent", "assigned_by")

    @admin.display(description="why")
    def why(self, assignment):
        return assignment.explanation

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Lead)
class LeadAdmin(ServiceChangeFormMixin, admin.ModelAdmin):
    form = LeadForm
    list_display = [
        "name",
        "phone",
        "status",
        "agent",
        "batch_link",
        "next_follow_up",
        "created_at",
    ]
    list_filter = ["status", "agent", BatchFilter, "created_at", FollowUpFilter]
    search_fields = ["first_name", "last_name", "email", "phone"]
    search_help_text = "Name, email, or a phone number in any format."
    list_select_related = ["agent", "batch"]
    autocomplete_fields = ["agent"]
    readonly_fields = ["batch", "created_at", "updated_at", "timeline"]
    fieldsets = [
        (None, {"fields": [("first_name", "last_name"), "phone", "email"]}),
        ("Work", {"fields": ["status", "next_follow_up", "notes", "agent"]}),
        ("Origin", {"fields": ["batch", "extra", "created_at", "updated_at"]}),
    ]
    inlines = [AssignmentInline]
    actions = ["distribute_selected", "reassign_to", "export_csv"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    # Facet counts are one COUNT per filter choice over the whole list.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Activity timeline", {"fields": ["timeline"], "classes": ["wide"]})]

    @admin.display(description="Newest first")
    def timeline(self, obj):
        """The lead's timeline as the API serves it: an imported lead's "created"
        entry is derived from its batch (``imports.selectors.LeadTimeline``), not
        stored, so this is a read-only table rather than an inline of stored rows."""
        timeline = LeadTimeline(obj)
        empty = self.get_empty_value_display()
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    display_for_value(entry.created_at, empty),
                    entry.get_kind_display(),
                    entry.old_value or empty,
                    entry.new_value or empty,
                    entry.actor or "system",
                )
                for entry in timeline[: timeline.count()]
            ),
        )
        if not rows:
            return "No activity yet."
        return format_html(
            '<table id="lead-timeline"><thead><tr><th>Created at</th><th>Kind</th>'
            "<th>Old value</th><th>New value</th><th>Actor</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def has_delete_permission(self, request, obj=None):
        # Leads leave through "Undo import", which keeps worked leads.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.leads_delete(lead_ids=[obj.pk])  # keeps the dashboard's counters

    def delete_queryset(self, request, queryset):
        services.leads_delete(lead_ids=queryset.values_list("pk", flat=True))

    @admin.display(description="Name", ordering="first_name")
    def name(self, obj):
        return f"{obj.first_name} {obj.last_name}".strip()

    @admin.display(description="Agent", ordering="agent__name")
    def agent_name(self, obj):
        return obj.agent.name if obj.agent_id else "—"

    @admin.display(description="Import", ordering="batch")
    def batch_link(self, obj):
        return f"#{obj.batch_id}" if obj.batch_id else "—"

    def get_search_results(self, request, queryset, search_term):
        # The phone is matched on its normalized (indexed) form, whatever the format typed.
        return search_leads(queryset, search_term), False

    # Writes go through leads.services (fields) and assignments.services (owner).
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = [*_FORM_FIELDS, "extra"]
        if change:
            changes = {name: data[name] for name in form.changed_data if name in fields}
            lead = services.lead_update(lead=obj, actor=request.user, **changes)
        else:
            lead = services.lead_create(actor=request.user, **{name: data[name] for name in fields})
            obj.pk = lead.pk
            obj._state.adding = False
        agent = data.get("agent")
        if agent is not None and (not change or "agent" in form.changed_data):
            reassign(lead_ids=[lead.pk], agent=agent, actor=request.user)

    @admin.action(description="Distribute selected", permissions=["change"])
    def distribute_selected(self, request, queryset):
        with domain_errors(self, request):
            ids = list(queryset.values_list("id", flat=True))
            result = distribute(lead_ids=ids, actor=request.user)
            note = f"{result.assigned} lead(s) distributed"
            if result.unplaced_ids:
                note += f", {len(result.unplaced_ids)} left unassigned (every agent is full)"
            if result.skipped:
                note += f", {len(result.skipped)} skipped (already owned or closed)"
            level = messages.WARNING if result.unplaced_ids else messages.SUCCESS
            self.message_user(request, note + ".", level)

    @admin.action(description="Reassign to…", permissions=["change"])
    def reassign_to(self, request, queryset):
        agents = Agent.objects.filter(is_active=True, user__is_active=True).order_by("name")
        form = ReassignForm(request.POST if "apply" in request.POST else None, agents=agents)
        if "apply" in request.POST and form.is_valid():
            agent = form.cleaned_data["agent"]
            with domain_errors(self, request):
                result = reassign(
                    lead_ids=list(queryset.values_list("id", flat=True)),
                    agent=agent,
                    actor=request.user,
                )
                note = f"{result.assigned} lead(s) reassigned to {agent.name}"
                if result.skipped:
                    note += f", {len(result.skipped)} already theirs"
                self.message_user(request, note + ".", messages.SUCCESS)
            return None
        return intermediate_page(
            self,
            request,
            queryset.select_related("agent"),
            action="reassign_to",
            title="Reassign leads",
            form=form,
            template="admin/leadline/action_form.html",
            extra={"submit_label": "Reassign", "note": "Capacity is respected; history kept."},
        )

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(stream_csv(queryset), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response


@admin.register(LeadActivity)
class LeadActivityAdmin(admin.ModelAdmin):
    list_display = ["created_at", "lead", "kind", "old_value", "new_value", "actor"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["lead", "actor"]
    raw_id_fields = ["lead"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
