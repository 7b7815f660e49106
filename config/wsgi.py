import os

from django.core.wsgi import get_wsgi_application

from config.startup import refuse_bad_configuration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# gunicorn does not run the system checks: a bad configuration stops here.
refuse_bad_configuration()
