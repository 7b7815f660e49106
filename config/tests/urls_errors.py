"""The real URLconf plus a few plain Django views under /api/ and outside it.

For ``test_api_errors``: the API's own views are DRF views, CSRF-exempt and
answering JSON; these stand for any future view that is not.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views.decorators.http import require_POST

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as real_urlpatterns


@require_POST
def post_only(request):
    return HttpResponse("ok")


def refuse(request):
    raise PermissionDenied


def bad_request(request):
    return HttpResponseBadRequest("<h1>no</h1>")


def crash(request):
    raise RuntimeError("boom")


# First: the real URLconf ends with the web app's catch-all.
urlpatterns = [
    path("api/test/post-only/", post_only),
    path("api/test/refuse/", refuse),
    path("api/test/bad-request/", bad_request),
    path("api/test/crash/", crash),
    path("plain/post-only/", post_only),
    path("plain/refuse/", refuse),
    *real_urlpatterns,
]
