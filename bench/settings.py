"""Production settings plus the benchmark's bare view (``bench/urls.py``).

Only ``bench/api_bench.py`` runs gunicorn with these settings.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
