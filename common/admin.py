"""Pieces the admin console shares: error translation (for actions and for the
change form), intermediate action pages, a paginator that never counts a whole
table."""

from contextlib import contextmanager

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.utils.functional import cached_property

from common.errors import DomainError


@contextmanager
def domain_errors(modeladmin, request):
    """Turn a service's ``DomainError`` into an error message on the admin page."""
    try:
        yield
    except DomainError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)


class ServiceChangeFormMixin:
    """For a ModelAdmin whose ``save_model`` calls a service instead of saving.

    A service refuses with ``DomainError`` (an agent over capacity, ...). On the
    change form that becomes an error message and a return to the list, as the
    same refusal does in an action, instead of a server error; the admin runs
    the save in one transaction, so nothing of the refused change is kept.
    """

    def changeform_view(self, request, *args, **kwargs):
        try:
            return super().changeform_view(request, *args, **kwargs)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self.response_post_save_change(request, None)


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows, so a changelist over 200,000 leads stays cheap.

    ``COUNT(*)`` over the whole (filtered) table on every page view is what
    makes big admin lists slow; counting a ``LIMIT``-ed subquery reads at most
    ``CAP + 1`` index entries. Past the cap the list says "more than" and
    offers the first ``CAP`` rows' pages: filter or search to go further.
    """

    CAP = 10_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.capped = False

    @cached_property
    def count(self):
        counted = self.object_list[: self.CAP + 1].count()
        self.capped = counted > self.CAP
        return min(counted, self.CAP)


def intermediate_page(modeladmin, request, queryset, *, action, title, form, template, extra=None):
    """Render a "choose, then confirm" page for an action (as ``delete_selected`` does).

    The page posts back to the changelist with the same action and selection
    plus ``apply``, where the action runs for real.
    """
    select_across = request.POST.get("select_across", "0")
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "action": action,
        "select_across": select_across,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "count": queryset.count(),
        "objects": queryset[:20],
        "media": modeladmin.media + form.media,
        **(extra or {}),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)
