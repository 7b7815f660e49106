"""The admin says "Leadline", not "Django administration"."""

import pytest
from django.contrib import admin
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_login_page_is_leadline():
    page = Client().get("/admin/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>Log in | Leadline admin</title>" in html
    assert '<a href="/admin/">Leadline</a>' in html
    assert "Django administration" not in html and "Django site admin" not in html


def test_the_index_and_every_page_are_leadline(admin_user):
    client = Client()
    client.force_login(admin_user)
    index = client.get("/admin/").content.decode()
    assert "<title>Lead desk | Leadline admin</title>" in index
    assert "Lead desk</h1>" in index
    changelist = client.get("/admin/leads/lead/").content.decode()
    assert "| Leadline admin</title>" in changelist
    assert '<a href="/admin/">Leadline</a>' in changelist
    for html in (index, changelist):
        assert "Django administration" not in html and "Django site admin" not in html


def test_the_apps_register_on_that_site():
    from config.admin import LeadlineAdminSite
    from leads.models import Lead

    assert isinstance(admin.site, LeadlineAdminSite)
    assert admin.site.is_registered(Lead)
