"""Celery tasks of the leads: big CSV exports written to storage.

A task is an entry point, like a management command: it rebuilds the
export's rows with the lead list's own filters (``leads.exporting.filtered_leads``
with the API's ``LeadFilter``) for the user who asked, then calls the one
writer (``leads.exporting.export_job_run``).
"""

from celery import shared_task

from common.errors import DomainError
from common.logging import request_id_var
from leads.api.filters import LeadFilter
from leads.exporting import export_job_fail, export_job_run, filtered_leads
from leads.models import ExportJob


@shared_task(name="leads.export_leads", acks_late=True, reject_on_worker_lost=True)
def export_leads(*, job_id, request_id=None):
    token = request_id_var.set(request_id or "-")
    try:
        job = ExportJob.objects.select_related("created_by").filter(pk=job_id).first()
        if job is None or job.state == ExportJob.State.DONE:
            return
        try:
            leads = filtered_leads(job.created_by, job.query, filterset=LeadFilter)
        except DomainError as exc:
            # Checked when queued; a value that stopped passing since (a deploy changed a
            # filter's choices) fails the job with the reason instead of leaving it queued.
            export_job_fail(job, f"{exc.message} {_fields(exc.fields)}".strip())
            return
        export_job_run(job, leads)
    finally:
        request_id_var.reset(token)


def _fields(errors):
    return "; ".join(f"{name}: {' '.join(map(str, messages))}" for name, messages in errors.items())
