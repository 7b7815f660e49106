"""Agent emails: canonical form, compared exactly (see accounts 0003).

An agent's email is its login's (``agents.services`` writes both together),
so after accounts 0003 has made every login address canonical and unique,
each agent takes its user's address. That is the canonical form of what it
held, or the ``renamed-…`` address its login got on a collision; an agent
whose address had drifted from its login's is reported on the ``migrate``
output. The column's collation becomes ``utf8mb4_bin`` on MariaDB/MySQL.
"""

from django.db import migrations

import common.emails
from common.emails import normalize_email


def sync_agent_emails(apps, schema_editor):
    alias = schema_editor.connection.alias
    Agent = apps.get_model("agents", "Agent")
    agents = Agent.objects.using(alias)
    moving = [
        (pk, old, new)
        for pk, old, new in agents.values_list("pk", "email", "user__email").order_by("pk")
        if old != new
    ]
    # Two steps, so that no agent ever takes an address another still holds.
    for pk, _old, _new in moving:
        agents.filter(pk=pk).update(email=f"moving-{pk}@migration.invalid")
    for pk, old, new in moving:
        agents.filter(pk=pk).update(email=new)
        if normalize_email(old) != new:
            # Renamed with its login on a collision (accounts 0003), or it had drifted.
            print(  # noqa: T201 - the migrate output is where an operator sees this
                f"\n  agents: agent {pk}: {old!r} is now {new!r}, its login's address"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_canonical_email"),
        ("agents", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="agent",
            name="email",
            field=common.emails.CanonicalEmailField(max_length=254, unique=True),
        ),
        migrations.RunPython(sync_agent_emails, migrations.RunPython.noop, elidable=False),
    ]
