"""Every screen of the web app: axe-core finds no serious or critical violation,
and each is photographed at desktop (1280x800) and phone (390x844) size into
``artifacts/e2e/`` (git-ignored) for a person to look at."""

import re

import pytest
from playwright.sync_api import expect

from leads.models import ImportBatch, Lead

from .desk import CHROMIUM, DESKTOP, PHONE
from .test_manager_console import LEADS_CSV

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]

SCREENS = 16

# The page, and each scrolling table box, wider than the phone's screen (CSS pixels).
_SIDEWAYS = """() => [document.documentElement, ...document.querySelectorAll('.table-wrap')]
  .filter((box) => box.scrollWidth > box.clientWidth + 1)
  .map((box) => `${box.className || box.tagName}: ${box.scrollWidth} > ${box.clientWidth}`)"""


def test_every_screen_passes_axe_and_is_photographed(
    open_desk, people, make_lead, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    asha, ravi = people["asha"], people["ravi"]
    for n, (first, last) in enumerate([("Anil", "Shah"), ("Divya", "Nair"), ("Kiran", "Mehta")]):
        make_lead(agent=asha, first_name=first, last_name=last, phone=f"+91987650000{n}")
    make_lead(agent=ravi, first_name="Zoya", last_name="Khan", phone="+919876500011")
    lead = Lead.objects.filter(agent=asha).first()
    lead_name = f"{lead.first_name} {lead.last_name}"
    seen, violations, sideways = [], {}, {}

    def screen(desk, name, heading, ready=None):
        """Wait for the screen (its heading, ``ready``, no "Loading…" left), then
        photograph it and run axe at both sizes."""
        page = desk.page
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        if ready is not None:
            expect(ready).to_be_visible()
        loading = page.get_by_role("status").filter(has_text=re.compile(r"^Loading"))
        expect(loading).to_have_count(0)
        page.wait_for_load_state("networkidle")
        seen.append(name)
        desk.snap(f"screen-{len(seen):02d}-{name}")
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            found = desk.run_axe()
            if found:
                violations[f"{name} ({size_name})"] = found
            if size is PHONE:
                # Nothing on a phone should need scrolling sideways (tables become cards).
                wide = page.evaluate(_SIDEWAYS)
                if wide:
                    sideways[name] = wide
        page.set_viewport_size(DESKTOP)
        desk.assert_no_token_stored()

    anonymous = open_desk()
    anonymous.page.goto("/")
    screen(anonymous, "sign-in", "Sign in")
    anonymous.page.get_by_role("link", name="Forgot password", exact=True).click()
    screen(anonymous, "forgot-password", "Forgot password")
    anonymous.page.goto("/set-password?uid=MQ&token=not-a-real-token")
    screen(anonymous, "set-password", "Set a new password")

    agent = open_desk()
    agent.sign_in(asha.email)
    screen(agent, "my-leads", "My leads")
    agent.page.get_by_role("link", name=lead_name, exact=True).click()
    screen(agent, "lead", lead_name)
    agent.page.goto("/no/such/screen")
    screen(agent, "not-found", "Page not found")

    manager = open_desk()
    page = manager.page
    manager.sign_in(people["manager"].email)
    screen(manager, "dashboard", "Dashboard", ready=page.get_by_role("img"))
    page.get_by_role("link", name="Leads", exact=True).click()
    screen(manager, "all-leads", "Leads")
    page.get_by_role("link", name=lead_name, exact=True).click()
    screen(manager, "lead-as-manager", lead_name)
    expect(page.get_by_label("Assign to", exact=True)).to_be_visible()
    page.get_by_role("link", name="Agents", exact=True).click()
    screen(manager, "agents", "Agents")
    page.get_by_role("button", name="New agent", exact=True).click()
    expect(page.get_by_role("button", name="Create agent", exact=True)).to_be_visible()
    screen(manager, "agents-new", "Agents")

    # The upload screen, then a file dropped on it (the drag-and-drop path).
    page.get_by_role("link", name="Upload", exact=True).click()
    screen(manager, "upload", "Upload leads")
    dropped = page.evaluate_handle(
        "(text) => { const data = new DataTransfer();"
        " data.items.add(new File([text], 'june-leads.csv', {type: 'text/csv'}));"
        " return data; }",
        LEADS_CSV,
    )
    zone = page.locator("div", has=page.get_by_label("Lead file", exact=True)).last
    zone.dispatch_event("dragover", {"dataTransfer": dropped})
    zone.dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_text("june-leads.csv")).to_be_visible()
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("button", name="Commit", exact=True)).to_be_visible()
    screen(manager, "upload-preview", "Upload leads")
    page.get_by_role("button", name="Commit", exact=True).click()
    screen(manager, "upload-committed", "Committed")
    batch = ImportBatch.objects.get()
    assert batch.state == ImportBatch.State.COMMITTED and batch.file_name == "june-leads.csv"
    page.get_by_role("link", name="All imports", exact=True).click()
    batch_link = page.get_by_role("link", name="june-leads.csv", exact=True)
    screen(manager, "imports", "Imports", ready=batch_link)
    batch_link.click()
    screen(manager, "import", f"Import #{batch.pk}")

    assert len(seen) == SCREENS
    assert not violations, violations
    assert not sideways, sideways
