from django.contrib.auth import authenticate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit, tokens
from common.api import envelope
from common.emails import normalize_email
from common.ratelimit import LOGIN_EMAIL_GROUP, LOGIN_IP_GROUP, rate_limit

from . import web_client
from .serializers import MeOutput, RefreshInput, TokenObtainInput, TokenOutput

_CLIENT_HEADER = OpenApiParameter(
    web_client.CLIENT_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=[web_client.WEB],
    description="`web`: the refresh token travels in the `leadline_refresh` cookie "
    "(HttpOnly, SameSite=Strict, Path=/api/v1/auth/), never in a body. Without it, in JSON.",
)
_REFRESH_COOKIE = OpenApiParameter(
    web_client.REFRESH_COOKIE,
    OpenApiTypes.STR,
    OpenApiParameter.COOKIE,
    description="The web client's refresh token (set by `auth/token/`); used only together "
    "with `X-Leadline-Client: web`, refused (403 `csrf_failed`) without it.",
)


def _set_cookie_header(statuses):
    return OpenApiParameter(
        "Set-Cookie",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=statuses,
        description="For `X-Leadline-Client: web`: the `leadline_refresh` cookie, set "
        "(a new refresh token) or cleared (`Max-Age=0`).",
    )


_REFUSED_401 = OpenApiResponse(
    description="The refresh token is missing, invalid, expired, revoked or already used "
    "(`token_reused`: every token of the user ends). The web client's cookie is cleared."
)
_CSRF_403 = OpenApiResponse(
    description="The `leadline_refresh` cookie without the header `X-Leadline-Client: web`, "
    "or an `Origin` of another site (`csrf_failed`)."
)


def _refused(exc, *, web=False):
    response = Response(envelope(exc.code, exc.message), status=status.HTTP_401_UNAUTHORIZED)
    if web:
        # A dead cookie is dropped, so the web app shows the sign-in page.
        web_client.clear_refresh_cookie(response)
    return response


def _token_response(access, refresh, *, web=False):
    if web:
        response = Response({"access": access})
        web_client.set_refresh_cookie(response, refresh)
    else:
        response = Response({"access": access, "refresh": refresh})
    # Secrets: never stored by caches, never compressed (BREACH).
    response["Cache-Control"] = "no-store"
    response.gzip_exempt = True
    return response


def _client_mode(request):
    """``True`` for the web client (cookie flow), after its origin check."""
    web = web_client.is_web_client(request)
    if web:
        web_client.check_origin(request)
    return web


def _refresh_token(request, data, *, web):
    """The refresh token the request presents: the body's, else (web client) the cookie's."""
    raw = data.validated_data.get("refresh")
    if raw is not None:
        return raw
    if web:
        raw = web_client.cookie_refresh(request)
        if raw is None:
            raise tokens.TokenRefused("not_authenticated", "No refresh token: sign in.")
        return raw
    web_client.refuse_cookie_without_header(request)
    raise exceptions.ValidationError({"refresh": ["This field is required."]})


class TokenObtainView(APIView):
    """Email + password → a refresh token (7 days) and an access token (15 minutes)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenObtainInput,
        parameters=[_CLIENT_HEADER, _set_cookie_header([200])],
        responses={200: TokenOutput, 403: _CSRF_403},
    )
    # The same counters as the admin's login page (accounts.admin_login.refuse_over_limit).
    @rate_limit(LOGIN_IP_GROUP, rate="RATELIMIT_LOGIN_IP", key="ip")
    @rate_limit(LOGIN_EMAIL_GROUP, rate="RATELIMIT_LOGIN_EMAIL", key="email")
    def post(self, request):
        web = _client_mode(request)
        data = TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request, email=data.validated_data["email"], password=data.validated_data["password"]
        )
        if user is None:
            audit.record(
                audit.Action.LOGIN_FAILED,
                target=normalize_email(data.validated_data["email"]),
                request=request,
            )
            # One message for unknown email, bad password and inactive user:
            # the answer must not tell which accounts exist.
            return Response(
                envelope("invalid_credentials", "No active account found with these credentials."),
                status=status.HTTP_401_UNAUTHORIZED,
            )
        refresh, access = tokens.issue_tokens(user)
        audit.record(audit.Action.LOGIN_SUCCEEDED, actor=user, target=user.email, request=request)
        return _token_response(access, refresh, web=web)


class TokenRefreshView(APIView):
    """Rotate a refresh token: the old one is blacklisted, a new pair returned.

    The web client sends ``{}`` and the cookie, and gets the new refresh token
    as the cookie; a refused cookie is cleared.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RefreshInput,
        parameters=[_CLIENT_HEADER, _REFRESH_COOKIE, _set_cookie_header([200, 401])],
        responses={200: TokenOutput, 401: _REFUSED_401, 403: _CSRF_403},
    )
    @rate_limit("refresh", rate="RATELIMIT_REFRESH", key="ip")
    def post(self, request):
        web = _client_mode(request)
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            raw = _refresh_token(request, data, web=web)
            refresh, access = tokens.rotate_refresh(raw)
        except tokens.TokenRefused as exc:
            if exc.code == "token_reused":
                audit.record(audit.Action.TOKEN_REUSED, request=request)
            return _refused(exc, web=web)
        return _token_response(access, refresh, web=web)


class LogoutView(APIView):
    """Blacklist the given refresh token and end the user's access tokens.

    The web client's cookie is cleared, also when its token was already dead (401).
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RefreshInput,
        parameters=[_CLIENT_HEADER, _REFRESH_COOKIE, _set_cookie_header([204, 401])],
        responses={204: None, 401: _REFUSED_401, 403: _CSRF_403},
    )
    def post(self, request):
        web = _client_mode(request)
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            raw = _refresh_token(request, data, web=web)
            user = tokens.blacklist_refresh(raw)
        except tokens.TokenRefused as exc:
            return _refused(exc, web=web)
        tokens.revoke_user_tokens(user)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if web:
            web_client.clear_refresh_cookie(response)
        return response


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeOutput})
    def get(self, request):
        return Response(MeOutput(request.user).data)
