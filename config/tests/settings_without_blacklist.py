"""Production settings with a mistake ``accounts.E001`` catches (see test_startup.py):
refresh tokens rotate, but the blacklist app that makes rotation safe is gone."""

from config import settings as _production
from config.settings import *  # noqa: F403

INSTALLED_APPS = [
    app for app in _production.INSTALLED_APPS if app != "rest_framework_simplejwt.token_blacklist"
]
