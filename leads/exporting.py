"""Lead exports (CSV and XLSX) for ``manage.py export_leads``, the API and the admin.

Rows are read in primary-key chunks (keyset pagination), so memory stays flat
whatever the table size: MySQL's client library would otherwise buffer a
whole result set. Every text cell is neutralized against spreadsheet formula
injection.
"""

import csv
import io
import re
import tempfile
from itertools import chain, islice

from django.core.files import File
from django.http import HttpResponse, QueryDict
from django.utils import timezone

from common.errors import DomainError
from common.phones import looks_like_e164
from leads.models import ExportJob, Lead
from leads.selectors import LEAD_LIST_FIELDS, search_leads

CHUNK_SIZE = 2000


def _same_as_api(*names):
    return {name: LEAD_LIST_FIELDS[name] for name in names}


# Export header -> values() path. Where a column is one of the API's lead fields
# (``LEAD_LIST_FIELDS``) it takes that field's path, so the two cannot drift.
# The export differs on purpose where a spreadsheet is the reader: the agent is
# its email (what ``export_leads --agent`` takes) instead of id and name, the
# batch column is headed ``batch_id``, ``extra`` (a JSON object) is left out,
# the column order is the export's own (existing sheets rely on it), and every
# value is neutralized against formulas (``neutralize``).
COLUMNS = {
    **_same_as_api("id", "first_name", "last_name", "phone", "email", "status"),
    "agent_email": "agent__email",
    "batch_id": LEAD_LIST_FIELDS["batch"],
    **_same_as_api("next_follow_up", "notes", "created_at", "updated_at"),
}
HEADER = list(COLUMNS)
_FIELDS = list(COLUMNS.values())
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralize(value):
    """Text a spreadsheet will show as text, never evaluate.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR would be read as
    a formula (CSV injection), so it gets a leading ``'``, except a plain
    number (``-12.5``) or an E.164 phone (``+919876543210``), which are data
    and must survive a round trip intact.
    """
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text.startswith(_FORMULA_START) and not (_NUMBER.match(text) or looks_like_e164(text)):
        return "'" + text
    return text


def iter_rows(queryset, *, chunk_size=CHUNK_SIZE):
    """The export rows of ``queryset`` (already neutralized), in id order."""
    rows = queryset.order_by("id").values_list(*_FIELDS)
    last_id = 0
    while True:
        chunk = list(rows.filter(id__gt=last_id)[:chunk_size])
        if not chunk:
            return
        for row in chunk:
            yield [neutralize(value) for value in row]
        if len(chunk) < chunk_size:
            return
        last_id = chunk[-1][0]


class _Echo:
    """A file-like whose ``write`` returns the line, for streaming responses."""

    def write(self, value):
        return value


def _csv_lines(rows):
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(HEADER)
    for row in rows:
        yield writer.writerow(row)


def stream_csv(queryset):
    """Yield the CSV export of ``queryset`` line by line (UTF-8 with a BOM for Excel)."""
    return _csv_lines(iter_rows(queryset))


def started_csv_stream(queryset):
    """``stream_csv`` with the first chunk of rows already read, for a streamed response.

    A ``StreamingHttpResponse`` sends its 200 and headers before its first
    line, so anything raised while reading rows after that can only cut the
    download short. Reading the first chunk here runs the export's query, as
    the database will run it for every chunk (later chunks differ only in the
    id they start after), before the response exists: a query the database
    refuses is still an error answer, not a truncated file.
    """
    rows = iter_rows(queryset)
    first = list(islice(rows, 1))
    return _csv_lines(chain(first, rows))


def write_csv(queryset, fileobj):
    """Write the CSV export of ``queryset`` to a text file; returns the row count."""
    count = -1
    for count, line in enumerate(stream_csv(queryset)):  # noqa: B007
        fileobj.write(line)
    return max(count, 0)


def write_xlsx(queryset, path):
    """Write the export as an XLSX file (openpyxl write-only: rows are not kept)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Leads")
    sheet.append(HEADER)
    count = 0
    for row in iter_rows(queryset):
        sheet.append(row)
        count += 1
    workbook.save(path)
    return count


ERROR_REPORT_COLUMNS = ("line", "column", "value", "message")


def error_report_response(batch):
    """An import batch's error report as a CSV download, formulas neutralized."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.csv"'
    writer = csv.writer(response)
    writer.writerow(ERROR_REPORT_COLUMNS)
    for entry in batch.errors:
        writer.writerow([neutralize(entry.get(key, "")) for key in ERROR_REPORT_COLUMNS])
    return response


# --- Big exports as jobs (a worker writes the file; ``leads.tasks``) -----------


def filtered_leads(user, query, *, filterset):
    """The leads ``user`` may export, filtered by ``query`` (a query string as a
    dict of lists) as the lead list filters them: ``filterset`` (the list's
    FilterSet, passed in by the entry point) and its ``search``.

    The worker's side of a queued export: its query was checked by the request
    that queued it, so a value that no longer passes is an error of the job.
    """
    data = QueryDict(mutable=True)
    for key, values in (query or {}).items():
        data.setlist(key, values)
    filters = filterset(data=data, queryset=Lead.objects.visible_to(user))
    if not filters.is_valid():
        raise DomainError(
            "The export's filters are not valid.", code="validation_error", fields=filters.errors
        )
    return search_leads(filters.qs, data.get("search", ""))


def export_job_create(*, user, query, rows_total, request_id=""):
    """Register a big export of ``user``'s leads filtered by ``query`` (the
    export's query string, as a dict of lists); a worker writes it."""
    return ExportJob.objects.create(
        created_by=user, query=query, rows_total=rows_total, request_id=(request_id or "")[:64]
    )


def export_job_fail(job, message, *, now=None):
    """Mark ``job`` failed with ``message``: its owner sees why, and it is never retried."""
    ExportJob.objects.filter(pk=job.pk).update(
        state=ExportJob.State.FAILED, message=message, finished_at=now or timezone.now()
    )


def export_job_run(job, queryset, *, now=None):
    """Write ``job``'s CSV (``queryset``, its rows) to the default storage.

    Idempotent: a job that is done already is left alone; a second run after a
    worker died writes the file again from the start (the file name is the
    job's, so the older partial one is replaced).
    """
    if job.state == ExportJob.State.DONE:
        return job
    ExportJob.objects.filter(pk=job.pk).update(state=ExportJob.State.PROCESSING)
    try:
        with tempfile.TemporaryFile("w+b") as spool:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
            rows = write_csv(queryset, text)
            text.flush()
            text.detach()
            spool.seek(0)
            if job.file:
                job.file.delete(save=False)
            job.file.save(f"leads-export-{job.pk}.csv", File(spool), save=False)
    except Exception as exc:
        export_job_fail(job, f"The export failed ({type(exc).__name__}).", now=now)
        raise
    job.rows = rows
    job.state = ExportJob.State.DONE
    job.finished_at = now or timezone.now()
    job.save(update_fields=["file", "rows", "state", "finished_at"])
    return job
