import os

from django.core.asgi import get_asgi_application

from config.startup import refuse_bad_configuration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()
# ASGI servers do not run the system checks: a bad configuration stops here.
refuse_bad_configuration()
