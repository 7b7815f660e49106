"""Leadline's project package; loading it loads the Celery app (``celery -A config``)."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
