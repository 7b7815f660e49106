"""Fixtures for the distribution tests."""

import itertools

import pytest

from leads.models import Lead

_phones = itertools.count(1)


@pytest.fixture
def make_leads(db):
    """``make_leads(n, **fields)`` → n unassigned leads (bulk inserted), in id order."""

    def make(n, **fields):
        leads = [
            Lead(first_name=f"Bulk{i}", phone=f"+9190{next(_phones):08d}", **fields)
            for i in range(n)
        ]
        Lead.objects.bulk_create(leads, batch_size=1000)
        phones = [lead.phone for lead in leads]
        return list(Lead.objects.filter(phone__in=phones).order_by("id"))

    return make
