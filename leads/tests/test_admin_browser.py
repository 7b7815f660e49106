"""The operator's day in a real browser: headless Chromium against a live server.

A manager logs in, uploads a CSV on the import page, commits the preview,
filters the leads list by agent and moves those leads with "Reassign to…".
Screenshots of every step land in artifacts/screenshots/ (git-ignored).
"""

import os
from pathlib import Path

import pytest

from accounts.models import Role, User
from agents.services import agent_create
from assignments.models import Assignment, Reason
from leads.models import ImportBatch, Lead

# Playwright's sync API runs an event loop in this thread; the ORM calls made
# here (fixtures, assertions) are still plain synchronous code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "browser-test-password-42"
CSV_FILE = (
    "FirstName,Phone,Notes\n"
    "Aarav,098765 22201,wants a demo\n"
    "Diya,+919876522202,\n"
    "Ishaan,9876522203,call after 6\n"
    "Kavya,9876522204,\n"
    "Rohan,9876522205,\n"
    "Saanvi,9876522206,\n"
    "Dup,9876522201,same as line 2\n"
    "Bad,12,not a phone\n"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@pytest.fixture
def page(browser, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_manager_imports_then_reassigns_in_a_browser(page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    User.objects.create_user(email="lead@example.com", password=PASSWORD, role=Role.MANAGER)
    asha = agent_create(name="Asha Rao", email="asha@example.com", mobile="+919810000001")
    ravi = agent_create(name="Ravi Kumar", email="ravi@example.com", mobile="+919810000002")
    upload = tmp_path / "june-leads.csv"
    upload.write_text(CSV_FILE, encoding="utf-8")

    # Log in as the manager; the index shows the dashboard.
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "lead@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#leadline-dashboard")
    assert page.locator("a[href='/admin/accounts/user/']").count() == 0
    shot(page, "01-dashboard-empty")

    # Upload → preview.
    page.goto(f"{live_server.url}/admin/leads/importbatch/upload/")
    page.set_input_files("#id_file", str(upload))
    page.click("input[name=_upload]")
    page.wait_for_selector("#import-summary")
    assert "8 rows read" in page.inner_text("#import-summary")
    assert "Asha Rao" in page.inner_text("#import-plan")
    assert page.locator("#import-errors tbody tr").count() == 1
    shot(page, "02-import-preview")

    # Commit → batch page.
    page.click("input[name=_commit]")
    page.wait_for_selector(".messagelist")
    assert "6 leads created" in page.inner_text(".messagelist")
    shot(page, "03-import-committed")
    batch = ImportBatch.objects.get()
    assert batch.state == ImportBatch.State.COMMITTED
    assert Lead.objects.filter(agent=asha).count() == 3

    # Filter the leads list by agent.
    page.goto(f"{live_server.url}/admin/leads/lead/?agent__id__exact={asha.pk}")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 3
    shot(page, "04-leads-of-asha")

    # Reassign to… (the intermediate page), then confirm.
    page.check("#action-toggle")
    page.select_option("select[name=action]", "reassign_to")
    page.click("button[name=index]")
    page.wait_for_selector("select#id_agent")
    shot(page, "05-reassign-choose-agent")
    page.select_option("select#id_agent", str(ravi.pk))
    page.click("input[name=apply]")
    page.wait_for_selector(".messagelist")
    assert "3 lead(s) reassigned to Ravi Kumar" in page.inner_text(".messagelist")
    shot(page, "06-reassigned")

    assert Lead.objects.filter(agent=asha).count() == 0
    assert Lead.objects.filter(agent=ravi).count() == 6
    assert Assignment.objects.filter(agent=ravi, reason=Reason.MANUAL).count() == 3

    # The moved lead's page: ownership history and timeline, read-only.
    moved = Lead.objects.filter(agent=ravi, assignments__reason=Reason.MANUAL).first()
    page.goto(f"{live_server.url}/admin/leads/lead/{moved.pk}/change/")
    page.wait_for_selector("#assignments-group")
    history = page.inner_text("#assignments-group")
    assert "Manual reassignment" in history and "Import" in history
    shot(page, "07-lead-history")

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#dash-agents")
    assert "Ravi Kumar" in page.inner_text("#dash-agents")
    shot(page, "08-dashboard-after")
