"""Every distribution path routes through the rules, on the real database."""

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from agents.services import agent_update
from assignments import services
from assignments.models import Assignment, RotationState
from imports.services import commit_batch, import_file
from leads.models import ImportBatch, Lead
from routing import services as routing
from routing.models import BatchRouting

from .helpers import assert_assignment_invariants

pytestmark = pytest.mark.django_db

GULF = [{"field": "phone_country", "op": "in", "value": ["AE", "SA"]}]


@pytest.fixture
def desk(make_agent):
    """Two Arabic speakers in a team, two others only in the default pool."""
    omar, layla = make_agent(name="Omar"), make_agent(name="Layla")
    ravi, anna = make_agent(name="Ravi"), make_agent(name="Anna")
    arabic = routing.team_create(name="Arabic", members=[omar, layla])
    rule = routing.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    return {
        "team": arabic,
        "rule": rule,
        "arabic": {omar.pk, layla.pk},
        "others": {ravi.pk, anna.pk},
    }


def make(n, prefix, start=0, **fields):
    leads = [Lead(first_name=f"L{i}", phone=f"{prefix}{start + i:07d}", **fields) for i in range(n)]
    Lead.objects.bulk_create(leads)
    return list(
        Lead.objects.filter(phone__in=[lead.phone for lead in leads]).values_list("id", flat=True)
    )


def test_distribute_routes_gulf_leads_to_the_team_and_the_rest_to_the_pool(desk, auth, manager):
    gulf = make(6, "+97150")
    india = make(4, "+91981")
    result = services.distribute()
    assert result.assigned == 10
    owners = dict(Lead.objects.values_list("id", "agent_id"))
    assert {owners[i] for i in gulf} == desk["arabic"]
    assert Counter(owners[i] for i in gulf) == Counter(dict.fromkeys(desk["arabic"], 3))
    assert {owners[i] for i in india} <= desk["arabic"] | desk["others"]
    assert result.routing[0]["matched"] == 6
    assert sum(result.routing[0]["per_agent"].values()) == 6
    row = Assignment.objects.get(lead_id=gulf[0])
    assert row.rule_id == desk["rule"].pk and row.team_id == desk["team"].pk
    assert row.explanation == "Rule 1 'Gulf numbers' → team Arabic → round robin"
    fallback = Assignment.objects.get(lead_id=india[0])
    assert fallback.rule_id is None and fallback.team_id is None
    assert fallback.explanation == "No rule matched → fallback: Default pool → round robin"
    # The lead's history in the API says it in words.
    body = auth(manager).get(f"/api/v1/assignments/?lead={gulf[0]}").json()["results"][0]
    assert body["rule"] == {"id": desk["rule"].pk, "name": "Gulf numbers"}
    assert body["team"] == {"id": desk["team"].pk, "name": "Arabic"}
    assert body["explanation"] == "Rule 1 'Gulf numbers' → team Arabic → round robin"
    assert_assignment_invariants()
    # The team has its own cursor row.
    assert RotationState.objects.filter(pool=f"team:{desk['team'].pk}").exists()


def test_a_team_with_no_eligible_member_sends_its_leads_to_the_fallback(desk):
    for agent_id in desk["arabic"]:
        from agents.models import Agent

        agent_update(
            agent=Agent.objects.get(pk=agent_id),
            actor=None,
            away_until=timezone.now() + timedelta(days=1),
        )
    gulf = make(3, "+97150")
    result = services.distribute()
    assert result.assigned == 3
    assert {Lead.objects.get(pk=i).agent_id for i in gulf} <= desk["others"]
    assert result.routing[0]["no_eligible"] is True
    assert result.routing[0]["fallback"] == 3
    row = Assignment.objects.get(lead_id=gulf[0])
    assert row.rule_id == desk["rule"].pk and row.team_id is None
    assert "had no eligible member" in row.explanation


def test_fallback_unassigned_leaves_unmatched_leads_for_a_manager(desk):
    routing.settings_update(fallback="unassigned")
    gulf = make(2, "+97150")
    india = make(3, "+91981")
    result = services.distribute()
    assert result.assigned == 2
    assert set(result.unplaced_ids) == set(india)
    assert not Lead.objects.filter(pk__in=india, agent__isnull=False).exists()
    assert Lead.objects.filter(pk__in=gulf, agent__isnull=False).count() == 2


def test_no_rules_is_todays_behaviour_whatever_the_fallback(make_agent):
    agents = {make_agent().pk for _ in range(3)}
    routing.settings_update(fallback="unassigned")
    make(5, "+91981")
    result = services.distribute()
    assert result.assigned == 5 and result.routing == ()
    assert set(Lead.objects.values_list("agent_id", flat=True)) <= agents
    assert set(Assignment.objects.values_list("route", flat=True)) == {""}


def test_a_leaving_agent_s_leads_go_back_through_the_rules_never_to_them(desk):
    gulf = make(6, "+97150")
    services.distribute()
    omar = min(desk["arabic"])
    from agents.models import Agent

    leaving = Agent.objects.get(pk=omar)
    taken = list(Lead.objects.filter(agent=leaving).values_list("id", flat=True))
    result = services.redistribute_agent(agent=leaving)
    assert result.assigned == len(taken) == 3
    other = (desk["arabic"] - {omar}).pop()
    assert set(Lead.objects.filter(pk__in=gulf).values_list("agent_id", flat=True)) == {other}
    assert_assignment_invariants()


def test_manual_reassignment_bypasses_the_rules_and_says_so(desk):
    gulf = make(1, "+97150")
    ravi = min(desk["others"])
    from agents.models import Agent

    services.reassign(lead_ids=gulf, agent=Agent.objects.get(pk=ravi))
    row = Assignment.objects.get(lead_id=gulf[0], ended_at__isnull=True)
    assert row.agent_id == ravi and row.rule_id is None
    assert row.explanation == "Manual reassignment (rules bypassed)"


def test_sla_moves_keep_to_the_team(desk):
    gulf = make(4, "+97150")
    services.distribute()
    result = services.move_leads_from_owners(lead_ids=gulf)
    assert result.assigned == 4
    for lead in Lead.objects.filter(pk__in=gulf):
        assert lead.agent_id in desk["arabic"]
    rows = Assignment.objects.filter(lead_id__in=gulf, ended_at__isnull=True)
    assert {row.team_id for row in rows} == {desk["team"].pk}
    assert_assignment_invariants()


def test_per_team_fairness_holds_across_three_distributions(desk):
    for start in (0, 100, 200):
        make(5, "+97150", start=start)
        services.distribute()
    counts = Counter(
        Lead.objects.filter(agent__in=desk["arabic"]).values_list("agent_id", flat=True)
    )
    assert sorted(counts.values()) == [7, 8]


def csv(rows, header="FirstName,Phone,City"):
    return io.BytesIO((header + "\n" + "\n".join(rows) + "\n").encode())


def test_per_team_fairness_holds_across_three_uploads_within_capacity(
    desk, make_agent, auth, manager, settings
):
    """Three uploads through the API with two teams (round robin, weighted) and a capped
    agent in the fallback pool: after each one, every team's leads are split within
    one between its members, and no agent holds more open leads than its capacity."""
    settings.IMPORT_CHUNK_ROWS = 4  # several chunks an upload: the cursors carry across them
    pune = routing.team_create(
        name="Pune desk", strategy="weighted", members=[make_agent(name=f"P{i}") for i in range(3)]
    )
    routing.rule_create(
        name="Pune", conditions=[{"field": "extra.City", "op": "eq", "value": "pune"}], team=pune
    )
    capped = make_agent(name="Capped", capacity=1)
    members = {
        desk["team"].pk: desk["arabic"],
        pune.pk: set(pune.members.values_list("pk", flat=True)),
    }
    client = auth(manager)
    # Uneven sizes: a rotation restarting at an upload or a chunk would be off by two.
    sizes = [(5, 4, 6), (7, 8, 6), (9, 5, 7)]  # (Gulf, Pune, unmatched) leads per upload
    for upload, (gulf, in_pune, other) in enumerate(sizes):
        rows = [f"G{i},+971501{upload}{i:05d},Dubai" for i in range(gulf)]
        rows += [f"P{i},+91981{upload}{i:06d},Pune" for i in range(in_pune)]
        rows += [f"X{i},+91982{upload}{i:06d},Delhi" for i in range(other)]
        upload_file = csv(rows)
        upload_file.name = f"upload-{upload}.csv"
        response = client.post("/api/v1/imports/", {"file": upload_file}, format="multipart")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["assigned"] == gulf + in_pune + other, (body["errors"], body["duplicates"])
        for team_id, agent_ids in members.items():
            counts = Counter(
                Assignment.objects.filter(team_id=team_id, ended_at__isnull=True).values_list(
                    "agent_id", flat=True
                )
            )
            assert set(counts) <= agent_ids
            totals = [counts[agent_id] for agent_id in agent_ids]
            assert max(totals) - min(totals) <= 1, (upload, team_id, counts)
        for agent in Agent.objects.filter(capacity__isnull=False):
            assert Lead.objects.open().filter(agent=agent).count() <= agent.capacity
        assert_assignment_invariants()
    done = sum(size[0] for size in sizes), sum(size[1] for size in sizes)
    assert Assignment.objects.filter(team=desk["team"]).count() == done[0]
    assert Assignment.objects.filter(team=pune).count() == done[1]
    assert Lead.objects.filter(agent=capped).count() == 1  # once full, the pool passed it over


def test_an_import_routes_on_a_city_column_and_records_why(desk, manager, make_agent):
    pune = routing.team_create(name="Pune desk", members=[make_agent(name="Priya")])
    routing.rule_create(
        name="Pune", conditions=[{"field": "extra.City", "op": "eq", "value": "pune"}], team=pune
    )
    rows = [f"A{i},+9715012{i:05d},Dubai" for i in range(4)]
    rows += [f"P{i},+9198120{i:05d},PUNE" for i in range(3)]
    rows += [f"X{i},+9198121{i:05d},Delhi" for i in range(2)]
    batch = import_file(file=csv(rows), file_name="leads.csv", actor=manager).batch
    assert batch.state == ImportBatch.State.COMMITTED and batch.assigned == 9
    priya = pune.members.get()
    assert Lead.objects.filter(agent=priya).count() == 3
    assert (
        set(Lead.objects.filter(phone__startswith="+971").values_list("agent_id", flat=True))
        == desk["arabic"]
    )
    rows = Assignment.objects.filter(batch=batch)
    assert rows.count() == 9
    assert rows.filter(team=pune).count() == 3 and rows.filter(team=desk["team"]).count() == 4
    assert rows.filter(rule__isnull=True, route__startswith="No rule matched").count() == 2
    report = BatchRouting.objects.get(batch=batch).report
    assert [entry["matched"] for entry in report] == [4, 3]
    assert_assignment_invariants()


def test_a_preview_s_commit_routes_with_the_rules_as_they_were(desk, manager):
    rows = [f"A{i},+9715012{i:05d},Dubai" for i in range(4)]
    preview = import_file(file=csv(rows), file_name="gulf.csv", actor=manager, preview=True).batch
    assert BatchRouting.objects.get(batch=preview).report[0]["matched"] == 4
    # The rule goes away between preview and commit: the commit still uses it.
    routing.rule_delete(rule=desk["rule"])
    batch = commit_batch(batch=preview, actor=manager).batch
    assert batch.assigned == 4
    assert set(Lead.objects.values_list("agent_id", flat=True)) == desk["arabic"]
    assert set(Assignment.objects.values_list("route", flat=True)) == {
        "Rule 1 'Gulf numbers' → team Arabic → round robin"
    }
    # Its rule row is gone, so the FK is null; the words stay.
    assert not Assignment.objects.filter(rule__isnull=False).exists()


def test_routing_check_prints_the_rules_and_a_file_s_routing(desk, tmp_path, capsys):
    from django.core.management import call_command

    path = tmp_path / "leads.csv"
    path.write_bytes(csv([f"A{i},+9715012{i:05d},Dubai" for i in range(3)]).getvalue())
    call_command("routing_check", str(path))
    out = capsys.readouterr().out
    assert "1. Gulf numbers → team Arabic" in out
    assert "rule 1 'Gulf numbers' → team Arabic: 3 matched" in out
    assert not Lead.objects.exists() and not ImportBatch.objects.exists()
