"""What each role may do in the admin, as Django permissions.

Admins are superusers (derived from ``User.role``) and need no grants. Agents
are not staff, so the admin sends them to its login page. Managers are staff
whose permissions come from one group, "Managers", kept in step with the table
below by ``setup_roles`` (run by ``manage.py setup_roles`` and after every
``migrate``) and joined/left by ``sync_role_group`` whenever a user's role is
saved. Nothing here grants anything on users or groups: a manager cannot see
logins, change roles or make anyone an admin.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .models import Role, User

MANAGER_GROUP = "Managers"

# "app_label.model" -> the actions managers may take. Leads and agents are
# never deleted from the console (deactivate an agent, undo an import);
# history (assignments, activity) and the rotation cursor are read-only.
MANAGER_PERMISSIONS = {
    "agents.agent": ("view", "add", "change"),
    "leads.lead": ("view", "add", "change"),
    "leads.importbatch": ("view", "add", "change"),
    "leads.leadactivity": ("view",),
    "assignments.assignment": ("view",),
    "assignments.rotationstate": ("view",),
    # Teams and routing rules (issue #15): the desk's managers run them.
    "routing.team": ("view", "add", "change", "delete"),
    "routing.routingrule": ("view", "add", "change", "delete"),
    "routing.routingsettings": ("view", "add", "change"),
    "routing.batchrouting": ("view",),
}


def _codenames():
    wanted = set()
    for label, actions in MANAGER_PERMISSIONS.items():
        app_label, model = label.split(".")
        wanted.update((app_label, f"{action}_{model}") for action in actions)
    return wanted


def _tables_ready(using):
    tables = set(connections[using].introspection.table_names())
    needed = {Group._meta.db_table, Permission._meta.db_table, User._meta.db_table}
    return needed <= tables


@transaction.atomic
def setup_roles(*, using=DEFAULT_DB_ALIAS):
    """Create or update the "Managers" group and put exactly the managers in it.

    Idempotent: permissions not in ``MANAGER_PERMISSIONS`` are removed from the
    group, users whose role is no longer manager leave it. Returns the group.
    """
    # Permissions are normally created by auth's post_migrate handler, one app
    # at a time; creating them here makes the result independent of app order.
    for label in {label.split(".")[0] for label in MANAGER_PERMISSIONS}:
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using)
    wanted = _codenames()
    perms = [
        perm
        for perm in Permission.objects.using(using).select_related("content_type")
        if (perm.content_type.app_label, perm.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in perms}
    if missing:
        raise RuntimeError(f"Permissions not found: {sorted(missing)}")
    group, _ = Group.objects.using(using).get_or_create(name=MANAGER_GROUP)
    group.permissions.set(perms)
    members = User.groups.through.objects.using(using)
    members.filter(group=group).exclude(user__role=Role.MANAGER).delete()
    current = set(members.filter(group=group).values_list("user_id", flat=True))
    members.bulk_create(
        [
            members.model(user_id=user_id, group_id=group.pk)
            for user_id in User.objects.using(using)
            .filter(role=Role.MANAGER)
            .values_list("id", flat=True)
            if user_id not in current
        ]
    )
    return group


def sync_role_group(user):
    """Put ``user`` in the managers' group if its role is manager, take it out otherwise."""
    using = user._state.db or DEFAULT_DB_ALIAS
    if user.role != Role.MANAGER:
        User.groups.through.objects.using(using).filter(
            user_id=user.pk, group__name=MANAGER_GROUP
        ).delete()
        return
    group = Group.objects.using(using).filter(name=MANAGER_GROUP).first()
    if group is None:
        group = setup_roles(using=using)  # first manager before any migrate ran it
    user.groups.add(group)


def setup_roles_after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    """post_migrate handler: keep the group in step after every ``migrate`` (and test flush)."""
    if _tables_ready(using):
        setup_roles(using=using)
