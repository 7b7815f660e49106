"""What the distribution use cases return, and the refusal they share.

``DistributionResult`` is the answer of ``assignments.services`` (the API
serializes it, the commands and the admin print it); an import's plan is
``assignments.planning.NewLeadsPlan`` instead, whose leads do not exist yet.
``NoEligibleAgent`` is raised by both when nobody can take leads.
"""

from dataclasses import dataclass

from common.errors import DomainError


class NoEligibleAgent(DomainError):
    status = 409
    code = "no_eligible_agent"

    def __init__(self, message="No agent is eligible for leads (active, accepting, not away)."):
        super().__init__(message)


@dataclass(frozen=True)
class DistributionResult:
    """What a distribution did (or, with ``dry_run``, would do)."""

    assigned: int
    unplaced_ids: tuple  # lead ids that fit nowhere (left without an agent)
    per_agent: dict  # agent id -> leads given now, every eligible agent listed
    dry_run: bool
    strategy: str
    skipped: tuple = ()  # requested ids that were not distributable (see each function)
    routing: tuple = ()  # per rule that matched: counts, split, fallback (assignments.routed)


def nothing_done(*, strategy, dry_run=False, skipped=()):
    """The result of a call that found no lead to move."""
    return DistributionResult(
        assigned=0,
        unplaced_ids=(),
        per_agent={},
        dry_run=dry_run,
        strategy=strategy,
        skipped=skipped,
    )
