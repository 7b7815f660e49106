"""The assignment digest: one email per agent per operation, not one per lead.

The assignment writers (``assignments.writers``) report what they wrote with
``leads_assigned({agent_id: count})``, possibly several times in one
transaction (an import records its assignments chunk by chunk). The counts
are summed per transaction, and one ``agents.tasks.send_assignment_digest``
task is queued when it commits, which sends each agent who wants it
(``Agent.notify_assignments``) one email. A transaction that rolls back (a
failed import, a deadlock retried by ``common.db.retry_on_deadlock``) sends
nothing: its pending digest goes with its commit hooks.
"""

from collections import Counter

from django.db import transaction

from accounts import mail

from .tasks import send_assignment_digest


class _Pending:
    def __init__(self):
        self.counts = Counter()

    def flush(self):
        if self.counts:
            mail.queue(send_assignment_digest, {str(k): v for k, v in sorted(self.counts.items())})


def leads_assigned(counts):
    """Add ``{agent_id: leads}`` to this transaction's digest (queued after commit)."""
    counts = {int(agent_id): int(n) for agent_id, n in counts.items() if n}
    if not counts:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        mail.enqueue(send_assignment_digest, {str(k): v for k, v in counts.items()})
        return
    pending = getattr(connection, "_leadline_digest", None)
    # Still waiting for this transaction's commit? A rollback (of the
    # transaction or of the savepoint that registered it) drops the hook, and
    # after a commit it has run: either way a new digest starts.
    hooks = [hook for _savepoints, hook, _robust in connection.run_on_commit]
    if pending is None or pending.flush not in hooks:
        pending = _Pending()
        connection._leadline_digest = pending
        transaction.on_commit(pending.flush)
    pending.counts.update(counts)
