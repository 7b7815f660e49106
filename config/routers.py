"""Reads to the replica where that is safe; everything else to the primary.

With ``DATABASE_REPLICA_URL`` set, settings add the "replica" alias and this
router. A read goes to the replica unless one of these holds, in which case it
goes to the primary:

- it runs inside a transaction on the primary (``atomic``/``select_for_update``
  need one consistent view, and the replica may lag);
- the same request (or, outside requests, the same thread) has already
  written: the replica may not have the write yet, and a user must see what
  they just did. ``PrimaryPinMiddleware`` resets this per request;
- it reads who is allowed in (users, tokens, sessions): a deactivation or a
  revocation must take effect at once, not after the replication lag.

Migrations run only on the primary; replication carries the schema.
"""

import contextvars

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

# Reads of these models always go to the primary (see the module docstring).
PRIMARY_ONLY = frozenset(
    {
        "accounts.user",
        "token_blacklist.outstandingtoken",
        "token_blacklist.blacklistedtoken",
        "sessions.session",
    }
)

_pinned = contextvars.ContextVar("leadline_pinned_to_primary", default=False)


def pin_to_primary():
    """Send this request's (or thread's) remaining reads to the primary."""
    _pinned.set(True)


def pinned_to_primary():
    return _pinned.get()


def _replica_usable():
    if REPLICA not in connections.settings:
        return False
    # Under tests a configured replica is a TEST MIRROR of default, i.e. the very
    # same settings: then there is no second database to read from.
    return connections[REPLICA].settings_dict is not connections[DEFAULT_DB_ALIAS].settings_dict


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        if (
            _pinned.get()
            or model._meta.label_lower in PRIMARY_ONLY
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
            or not _replica_usable()
        ):
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same data (one is a copy of the other).
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class PrimaryPinMiddleware:
    """Each request starts unpinned and leaves no pin behind for the next one.

    gthread workers reuse threads, and a context variable lives as long as the
    thread's context, so the reset matters.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _pinned.set(False)
        try:
            return self.get_response(request)
        finally:
            _pinned.reset(token)
