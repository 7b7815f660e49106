"""Login emails: canonical form, compared exactly.

1. The column becomes a ``CanonicalEmailField``. On MariaDB/MySQL that alters
   its collation to ``utf8mb4_bin`` (the field asks for it per connection; on
   SQLite, whose text comparison is already binary, nothing changes but
   Django's table rebuild). Binary is stricter than ``utf8mb4_unicode_ci``, so
   the unique index accepts every existing row.
2. Every stored address is rewritten in its canonical form
   (``common.emails.normalize_email``). Two rows whose addresses become the
   same cannot both keep it: the row already in canonical form keeps it
   (otherwise the oldest row), the others are renamed to
   ``renamed-<id>@collision.invalid`` (the ``.invalid`` name can never be
   delivered or registered) and reported, on the ``migrate`` output and as an
   ``email_renamed`` audit entry with the old and new address, so an admin can
   contact the person and give them an address of their own. Nothing is
   deleted and no migration fails on a collision.

Reversing restores the table's default collation (``migrate`` refuses then if
two rows differ only in case or accents, as the old index would); the
addresses stay canonical.
"""

from collections import defaultdict

from django.db import migrations

import common.emails
from common.emails import normalize_email


def _placeholder(pk, taken):
    candidate, n = f"renamed-{pk}@collision.invalid", 1
    while candidate in taken:
        n += 1
        candidate = f"renamed-{pk}-{n}@collision.invalid"
    return candidate


def canonical_plan(rows):
    """``[(pk, old, new, collided)]`` that leaves every ``(pk, email)`` row canonical and unique.

    Renames come first, so no update ever meets a value another row still holds.
    """
    groups = defaultdict(list)
    for pk, email in sorted(rows):
        groups[normalize_email(email)].append((pk, email))
    taken = set(groups)
    renames, normalizations = [], []
    for canonical, members in groups.items():
        keeper = next((m for m in members if m[1] == canonical), members[0])
        for pk, email in members:
            if pk == keeper[0]:
                continue
            new = _placeholder(pk, taken)
            taken.add(new)
            renames.append((pk, email, new, True))
        if keeper[1] != canonical:
            normalizations.append((keeper[0], keeper[1], canonical, False))
    return renames + normalizations


def canonicalize_user_emails(apps, schema_editor):
    alias = schema_editor.connection.alias
    User = apps.get_model("accounts", "User")
    AuditLog = apps.get_model("accounts", "AuditLog")
    users = User.objects.using(alias)
    for pk, old, new, collided in canonical_plan(users.values_list("pk", "email")):
        users.filter(pk=pk).update(email=new)
        if not collided:
            continue
        print(  # noqa: T201 - the migrate output is where an operator sees this
            f"\n  accounts: user {pk}: {old!r} collides with another login once normalized; "
            f"renamed to {new!r}"
        )
        AuditLog.objects.using(alias).create(
            action="email_renamed",
            target=f"user:{pk}",
            data={"old": old, "new": new, "reason": "collision after normalization"},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auditlog"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="email",
            field=common.emails.CanonicalEmailField(
                max_length=254, unique=True, verbose_name="email address"
            ),
        ),
        migrations.RunPython(canonicalize_user_emails, migrations.RunPython.noop, elidable=False),
    ]
