"""Phone normalization in a worker process.

Imports nothing that needs Django set up (the region is always passed in), so a
``forkserver`` or ``spawn`` child can run it without loading the project.
"""

from common.phones import InvalidPhone, normalize_phone


def normalize_many(raws, region):
    """Return ``({raw: e164}, {raw: message})`` for each distinct raw string."""
    good, bad = {}, {}
    for raw in raws:
        try:
            good[raw] = normalize_phone(raw, region)
        except InvalidPhone as exc:
            bad[raw] = str(exc)
    return good, bad
