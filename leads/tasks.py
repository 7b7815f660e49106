"""Celery tasks of the leads: big CSV exports written to storage.

A task is an entry point, like a management command: it rebuilds the
export's rows with the API's own filters (``leads.api.export``) for the user
who asked, then calls the one writer (``leads.exporting.export_job_run``).
"""

from celery import shared_task

from common.logging import request_id_var
from leads.models import ExportJob


@shared_task(name="leads.export_leads", acks_late=True, reject_on_worker_lost=True)
def export_leads(*, job_id, request_id=None):
    from leads.api.export import filtered_leads  # the API's filters, for the same rows
    from leads.exporting import export_job_run

    token = request_id_var.set(request_id or "-")
    try:
        job = ExportJob.objects.select_related("created_by").filter(pk=job_id).first()
        if job is None or job.state == ExportJob.State.DONE:
            return
        export_job_run(job, filtered_leads(job.created_by, job.query))
    finally:
        request_id_var.reset(token)
