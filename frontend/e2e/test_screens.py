"""Every screen of the web app: axe-core finds no serious or critical violation,
and each is photographed at desktop (1280x800) and phone (390x844) size into
``artifacts/e2e/`` (git-ignored) for a person to look at."""

import pytest
from playwright.sync_api import expect

from leads.models import Lead

from .desk import CHROMIUM, DESKTOP, PHONE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]


def test_every_screen_passes_axe_and_is_photographed(open_desk, people, make_lead, artifacts):
    asha, ravi = people["asha"], people["ravi"]
    for n, (first, last) in enumerate([("Anil", "Shah"), ("Divya", "Nair"), ("Kiran", "Mehta")]):
        make_lead(agent=asha, first_name=first, last_name=last, phone=f"+91987650000{n}")
    make_lead(agent=ravi, first_name="Zoya", last_name="Khan", phone="+919876500011")
    lead = Lead.objects.filter(agent=asha).first()
    shots, violations = [], {}

    def screen(desk, name, heading):
        page = desk.page
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            path = artifacts / f"{len(shots) // 2 + 1:02d}-{name}-{size_name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)
            found = desk.run_axe()
            if found:
                violations[f"{name} ({size_name})"] = found
        page.set_viewport_size(DESKTOP)
        desk.assert_no_token_stored()

    anonymous = open_desk()
    anonymous.page.goto("/")
    screen(anonymous, "sign-in", "Sign in")
    anonymous.page.get_by_role("link", name="Forgot password", exact=True).click()
    screen(anonymous, "forgot-password", "Forgot password")

    agent = open_desk()
    agent.sign_in(asha.email)
    screen(agent, "my-leads", "My leads")
    agent.page.get_by_role("link", name=f"{lead.first_name} {lead.last_name}", exact=True).click()
    screen(agent, "lead", f"{lead.first_name} {lead.last_name}")
    agent.page.goto("/no/such/screen")
    screen(agent, "not-found", "Page not found")

    manager = open_desk()
    manager.sign_in(people["manager"].email)
    screen(manager, "dashboard", "Dashboard")
    manager.page.get_by_role("link", name="Leads", exact=True).click()
    screen(manager, "all-leads", "Leads")
    manager.page.get_by_role("link", name="Upload", exact=True).click()
    screen(manager, "upload", "Upload leads")
    manager.page.get_by_role("link", name="Agents", exact=True).click()
    screen(manager, "agents", "Agents")
    manager.page.get_by_role("button", name="New agent", exact=True).click()
    expect(manager.page.get_by_role("button", name="Create agent", exact=True)).to_be_visible()
    screen(manager, "agents-new", "Agents")

    assert len(shots) == 2 * 10
    assert not violations, violations
