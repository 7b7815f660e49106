"""The imports console: upload → preview → commit, batch pages, error report, undo.

Every step calls ``imports.services`` (the same functions as the API and
``manage.py import_leads``); this module only shows forms and results.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from agents.models import Agent
from assignments.distribution import STRATEGIES
from common.admin import CappedCountPaginator, domain_errors
from common.errors import DomainError
from imports import queueing, services
from leads.exporting import error_report_response
from leads.models import ImportBatch

SHOWN_IN_PREVIEW = 50


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, XLSX or XLS with FirstName, Phone, Notes columns.")
    strategy = forms.ChoiceField(
        choices=[("", "Default")] + [(s, s.replace("_", " ")) for s in STRATEGIES],
        required=False,
    )
    dedupe = forms.ChoiceField(choices=ImportBatch.Dedupe.choices, initial="skip")
    distribute = forms.BooleanField(required=False, initial=True, label="Distribute on commit")
    strict = forms.BooleanField(required=False, label="Strict (any bad row rejects the file)")
    force = forms.BooleanField(required=False, label="Import again even if already imported")


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "file_name",
        "state",
        "rows",
        "created",
        "duplicates",
        "invalid",
        "assigned",
        "unassigned",
        "created_by",
        "created_at",
    ]
    list_display_links = ["id", "file_name"]
    list_filter = ["state", "source", "created_at"]
    search_fields = ["file_name", "sha256"]
    list_select_related = ["created_by"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["undo_selected"]
    change_form_template = "admin/leads/importbatch/batch.html"
    fieldsets = [
        (None, {"fields": ["file_name", "state", "message", "source", "created_by"]}),
        (
            "Counts",
            {
                "fields": [
                    "rows",
                    "created",
                    "updated",
                    "duplicates",
                    "invalid",
                    "assigned",
                    "unassigned",
                ]
            },
        ),
        ("Options", {"fields": ["strategy", "dedupe", "distribute", "strict"]}),
        (
            "When",
            {"fields": ["created_at", "processing_since", "committed_at", "undone_at", "sha256"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def has_delete_permission(self, request, obj=None):
        return False  # "Undo import" removes the leads and keeps the record

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("upload/", wrap(self.upload_view), name=f"{name}_upload"),
            path("<int:pk>/preview/", wrap(self.preview_view), name=f"{name}_preview"),
            path("<int:pk>/commit/", wrap(self.commit_view), name=f"{name}_commit"),
            path("<int:pk>/undo/", wrap(self.undo_view), name=f"{name}_undo"),
            path("<int:pk>/errors.csv", wrap(self.errors_view), name=f"{name}_errors"),
            path("<int:pk>/progress.json", wrap(self.progress_view), name=f"{name}_progress"),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name=f"{name}_cancel"),
            *super().get_urls(),
        ]

    def _url(self, view, batch):
        return reverse(f"admin:leads_importbatch_{view}", args=[batch.pk])

    def _context(self, request, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "has_view_permission": True,
            **extra,
        }

    def add_view(self, request, form_url="", extra_context=None):
        # "Add import batch" is the upload page.
        return HttpResponseRedirect(reverse("admin:leads_importbatch_upload"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        extra = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        if batch is not None:
            extra.update(self._report(batch))
            extra["can_act"] = self.has_change_permission(request, batch)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _report(self, batch):
        names = dict(Agent.objects.values_list("id", "name"))
        plan = [
            {"agent": names.get(int(agent_id), f"agent #{agent_id}"), "count": count}
            for agent_id, count in (batch.per_agent or {}).items()
        ]
        return {
            "batch": batch,
            "plan": sorted(plan, key=lambda row: row["agent"]),
            "import_errors": batch.errors[:SHOWN_IN_PREVIEW],
            "import_duplicates": batch.duplicate_rows[:SHOWN_IN_PREVIEW],
            "shown": SHOWN_IN_PREVIEW,
            "preview_url": self._url("preview", batch),
            "commit_url": self._url("commit", batch),
            "undo_url": self._url("undo", batch),
            "errors_url": self._url("errors", batch),
            "progress_url": self._url("progress", batch),
            "cancel_url": self._url("cancel", batch),
            "progress": queueing.progress_of(batch),
            "running": batch.state in (ImportBatch.State.QUEUED, ImportBatch.State.PROCESSING),
        }

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result, queued = services.upload(
                    file=data["file"],
                    actor=request.user,
                    request_id=getattr(request, "request_id", ""),
                    file_name=data["file"].name,
                    strategy=data["strategy"] or None,
                    dedupe=data["dedupe"],
                    distribute=data["distribute"],
                    strict=data["strict"],
                    force=data["force"],
                    preview=True,
                    source="admin",
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                if queued:  # the batch page follows it with a progress bar
                    return HttpResponseRedirect(self._url("change", result.batch))
                return HttpResponseRedirect(self._url("preview", result.batch))
        context = self._context(request, title="Upload leads", form=form)
        return TemplateResponse(request, "admin/leads/importbatch/upload.html", context)

    def preview_view(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        context = self._context(
            request,
            title=f"Preview of import #{batch.pk}: {batch.file_name}",
            can_act=self.has_change_permission(request, batch),
            **self._report(batch),
        )
        return TemplateResponse(request, "admin/leads/importbatch/preview.html", context)

    def _post_action(self, request, pk, run, done):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = get_object_or_404(ImportBatch, pk=pk)
        if not self.has_change_permission(request, batch):
            raise PermissionDenied
        try:
            result = run(batch)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, done(result), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:leads_importbatch_change", args=[batch.pk]))

    def commit_view(self, request, pk):
        return self._post_action(
            request,
            pk,
            lambda batch: services.request_commit(
                batch=batch, actor=request.user, request_id=getattr(request, "request_id", "")
            ),
            _committed,
        )

    def undo_view(self, request, pk):
        return self._post_action(request, pk, lambda batch: self._undo(request, batch), _undone)

    def _undo(self, request, batch):
        return services.request_undo(
            batch=batch, actor=request.user, request_id=getattr(request, "request_id", "")
        )

    def cancel_view(self, request, pk):
        return self._post_action(
            request,
            pk,
            lambda batch: services.cancel_batch(batch=batch, actor=request.user),
            lambda done: (
                f"Import #{done[0].pk}: stopping at its next chunk; nothing of it will stay."
                if done[1]
                else f"Import #{done[0].pk} cancelled; it is {done[0].state} now."
            ),
        )

    def progress_view(self, request, pk):
        """The batch's state and progress for the page's progress bar (polled)."""
        batch = get_object_or_404(ImportBatch.objects.defer("errors", "duplicate_rows"), pk=pk)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        if batch.state == ImportBatch.State.PROCESSING:
            services.batch_as_it_stands(batch)
        return JsonResponse(
            {
                "state": batch.state,
                "progress": queueing.progress_of(batch),
                "message": batch.message,
            }
        )

    def errors_view(self, request, pk):
        batch = get_object_or_404(ImportBatch.objects.only("id", "errors"), pk=pk)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        return error_report_response(batch)

    @admin.action(description="Undo selected imports", permissions=["change"])
    def undo_selected(self, request, queryset):
        for batch in queryset:
            with domain_errors(self, request):
                self.message_user(request, _undone(self._undo(request, batch)), messages.SUCCESS)


def _committed(done):
    result, queued = done
    if queued:
        return f"Import #{result.batch.pk}: the commit is queued; this page shows its progress."
    return (
        f"Import #{result.batch.pk} committed: {result.batch.created} leads created, "
        f"{result.batch.assigned} assigned, {result.batch.unassigned} unassigned."
    )


def _undone(done):
    result, queued = done
    if queued:
        return f"Import #{result.batch.pk}: the undo is queued; this page shows its progress."
    note = f"Import #{result.batch.pk} undone: {result.removed} leads removed"
    if result.kept:
        note += f", {len(result.kept)} already worked and kept"
    return note + "."
