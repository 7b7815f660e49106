"""An agent's day on the web app, in a real browser against the live server.

Each test is one flow a person would go through; the harness (conftest.py,
desk.py) fails any of them on a console error, a CSP violation or a token
left in web storage.
"""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from assignments.services import reassign
from leads.models import Lead, LeadActivity, LeadStatus

from .desk import CHROMIUM, PASSWORD, TIME_ZONE, manager_only_chunks, set_access_lifetime

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]

REFRESH = "/api/v1/auth/token/refresh/"
RESET_SENT = "If that email is registered, a reset link is on its way."


@pytest.fixture
def desk_leads(people, make_lead):
    """Asha's three leads (due in 1, 2 and 3 days, created in another order) and
    two of Ravi's."""
    now = timezone.now()

    def lead(agent, first, last, phone, days):
        return make_lead(
            agent=agent,
            first_name=first,
            last_name=last,
            phone=phone,
            next_follow_up=now + timedelta(days=days),
        )

    asha, ravi = people["asha"], people["ravi"]
    return {
        "asha": [
            lead(asha, "Kiran", "Mehta", "+919876500003", 3),
            lead(asha, "Anil", "Shah", "+919876500001", 1),
            lead(asha, "Divya", "Nair", "+919876500002", 2),
        ],
        "ravi": [
            lead(ravi, "Zoya", "Khan", "+919876500011", 1),
            lead(ravi, "Farhan", "Ali", "+919876500012", 2),
        ],
    }


def full_name(lead):
    return f"{lead.first_name} {lead.last_name}".strip()


def lead_rows(page):
    return page.get_by_role("table").locator("tbody").get_by_role("row")


def open_my_leads(desk, email):
    desk.sign_in(email)
    expect(desk.page).to_have_url(re.compile(r"/leads/?$"))
    expect(desk.page.get_by_role("heading", name="My leads", exact=True)).to_be_visible()


def test_agent_signs_in_sees_only_their_leads_and_works_one(desk, people, desk_leads):
    page = desk.page
    asha = people["asha"]

    # The page comes with the production policy: no inline script, no eval.
    policy = page.goto("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy

    # A mistyped password is refused with the contract's message.
    desk.sign_in(asha.email, "not-my-password")
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    assert desk.refresh_cookie() is None
    desk.assert_no_token_stored()

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/leads/?$"))
    expect(page.get_by_role("heading", name="My leads", exact=True)).to_be_visible()

    # The refresh token lives only in the HttpOnly cookie, scoped to the auth paths.
    cookie = desk.refresh_cookie()
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth/"
    desk.assert_no_token_stored()

    # Only her leads, as many as the database holds, soonest follow-up first.
    for header in ("Name", "Phone", "Status", "Next follow-up"):
        expect(page.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Agent", exact=True)).to_have_count(0)
    mine = Lead.objects.filter(agent=asha).order_by("next_follow_up")
    rows = lead_rows(page)
    expect(rows).to_have_count(mine.count())
    for row, lead in zip(rows.all(), mine, strict=True):
        expect(row.get_by_role("link", name=full_name(lead), exact=True)).to_be_visible()
    for lead in desk_leads["ravi"]:
        expect(page.get_by_text(lead.first_name)).to_have_count(0)

    # Open the lead due soonest.
    lead = mine[0]
    page.get_by_role("link", name=full_name(lead), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/?$"))
    expect(page.get_by_role("heading", name=full_name(lead), exact=True)).to_be_visible()
    expect(page.locator(f'a[href="tel:{lead.phone}"]')).to_have_count(1)
    expect(page.get_by_role("link", name="WhatsApp", exact=True)).to_have_attribute(
        "href", f"https://wa.me/{lead.phone.removeprefix('+')}"
    )
    desk.assert_no_token_stored()

    # Change status, notes and the next follow-up (a time in the browser's zone), save.
    page.get_by_label("Status", exact=True).select_option(LeadStatus.CONTACTED.value)
    page.get_by_label("Notes", exact=True).fill("Called: wants a demo on Friday.")
    page.get_by_label("Next follow-up", exact=True).fill("2027-01-08T10:30")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()

    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED
    assert lead.notes == "Called: wants a demo on Friday."
    # 10:30 in Asia/Kolkata (the context's zone) is 05:00 UTC.
    assert lead.next_follow_up == datetime(2027, 1, 8, 5, 0, tzinfo=UTC)
    assert LeadActivity.objects.filter(
        lead=lead, kind=LeadActivity.Kind.STATUS, new_value=LeadStatus.CONTACTED, actor=asha.user
    ).exists()
    activity = activity_section(page)
    expect(activity).to_contain_text(re.compile("contacted", re.IGNORECASE))
    desk.snap("lead-saved")
    desk.assert_no_token_stored()

    # A reload restores the session from the cookie: no new sign-in.
    refreshes = len(desk.answers(REFRESH))
    page.reload()
    expect(page.get_by_role("heading", name=full_name(lead), exact=True)).to_be_visible()
    expect(page.get_by_label("Status", exact=True)).to_have_value(LeadStatus.CONTACTED.value)
    expect(page.get_by_label("Notes", exact=True)).to_have_value("Called: wants a demo on Friday.")
    assert [status for _m, _p, status in desk.answers(REFRESH)[refreshes:]] == [200]
    desk.assert_no_token_stored()

    # The whole session downloaded none of the managers' screens.
    downloaded = desk.script_urls()
    assert downloaded, "no script was recorded"
    assert not downloaded & manager_only_chunks(), downloaded & manager_only_chunks()


def activity_section(page):
    """The "Activity" section (a region named by its heading)."""
    expect(page.get_by_role("heading", name="Activity", exact=True)).to_be_visible()
    return page.get_by_role("region", name="Activity", exact=True)


def test_agent_cannot_open_another_agents_lead_by_url(open_desk, people, desk_leads):
    asha_lead = desk_leads["asha"][0]
    before = Lead.objects.values().get(pk=asha_lead.pk)
    desk = open_desk()
    desk.expected_statuses = {401, 404}
    page = desk.page
    open_my_leads(desk, people["ravi"].email)
    expect(lead_rows(page)).to_have_count(2)

    page.goto(f"/leads/{asha_lead.pk}")
    expect(page.get_by_role("alert")).to_have_text("This lead is no longer assigned to you.")
    expect(page).to_have_url(re.compile(r"/leads/?$"))
    expect(page.get_by_text(asha_lead.first_name)).to_have_count(0)
    assert ("GET", f"/api/v1/leads/{asha_lead.pk}/", 404) in desk.answers("/api/v1/leads/")
    assert Lead.objects.values().get(pk=asha_lead.pk) == before
    desk.assert_no_token_stored()


def test_saving_a_lead_moved_away_meanwhile_returns_to_the_list(open_desk, people, desk_leads):
    desk = open_desk()
    desk.expected_statuses = {401, 404}
    page = desk.page
    asha, ravi = people["asha"], people["ravi"]
    open_my_leads(desk, asha.email)
    lead = Lead.objects.filter(agent=asha).order_by("next_follow_up").first()
    page.get_by_role("link", name=full_name(lead), exact=True).click()
    expect(page.get_by_role("heading", name=full_name(lead), exact=True)).to_be_visible()

    # A manager moves the lead to Ravi while Asha is typing.
    reassign(lead_ids=[lead.pk], agent=ravi)
    page.get_by_label("Notes", exact=True).fill("Asha's note that must not land.")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text("This lead is no longer assigned to you.")
    expect(page).to_have_url(re.compile(r"/leads/?$"))
    expect(lead_rows(page)).to_have_count(2)
    expect(page.get_by_role("link", name=full_name(lead), exact=True)).to_have_count(0)
    lead.refresh_from_db()
    assert lead.agent == ravi and lead.notes == ""


def test_agent_finds_leads_by_phone_status_and_follow_up_view(desk, people, make_lead):
    asha = people["asha"]
    now = timezone.now()
    local_today = now.astimezone(ZoneInfo(TIME_ZONE)).date()
    end_of_day = datetime.combine(local_today, time(23, 59), tzinfo=ZoneInfo(TIME_ZONE))
    make_lead(
        agent=asha,
        first_name="Anil",
        last_name="Shah",
        phone="+919876500001",
        next_follow_up=now - timedelta(days=2),
    )
    make_lead(
        agent=asha,
        first_name="Divya",
        last_name="Nair",
        phone="+919876500002",
        next_follow_up=end_of_day,
    )
    make_lead(
        agent=asha,
        first_name="Kiran",
        last_name="Mehta",
        phone="+919876500003",
        next_follow_up=now + timedelta(days=3),
        status=LeadStatus.CONTACTED,
    )
    page = desk.page
    open_my_leads(desk, asha.email)
    rows = lead_rows(page)
    expect(rows).to_have_count(3)

    def names():
        return [row.get_by_role("link").first.inner_text() for row in rows.all()]

    # The phone as a person types it: national format, spaces.
    page.get_by_label("Search", exact=True).fill("098765 00002")
    expect(rows).to_have_count(1)
    assert names() == ["Divya Nair"]
    page.get_by_label("Search", exact=True).fill("")
    expect(rows).to_have_count(3)

    page.get_by_label("Status filter", exact=True).select_option(LeadStatus.CONTACTED.value)
    expect(rows).to_have_count(1)
    assert names() == ["Kiran Mehta"]
    page.get_by_label("Status filter", exact=True).select_option(label="All statuses")
    expect(rows).to_have_count(3)

    page.get_by_role("link", name="Due today", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]view=due_today"))
    expect(rows).to_have_count(1)
    assert names() == ["Divya Nair"]
    page.get_by_role("link", name="Overdue", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]view=overdue"))
    # One row before and after: wait for the new list, not the count.
    expect(rows.filter(has_text="Anil Shah")).to_have_count(1)
    expect(rows).to_have_count(1)
    assert names() == ["Anil Shah"]
    page.get_by_role("link", name="All", exact=True).click()
    expect(rows).to_have_count(3)
    assert names() == ["Anil Shah", "Divya Nair", "Kiran Mehta"]


def test_work_goes_on_after_the_access_token_expires(desk, people, desk_leads, settings):
    set_access_lifetime(settings, 2)
    page = desk.page
    open_my_leads(desk, people["asha"].email)
    expect(lead_rows(page)).to_have_count(3)
    signed_in_with = set(desk.tokens)
    refreshes = len(desk.answers(REFRESH))

    page.wait_for_timeout(3_000)  # the access token in memory is now expired

    # The next piece of work: open a lead and save it, without signing in again.
    lead = Lead.objects.filter(agent=people["asha"]).order_by("next_follow_up").first()
    page.get_by_role("link", name=full_name(lead), exact=True).click()
    expect(page.get_by_role("heading", name=full_name(lead), exact=True)).to_be_visible()
    page.get_by_label("Notes", exact=True).fill("Still signed in after the token expired.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_have_count(0)

    lead.refresh_from_db()
    assert lead.notes == "Still signed in after the token expired."
    after = desk.answers(REFRESH)[refreshes:]
    assert after, "no refresh call was made"
    assert all(status == 200 for _m, _p, status in after), after
    assert desk.tokens - signed_in_with, "no new access token was used"
    desk.assert_no_token_stored()


def test_another_site_cannot_use_the_refresh_cookie(desk, people, desk_leads):
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    # Refused one way or another: no JSON without a preflight (415), no cookie
    # across sites (401), no web-client header (403).
    desk.expected_statuses = {401, 403, 415}
    page = desk.page
    open_my_leads(desk, people["asha"].email)
    cookie = desk.refresh_cookie()["value"]
    issued, revoked = OutstandingToken.objects.count(), BlacklistedToken.objects.count()
    before = len(desk.answers(REFRESH))

    # A page of another site posts to the refresh endpoint with the browser's
    # cookies, trying the web client's header too (a no-cors request drops it).
    elsewhere = desk.new_page()
    # Another site on this machine: 127.0.0.1 is not the same site as localhost.
    # (A static file: the live server sends it without our CSP, as a foreign
    # page would be, and a loopback page may call a loopback server.)
    elsewhere.goto(
        desk.base_url.replace("//localhost:", "//127.0.0.1:") + "/static/app/favicon.svg"
    )
    elsewhere.evaluate(
        """async (url) => {
          await fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include',
                            headers: {'Content-Type': 'text/plain', 'X-Leadline-Client': 'web'},
                            body: '{}'});
        }""",
        desk.url(REFRESH),
    )
    elsewhere.close()
    attempts = desk.answers(REFRESH)[before:]
    assert attempts and all(status in (401, 403, 415) for _m, _p, status in attempts), attempts

    # Nothing was issued, rotated or revoked: the session goes on untouched.
    assert desk.refresh_cookie()["value"] == cookie
    assert (OutstandingToken.objects.count(), BlacklistedToken.objects.count()) == (issued, revoked)
    page.reload()
    expect(page.get_by_role("heading", name="My leads", exact=True)).to_be_visible()
    expect(lead_rows(page)).to_have_count(3)


def test_sign_out_then_back_shows_the_sign_in_page(desk, people, desk_leads):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    page = desk.page
    asha = people["asha"]
    open_my_leads(desk, asha.email)
    lead = Lead.objects.filter(agent=asha).order_by("next_follow_up").first()
    page.get_by_role("link", name=full_name(lead), exact=True).click()
    expect(page.get_by_role("heading", name=full_name(lead), exact=True)).to_be_visible()
    assert desk.refresh_cookie() is not None

    assert desk.cached_api_urls(), "the service worker cached no list to clear"
    desk.sign_out()
    assert desk.refresh_cookie() is None
    # Nothing of hers stays on the device: the cached list and profile are gone.
    assert desk.cached_api_urls() == []
    # The server revoked the session's refresh token too.
    tokens = OutstandingToken.objects.filter(user=asha.user)
    assert tokens.exists()
    assert not tokens.filter(blacklistedtoken__isnull=True).exists()

    # Back goes to the list the agent saw before the lead: it is not shown again.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/(leads/?)?$"))
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="My leads", exact=True)).to_have_count(0)
    expect(page.get_by_role("table")).to_have_count(0)
    expect(page.get_by_text(lead.first_name)).to_have_count(0)
    assert desk.refresh_cookie() is None
    desk.assert_no_token_stored()


def test_offline_reload_shows_the_cached_list_read_only(desk, people, desk_leads, make_lead):
    page = desk.page
    asha = people["asha"]
    open_my_leads(desk, asha.email)
    expect(lead_rows(page)).to_have_count(3)
    # The service worker is installed and controls the page before the network goes.
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    if not page.evaluate("() => !!navigator.serviceWorker.controller"):
        page.reload()
        expect(lead_rows(page)).to_have_count(3)
    assert page.evaluate("() => !!navigator.serviceWorker.controller")

    # A lead page goes read-only the moment the network drops.
    lead = Lead.objects.filter(agent=asha).order_by("next_follow_up").first()
    page.get_by_role("link", name=full_name(lead), exact=True).click()
    expect(page.get_by_role("heading", name=full_name(lead), exact=True)).to_be_visible()
    desk.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="You are offline")).to_be_visible()
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled()

    # A lead assigned meanwhile cannot appear: the list shown offline is the cached one.
    make_lead(agent=asha, first_name="Newcomer", last_name="Offline", phone="+919876500099")
    page.goto("/leads")
    expect(page.get_by_role("status").filter(has_text="You are offline")).to_be_visible()
    expect(page.get_by_role("heading", name="My leads", exact=True)).to_be_visible()
    expect(lead_rows(page)).to_have_count(3)
    expect(page.get_by_text("Newcomer")).to_have_count(0)
    desk.snap("offline-my-leads")
    page.reload()
    expect(page.get_by_role("status").filter(has_text="You are offline")).to_be_visible()
    expect(lead_rows(page)).to_have_count(3)
    desk.assert_no_token_stored()

    # Back online, the list catches up.
    desk.set_offline(False)
    page.reload()
    expect(lead_rows(page)).to_have_count(4)
    expect(page.get_by_role("status").filter(has_text="You are offline")).to_have_count(0)


def test_unknown_route_shows_page_not_found(desk, people, desk_leads):
    page = desk.page
    open_my_leads(desk, people["asha"].email)
    page.goto("/no/such/screen")
    expect(page.get_by_role("heading", name="Page not found", exact=True)).to_be_visible()
    page.get_by_role("link", name="Go to my leads", exact=True).click()
    expect(page.get_by_role("heading", name="My leads", exact=True)).to_be_visible()
    desk.assert_no_token_stored()


def test_forgotten_password_is_reset_from_the_emailed_link(desk, people, mailoutbox, settings):
    """Forgot password -> the email's link -> a new password -> signed in with it
    (the old one refused), all through the web app."""
    settings.SITE_URL = desk.url("").rstrip("/")
    page = desk.page
    page.goto("/")
    page.get_by_role("link", name="Forgot password", exact=True).click()
    page.get_by_label("Email", exact=True).fill("ASHA@leadline.test")
    page.get_by_role("button", name="Send reset link", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(RESET_SENT)
    (message,) = mailoutbox
    assert message.to == ["asha@leadline.test"]
    link = re.search(r"https?://\S+/set-password\?\S+", message.body).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", name="Set a new password", exact=True)).to_be_visible()
    page.get_by_label("New password", exact=True).fill("a fresh start 42")
    page.get_by_label("Confirm password", exact=True).fill("a fresh start 42")
    page.get_by_role("button", name="Set password", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Your password is set. You can sign in now.")
    people["asha"].user.refresh_from_db()
    assert people["asha"].user.check_password("a fresh start 42")

    # The link is single use (its second use is refused with a 400), and the old
    # password no longer works.
    desk.expected_statuses.add(400)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("another one 4242")
    page.get_by_label("Confirm password", exact=True).fill("another one 4242")
    page.get_by_role("button", name="Set password", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    desk.sign_in("asha@leadline.test")
    expect(page.get_by_role("alert")).to_be_visible()
    desk.sign_in("asha@leadline.test", "a fresh start 42")
    expect(page.get_by_role("heading", name="My leads", exact=True)).to_be_visible()
