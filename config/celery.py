"""The Celery application: background work (imports, exports, emails).

Workers run ``celery -A config worker``. Tasks live in each app's ``tasks.py``
and are found by autodiscovery; their settings are the ``CELERY_*`` names in
config/settings.py. Import state and progress live in the database, so no
result backend is configured.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("leadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
