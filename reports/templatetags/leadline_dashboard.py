"""The admin index dashboard: the cached numbers shaped for CSS bars and an SVG chart."""

from django import template

from leads.models import OPEN_STATUSES, LeadStatus
from reports.selectors import get_dashboard

register = template.Library()

CHART_HEIGHT = 120
SLOT = 22  # px per day: two 8px bars and a gap


@register.simple_tag(takes_context=True)
def leadline_dashboard(context):
    """The dashboard of the signed-in user, or ``None`` without lead access."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("leads.view_lead"):
        return None
    data = get_dashboard(user)
    if data is None:
        return None
    widest = max([row["open"] for row in data["per_agent"]] + [1])
    agents = []
    for row in data["per_agent"]:
        segments = [
            {
                "status": status,
                "label": LeadStatus(status).label,
                "count": row["by_status"][status],
                "width": round(100 * row["by_status"][status] / widest, 2),
            }
            for status in OPEN_STATUSES
        ]
        agents.append({**row, "segments": segments})
    tallest = max([1] + [max(p["created"], p["assigned"]) for p in data["series"]])
    days = []
    for index, point in enumerate(data["series"]):
        created = round(CHART_HEIGHT * point["created"] / tallest)
        assigned = round(CHART_HEIGHT * point["assigned"] / tallest)
        x = index * SLOT
        days.append(
            {
                **point,
                "x_created": x + 2,
                "x_assigned": x + 11,
                "h_created": created,
                "h_assigned": assigned,
                "y_created": CHART_HEIGHT - created,
                "y_assigned": CHART_HEIGHT - assigned,
                "label": point["date"][5:],
                "x_label": x + 19 if index == len(data["series"]) - 1 else x + 11,
                "anchor": "end" if index == len(data["series"]) - 1 else "middle",
                "show_label": index % 5 == 0 or index == len(data["series"]) - 1,
            }
        )
    return {
        **data,
        "agents": agents,
        "days": days,
        "chart_width": SLOT * len(days),
        "chart_height": CHART_HEIGHT,
        "tallest": tallest,
        "legend": [{"status": s, "label": LeadStatus(s).label} for s in OPEN_STATUSES],
    }
