"""A pytest plugin for ``pytest -n N``: each xdist worker its own Redis database.

``make test`` runs ``PYTHONPATH=. pytest -n 2 -p config.pytest_workers`` (a ``-p``
plugin is imported before pytest puts the project on ``sys.path``).

``pytest -n 2`` gives every worker its own test database (pytest-django adds
``_gw0``, ``_gw1`` to the name), but the tests also clear the cache before each
test, which on Redis empties the whole logical database, the Celery broker's
queues included. So each worker gets its own Redis database (the configured
one plus the worker's number) and key prefix. This runs before pytest-django
sets Django up, so the settings and any worker process a test starts read it.
"""

import os
import re

import pytest

_DB = re.compile(r"^(?P<head>rediss?://[^/]*)(?:/(?P<db>\d+))?(?P<tail>.*)$")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    number = worker.removeprefix("gw")
    if not number.isdigit():
        return
    url = os.environ.get("REDIS_URL", "")
    match = _DB.match(url)
    if match:
        db = (int(match["db"] or 0) + int(number)) % 16
        os.environ["REDIS_URL"] = f"{match['head']}/{db}{match['tail']}"
    prefix = os.environ.get("CACHE_KEY_PREFIX", "leadline")
    os.environ["CACHE_KEY_PREFIX"] = f"{prefix}-{worker}"
