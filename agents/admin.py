from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone

from agents import services
from assignments.services import agent_deactivate, redistribute_agent
from common.admin import ServiceChangeFormMixin, domain_errors, intermediate_page
from common.phones import InvalidPhone, normalize_phone
from leads.selectors import agents_with_open_counts

from .models import Agent

# Fields the service may change (is_active moves only through the actions).
_EDITABLE = [
    "name", "email", "mobile", "accepts_leads", "away_until", "weight", "capacity",
    "notify_assignments",
]  # fmt: skip


class AwayUntilForm(forms.Form):
    away_until = forms.DateTimeField(
        required=False,
        label="Away until",
        help_text="Leave empty to mark them back now. Format: 2026-12-24 18:00.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
    )


class AgentForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Leave empty to invite: the agent gets an email with a link to set their "
            "password, and cannot log in until they do."
        ),
    )

    class Meta:
        model = Agent
        fields = _EDITABLE

    def clean_mobile(self):
        # The same normalizer the service uses, so uniqueness and errors are
        # judged on the stored E.164 value.
        try:
            return normalize_phone(self.cleaned_data["mobile"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc


class AwayFilter(admin.SimpleListFilter):
    title = "availability"
    parameter_name = "away"

    def lookups(self, request, model_admin):
        return [("yes", "Away now"), ("no", "Available")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(away_until__gt=now)
        if self.value() == "no":
            return queryset.filter(Q(away_until__isnull=True) | Q(away_until__lte=now))
        return queryset


@admin.register(Agent)
class AgentAdmin(ServiceChangeFormMixin, admin.ModelAdmin):
    form = AgentForm
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
    list_filter = ["is_active", "accepts_leads", AwayFilter]
    search_fields = ["name", "email", "mobile"]
    readonly_fields = ["user", "is_active", "created_at", "updated_at"]
    actions = [
        "deactivate_and_redistribute",
        "activate",
        "mark_away",
        "redistribute_leads",
        "send_invitation",
    ]

    def get_queryset(self, request):
        return agents_with_open_counts()

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*_EDITABLE, "password"]
        return ["user", *_EDITABLE, "is_active", "created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # history points at agents: deactivate instead

    @admin.display(description="Open leads", ordering="open_leads")
    def open_leads(self, obj):
        return obj.open_leads

    # Writes go through agents.services, like the API's.
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in _EDITABLE}
            services.agent_update(agent=obj, actor=request.user, **changes)
            return
        created = services.agent_create(
            **{name: data[name] for name in _EDITABLE},
            password=data.get("password") or None,
            actor=request.user,
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the saved row.
        obj.pk, obj.user_id, obj.email, obj.mobile = (
            created.pk,
            created.user_id,
            created.email,
            created.mobile,
        )
        obj._state.adding = False

    @admin.action(description="Deactivate and redistribute their leads", permissions=["change"])
    def deactivate_and_redistribute(self, request, queryset):
        for agent in queryset:
            with domain_errors(self, request):
                result = agent_deactivate(agent=agent, actor=request.user)
                self.message_user(
                    request,
                    f"{agent.name} deactivated: {result.assigned} leads moved to other agents, "
                    f"{len(result.unplaced_ids)} left unassigned.",
                    messages.WARNING if result.unplaced_ids else messages.SUCCESS,
                )

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        names = []
        for agent in queryset:
            with domain_errors(self, request):
                services.agent_activate(agent=agent, actor=request.user)
                names.append(agent.name)
        if names:
            self.message_user(request, f"Activated: {', '.join(names)}.", messages.SUCCESS)

    @admin.action(description="Mark away until…", permissions=["change"])
    def mark_away(self, request, queryset):
        form = AwayUntilForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            until = form.cleaned_data["away_until"]
            for agent in queryset:
                with domain_errors(self, request):
                    services.agent_update(agent=agent, actor=request.user, away_until=until)
            when = f"away until {until:%Y-%m-%d %H:%M}" if until else "back"
            self.message_user(request, f"{queryset.count()} agent(s) marked {when}.")
            return None
        return intermediate_page(
            self,
            request,
            queryset,
            action="mark_away",
            title="Mark agents away",
            form=form,
            template="admin/leadline/action_form.html",
            extra={"note": "Distribution skips an agent until this time; their leads stay."},
        )

    @admin.action(description="Redistribute this agent's leads", permissions=["change"])
    def redistribute_leads(self, request, queryset):
        for agent in queryset:
            with domain_errors(self, request):
                result = redistribute_agent(agent=agent, actor=request.user)
                self.message_user(
                    request,
                    f"{agent.name}: {result.assigned} open leads moved to other agents, "
                    f"{len(result.unplaced_ids)} left unassigned.",
                    messages.WARNING if result.unplaced_ids else messages.SUCCESS,
                )

    @admin.action(description="Send a new invitation email", permissions=["change"])
    def send_invitation(self, request, queryset):
        names = []
        for agent in queryset:
            with domain_errors(self, request):
                services.agent_invite(agent=agent, actor=request.user)
                names.append(agent.name)
        if names:
            self.message_user(request, f"Invitation sent to: {', '.join(names)}.", messages.SUCCESS)
