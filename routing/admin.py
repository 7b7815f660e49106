"""The routing console: teams, ordered rules, the fallback, explain, dry run.

Rules are saved through ``routing.services`` (the API's functions), so the
same validation refuses the same input; the conditions are edited as JSON
and checked by ``routing.matching.validate_conditions``.
"""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from assignments.explaining import dry_run_batch, explain
from common.admin import ServiceChangeFormMixin
from common.errors import DomainError
from leads.models import ImportBatch

from . import services
from .models import RoutingRule, RoutingSettings, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "strategy", "member_count"]
    list_filter = ["active", "strategy"]
    search_fields = ["name"]
    autocomplete_fields = ["members"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("members")

    @admin.display(description="members")
    def member_count(self, team):
        return len(team.members.all())

    def delete_model(self, request, obj):
        services.team_delete(team=obj)


class RuleForm(forms.ModelForm):
    position = forms.IntegerField(
        required=False, min_value=1, help_text="Empty: last. The others shift to make room."
    )
    conditions = forms.JSONField(
        required=False,
        initial=list,
        help_text='A list of {"field", "op", "value"}: field phone_country, status, source, '
        "email_domain or extra.&lt;Column&gt;; op eq, in (a list), contains, startswith, "
        'empty. Example: [{"field": "phone_country", "op": "in", "value": ["AE", "SA"]}]',
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
    )

    class Meta:
        model = RoutingRule
        fields = ["name", "position", "active", "conditions", "team", "agent"]

    def clean_conditions(self):
        try:
            conditions = self.cleaned_data.get("conditions")
            # An empty box is "no conditions"; {} or "" typed in it is not a list.
            return services.clean_conditions([] if conditions is None else conditions)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        data = super().clean()
        if bool(data.get("team")) == bool(data.get("agent")):
            raise forms.ValidationError("Choose exactly one target: a team or an agent.")
        return data


@admin.register(RoutingRule)
class RoutingRuleAdmin(ServiceChangeFormMixin, admin.ModelAdmin):
    form = RuleForm
    list_display = ["position", "name", "active", "target", "conditions_text"]
    list_display_links = ["name"]
    list_filter = ["active"]
    list_select_related = ["team", "agent"]
    search_fields = ["name"]
    ordering = ["position", "id"]
    autocomplete_fields = ["team", "agent"]
    change_list_template = "admin/routing/routingrule/change_list.html"

    @admin.display(description="target")
    def target(self, rule):
        return f"team {rule.team.name}" if rule.team_id else f"agent {rule.agent.name}"

    @admin.display(description="conditions")
    def conditions_text(self, rule):
        if not rule.conditions:
            return "every lead"
        return " and ".join(
            f"{c['field']} {c['op']}" + ("" if c["op"] == "empty" else f" {json.dumps(c['value'])}")
            for c in rule.conditions
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {
            "name": data["name"],
            "conditions": data["conditions"],
            "team": data.get("team"),
            "agent": data.get("agent"),
            "active": data["active"],
            "position": data.get("position") or None,
        }
        if change:
            saved = services.rule_update(rule=obj, **fields)
        else:
            saved = services.rule_create(**fields)
        obj.pk = saved.pk
        obj.position = saved.position

    def delete_model(self, request, obj):
        services.rule_delete(rule=obj)

    def get_urls(self):
        return [
            path("explain/", self.admin_site.admin_view(self.explain_view), name="routing_explain"),
            path("dry-run/", self.admin_site.admin_view(self.dry_run_view), name="routing_dry_run"),
            *super().get_urls(),
        ]

    def _page(self, request, template, **context):
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.model._meta, **context},
        )

    def explain_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ExplainForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            result = explain(lead=form.lead())
        return self._page(
            request,
            "admin/routing/explain.html",
            title="Explain routing for a sample lead",
            form=form,
            result=result,
        )

    def dry_run_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = (
            ImportBatch.objects.filter(state=ImportBatch.State.COMMITTED).order_by("-id").first()
        )
        result = dry_run_batch(batch=batch) if batch is not None else None
        return self._page(
            request,
            "admin/routing/dry_run.html",
            title="Dry run of the rules against the last batch",
            batch=batch,
            result=result,
        )


class ExplainForm(forms.Form):
    phone = forms.CharField(max_length=32, required=False, help_text="E.164, e.g. +971501234567")
    email = forms.CharField(max_length=254, required=False)
    source = forms.CharField(max_length=255, required=False, help_text="file name or source")
    extra = forms.JSONField(
        required=False,
        help_text='Other columns, e.g. {"City": "Dubai"}',
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def clean_extra(self):
        extra = self.cleaned_data.get("extra") or {}
        if not isinstance(extra, dict):
            raise forms.ValidationError('Expected an object such as {"City": "Dubai"}.')
        return {str(k): "" if v is None else str(v) for k, v in extra.items()}

    def lead(self):
        return {
            "phone": self.cleaned_data["phone"],
            "email": self.cleaned_data["email"],
            "source": self.cleaned_data["source"],
            "extra": self.cleaned_data["extra"],
        }


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(admin.ModelAdmin):
    list_display = ["fallback", "updated_at"]
    fields = ["fallback"]

    # No "exists" check in has_add_permission: it would cost a query on every admin
    # page (the sidebar asks). Adding again just updates the one row (pk 1).

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.settings_update(fallback=form.cleaned_data["fallback"])
        obj.pk = saved.pk
