"""A manager's daily flow on the web app: upload a list, preview, commit."""

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from leads.models import ImportBatch, Lead

from .desk import CHROMIUM, manager_only_chunks

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]

# Eight rows: six new leads, one repeat of the first phone, one phone that is no phone.
LEADS_CSV = (
    "FirstName,LastName,Phone,Notes\n"
    "Aarav,Joshi,098765 22201,wants a demo\n"
    "Diya,Menon,+919876522202,\n"
    "Ishaan,Bose,9876522203,call after 6\n"
    "Kavya,Iyer,9876522204,\n"
    "Rohan,Das,9876522205,\n"
    "Saanvi,Rao,9876522206,\n"
    "Dup,Licate,9876522201,same as line 2\n"
    "Bad,Number,12,not a phone\n"
)


def download(page, link_name):
    """Click a download link; the rows of the CSV file the browser saved."""
    with page.expect_download() as started:
        page.get_by_role("link", name=link_name, exact=True).click()
    saved = Path(started.value.path())
    return list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))


def per_agent_table(page):
    return (
        page.get_by_role("table")
        .filter(has=page.get_by_role("columnheader", name="Agent", exact=True))
        .filter(has=page.get_by_role("columnheader", name="Leads", exact=True))
    )


def assert_per_agent(table, counts):
    """The table lists exactly ``counts`` ({agent name: leads})."""
    rows = table.locator("tbody").get_by_role("row")
    expect(rows).to_have_count(len(counts))
    for name, count in counts.items():
        row = rows.filter(has_text=name)
        expect(row).to_have_count(1)
        expect(row.get_by_role("cell").last).to_have_text(str(count))


def test_manager_uploads_previews_and_commits_a_list(desk, people, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = tmp_path / "june-leads.csv"
    upload.write_text(LEADS_CSV, encoding="utf-8")
    page = desk.page
    asha, ravi = people["asha"], people["ravi"]

    desk.sign_in(people["manager"].email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    desk.assert_no_token_stored()

    page.get_by_role("link", name="Upload", exact=True).click()
    expect(page.get_by_role("heading", name="Upload leads", exact=True)).to_be_visible()
    page.get_by_label("Lead file", exact=True).set_input_files(str(upload))
    page.get_by_role("button", name="Preview", exact=True).click()

    # The preview: what the file holds and who would get how many.
    expect(page.get_by_role("button", name="Commit", exact=True)).to_be_visible()
    batch = ImportBatch.objects.get()
    assert batch.state == ImportBatch.State.PREVIEW
    assert (batch.rows, batch.duplicates, batch.invalid) == (8, 1, 1)
    names = {str(asha.pk): asha.name, str(ravi.pk): ravi.name}
    planned = {names[agent_id]: count for agent_id, count in batch.per_agent.items()}
    assert sum(planned.values()) == 6
    assert_per_agent(per_agent_table(page), planned)
    errors = page.get_by_role("table").filter(has_text="12")
    expect(errors.locator("tbody").get_by_role("row")).to_have_count(1)
    # The errors CSV is an authenticated API answer: the link must still download it.
    rows = download(page, "Download errors CSV")
    assert len(rows) == 2 and "12" in rows[1], rows
    assert Lead.objects.count() == 0
    desk.assert_no_token_stored()

    page.get_by_role("button", name="Commit", exact=True).click()
    expect(page.get_by_role("heading", name="Committed", exact=True)).to_be_visible()
    batch.refresh_from_db()
    assert batch.state == ImportBatch.State.COMMITTED
    assert Lead.objects.count() == 6
    in_db = {
        agent.name: Lead.objects.filter(batch=batch, agent=agent).count() for agent in (asha, ravi)
    }
    assert in_db == planned
    assert_per_agent(per_agent_table(page), in_db)
    desk.assert_no_token_stored()
    # The whole desk as CSV, from the Agents screen: the six new leads.
    page.get_by_role("link", name="Agents", exact=True).click()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    exported = download(page, "Export CSV")
    assert len(exported) == 1 + 6, exported
    assert {"Aarav", "Saanvi"} <= {cell for row in exported for cell in row}

    # The managers' screens are chunks of their own, loaded here (and never by agents).
    assert desk.script_urls() & manager_only_chunks()
