"""Every role, endpoint and method: who gets in, and who is refused how.

Status codes only; the behaviour behind each door is tested per app. 403 means
"you may not do this at all"; 404 means "not in your scope" (no existence leak).
"""

import pytest

pytestmark = pytest.mark.django_db

ANON, AGENT, MANAGER, ADMIN = "anon", "agent", "manager", "admin"


@pytest.fixture
def world(admin_user, manager, agent, other_agent, make_lead):
    return {
        "users": {ADMIN: admin_user, MANAGER: manager, AGENT: agent.user},
        "agent": agent,
        "other_agent": other_agent,
        "own_lead": make_lead(agent=agent),
        "other_lead": make_lead(agent=other_agent),
    }


def client_for(role, world, auth, api_client):
    return api_client if role == ANON else auth(world["users"][role])


# (method, url template, body, {role: expected status})
MATRIX = [
    ("get", "/api/v1/auth/me/", None, {ANON: 401, AGENT: 200, MANAGER: 200, ADMIN: 200}),
    ("get", "/api/v1/agents/", None, {ANON: 401, AGENT: 403, MANAGER: 200, ADMIN: 200}),
    ("get", "/api/v1/agents/{agent}/", None, {ANON: 401, AGENT: 403, MANAGER: 200, ADMIN: 200}),
    (
        "patch",
        "/api/v1/agents/{agent}/",
        {"weight": 2},
        {ANON: 401, AGENT: 403, MANAGER: 200, ADMIN: 200},
    ),
    ("post", "/api/v1/agents/", {"name": ""}, {ANON: 401, AGENT: 403, MANAGER: 400, ADMIN: 400}),
    (
        "delete",
        "/api/v1/agents/{other_agent}/",
        None,
        {ANON: 401, AGENT: 403, MANAGER: 204, ADMIN: 204},
    ),
    ("get", "/api/v1/leads/", None, {ANON: 401, AGENT: 200, MANAGER: 200, ADMIN: 200}),
    (
        "post",
        "/api/v1/leads/",
        {"first_name": ""},
        {ANON: 401, AGENT: 403, MANAGER: 400, ADMIN: 400},
    ),
    ("get", "/api/v1/leads/{own_lead}/", None, {ANON: 401, AGENT: 200, MANAGER: 200, ADMIN: 200}),
    ("get", "/api/v1/leads/{other_lead}/", None, {ANON: 401, AGENT: 404, MANAGER: 200, ADMIN: 200}),
    (
        "patch",
        "/api/v1/leads/{own_lead}/",
        {"status": "contacted"},
        {ANON: 401, AGENT: 200, MANAGER: 200, ADMIN: 200},
    ),
    (
        "patch",
        "/api/v1/leads/{other_lead}/",
        {"status": "contacted"},
        {ANON: 401, AGENT: 404, MANAGER: 200, ADMIN: 200},
    ),
    (
        "delete",
        "/api/v1/leads/{own_lead}/",
        None,
        {ANON: 401, AGENT: 405, MANAGER: 405, ADMIN: 405},
    ),
    (
        "get",
        "/api/v1/leads/{own_lead}/activity/",
        None,
        {ANON: 401, AGENT: 200, MANAGER: 200, ADMIN: 200},
    ),
    (
        "get",
        "/api/v1/leads/{other_lead}/activity/",
        None,
        {ANON: 401, AGENT: 404, MANAGER: 200, ADMIN: 200},
    ),
    ("get", "/api/v1/assignments/", None, {ANON: 401, AGENT: 200, MANAGER: 200, ADMIN: 200}),
    ("post", "/api/v1/assignments/", {}, {ANON: 401, AGENT: 403, MANAGER: 405, ADMIN: 405}),
]


@pytest.mark.parametrize("role", [ANON, AGENT, MANAGER, ADMIN])
@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _b, _e in MATRIX]
)
def test_access_matrix(world, auth, api_client, role, method, template, body, expected):
    url = template.format(
        agent=world["agent"].pk,
        other_agent=world["other_agent"].pk,
        own_lead=world["own_lead"].pk,
        other_lead=world["other_lead"].pk,
    )
    client = client_for(role, world, auth, api_client)
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == expected[role], (role, method, url, response.content[:300])
    if response.status_code >= 400:
        assert "error" in response.json()


def test_agent_sees_only_own_assignments(world, auth):
    rows = auth(world["agent"]).get("/api/v1/assignments/").json()["results"]
    assert rows and {row["agent"] for row in rows} == {world["agent"].pk}
