"""Chunks written without a dedupe lookup until one meets an existing lead (MariaDB's bulk path).

On MariaDB an import loads its chunks with ``LOAD DATA LOCAL`` without first
asking which phones exist: the unique phone index answers. When it turns a row
away, the chunk is rolled back to a savepoint, looked up and written again. The
result must be exactly what the looking-up path (SQLite, or ``IMPORT_LOAD_DATA``
off) makes of the same file: the same leads, duplicates, agents, teams and counters.
"""

import io
from collections import Counter

import pytest
from django.db import DatabaseError, transaction

from agents.models import Agent
from assignments.models import Assignment
from assignments.tests.helpers import assert_assignment_invariants
from imports import writers
from imports.services import import_file
from leads import counters
from leads.models import ImportBatch, Lead
from routing import services as routing

pytestmark = pytest.mark.django_db


class _Undo(Exception):
    pass


def upload(rows, actor, name="leads.csv"):
    text = "FirstName,Phone,City\n" + "\n".join(rows) + "\n"
    return import_file(file=io.BytesIO(text.encode()), file_name=name, actor=actor)


def outcome_of(rows, actor):
    """What the import makes of ``rows``: its counts and every new lead's agent and team."""
    batch = upload(rows, actor).batch
    leads = Lead.objects.filter(batch=batch)
    teams = dict(Assignment.objects.filter(batch=batch).values_list("lead__phone", "team_id"))
    return {
        "counts": (batch.state, batch.rows, batch.created, batch.duplicates, batch.assigned),
        "duplicate_rows": batch.duplicate_rows,
        "per_agent": batch.per_agent,
        "agents": dict(leads.values_list("phone", "agent_id")),
        "teams": teams,
        "differences": counters.differences(counters.stored_tally(), counters.recount_tally()),
    }


def both_paths(rows, actor, settings):
    """The same import looked up row by row (INSERT path) and guessed (the default),
    from the same starting point: the first is rolled back before the second runs."""
    settings.IMPORT_LOAD_DATA = False
    with pytest.raises(_Undo), transaction.atomic():
        looked_up = outcome_of(rows, actor)
        raise _Undo
    settings.IMPORT_LOAD_DATA = True
    return looked_up, outcome_of(rows, actor)


def rows_of(count, start=0):
    cities = ["Pune", "Delhi", "Dubai"]
    return [f"P{n},+9198{n:08d},{cities[n % 3]}" for n in range(start, start + count)]


def test_existing_leads_met_mid_file_are_duplicates_and_the_rotation_holds(
    manager, make_agent, make_lead, settings
):
    settings.IMPORT_CHUNK_ROWS = 10  # chunks of 2, 10, 10, 10, 10, 3 rows
    agents = [make_agent() for _ in range(5)]
    taken = [make_lead(phone="+919800000017"), make_lead(phone="+919800000040", agent=agents[1])]
    looked_up, guessed = both_paths(rows_of(45), manager, settings)
    assert guessed == looked_up
    assert guessed["counts"] == (ImportBatch.State.COMMITTED, 45, 43, 2, 43)
    assert [row["duplicate_of"] for row in guessed["duplicate_rows"]] == [
        f"lead {lead.pk}" for lead in taken
    ]
    assert sorted(Counter(guessed["agents"].values()).values()) == [8, 8, 9, 9, 9]
    assert guessed["differences"] == []
    assert_assignment_invariants()
    assert Lead.objects.count() == 45


def test_a_routed_import_meeting_existing_leads_keeps_each_team_s_rotation(
    manager, make_agent, make_lead, settings
):
    """The guessed chunk's plan moved the teams' cursors before the phone index turned
    a row away: they are put back, so every lead goes where the lookup path sends it."""
    settings.IMPORT_CHUNK_ROWS = 4
    pune = routing.team_create(name="Pune", members=[make_agent() for _ in range(3)])
    gulf = routing.team_create(
        name="Gulf", strategy="weighted", members=[make_agent(weight=n + 1) for n in range(2)]
    )
    routing.rule_create(
        name="Pune", conditions=[{"field": "extra.City", "op": "eq", "value": "Pune"}], team=pune
    )
    routing.rule_create(
        name="Dubai", conditions=[{"field": "extra.City", "op": "eq", "value": "Dubai"}], team=gulf
    )
    for _ in range(2):
        make_agent()  # the default pool's own
    make_lead(phone="+919800000009")
    make_lead(phone="+919800000022")
    looked_up, guessed = both_paths(rows_of(31), manager, settings)
    assert guessed == looked_up
    assert guessed["counts"][2:] == (29, 2, 29)
    assert Counter(guessed["teams"].values()) == {pune.pk: 10, gulf.pk: 10, None: 9}
    assert_assignment_invariants()


def test_a_file_of_new_leads_is_never_looked_up(manager, make_agent, settings, monkeypatch):
    settings.IMPORT_CHUNK_ROWS = 10
    for _ in range(3):
        make_agent()
    lookups = []
    real = writers.existing_leads

    def counted(phones, **kwargs):
        lookups.append(len(phones))
        return real(phones, **kwargs)

    monkeypatch.setattr(writers, "existing_leads", counted)
    result = upload(rows_of(25), manager)
    assert (result.batch.created, result.batch.assigned) == (25, 25)
    # Only MariaDB's bulk path can let the unique index do the lookup.
    assert lookups == ([] if writers.load_data_possible() else [2, 10, 10, 3])


def test_a_phone_taken_after_the_lookup_still_rolls_the_import_back(
    manager, make_agent, make_lead, settings, monkeypatch
):
    """The phone index turns a row away, and the lookup that follows does not see the
    lead either (another import wrote it meanwhile): the import fails and leaves nothing."""
    settings.IMPORT_CHUNK_ROWS = 10
    for _ in range(3):
        make_agent()
    taken = make_lead(first_name="Taken", phone="+919800000017")
    real = writers.existing_leads

    def blind(phones, **kwargs):
        found = real(phones, **kwargs)
        found.pop(taken.phone, None)  # as if it was written after this lookup
        return found

    monkeypatch.setattr(writers, "existing_leads", blind)
    with pytest.raises(DatabaseError):
        upload(rows_of(35), manager)
    assert list(Lead.objects.values_list("pk", flat=True)) == [taken.pk]
    assert not Assignment.objects.exists()
    batch = ImportBatch.objects.get()
    assert (batch.state, batch.created, batch.assigned) == (ImportBatch.State.FAILED, 0, 0)
    assert counters.differences(counters.stored_tally(), counters.recount_tally()) == []
    assert Agent.objects.count() == 3
