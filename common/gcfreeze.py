"""Keep a served process's start-up objects out of the garbage collector's full passes."""

import gc


def freeze_loaded_app():
    """Load the URLconf, collect once, then freeze what is left; returns the frozen count.

    Called once the WSGI application exists (gunicorn's ``post_worker_init``).
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on first use
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
