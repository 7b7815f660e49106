# ruff: noqa: S603 - the test runs the server's start-up in a fresh interpreter
"""gunicorn's ``post_worker_init`` hides the loaded application from full collections.

A full garbage collection walked the ~120,000 objects Django, DRF and the URLconf
leave behind (60-67 ms on the bench machine, paid by the request that triggered
it). The hook freezes them; requests' own garbage is still collected.
"""

import json
import subprocess
import sys
from pathlib import Path

from config.tests.test_startup import BASE_DIR, _production_env

GUNICORN_CONF = Path(BASE_DIR) / "config" / "gunicorn.conf.py"

_WORKER = f"""
import gc, json, runpy, weakref
import config.wsgi
from django.urls import get_resolver
before = len(gc.get_objects())
runpy.run_path({str(GUNICORN_CONF)!r})["post_worker_init"](None)
tracked = len(gc.get_objects())
views_loaded = "leads.api.views" in __import__("sys").modules

class Node:
    pass

gc.disable()  # only the full collection below may find them
refs = []
for _ in range(1000):
    a, b = Node(), Node()
    a.other, b.other = b, a
    refs.append(weakref.ref(a))
del a, b
alive_before = sum(ref() is not None for ref in refs)
gc.collect()
alive_after = sum(ref() is not None for ref in refs)
print(json.dumps(dict(before=before, frozen=gc.get_freeze_count(), tracked=tracked,
                      views_loaded=views_loaded, alive_before=alive_before,
                      alive_after=alive_after)))
"""


def test_the_worker_freezes_the_loaded_app_and_still_collects_new_garbage():
    run = subprocess.run(
        [sys.executable, "-c", _WORKER],
        cwd=BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    # Everything loaded at start-up, the views included, is out of the collector's way.
    assert seen["views_loaded"]
    assert seen["frozen"] >= seen["before"] * 0.9
    assert seen["tracked"] < seen["frozen"] / 20
    # Cycles made after the freeze are still found by a full collection.
    assert seen["alive_before"] == 1000
    assert seen["alive_after"] == 0
