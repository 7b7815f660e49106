from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit, services, tokens
from agents.services import agent_update
from common.api import envelope
from common.emails import normalize_email
from common.errors import DomainError
from common.ratelimit import LOGIN_EMAIL_GROUP, LOGIN_IP_GROUP, rate_limit

from .serializers import (
    DetailOutput,
    MeOutput,
    MeUpdateInput,
    PasswordResetConfirmInput,
    PasswordResetConfirmOutput,
    PasswordResetInput,
    RefreshInput,
    TokenObtainInput,
    TokenPairOutput,
)


def _refused(exc):
    return Response(envelope(exc.code, exc.message), status=status.HTTP_401_UNAUTHORIZED)


def _token_response(access, refresh):
    response = Response({"access": access, "refresh": refresh})
    # Secrets: never stored by caches, never compressed (BREACH).
    response["Cache-Control"] = "no-store"
    response.gzip_exempt = True
    return response


class TokenObtainView(APIView):
    """Email + password → a refresh token (7 days) and an access token (15 minutes)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenObtainInput, responses={200: TokenPairOutput})
    # The same counters as the admin's login page (accounts.admin_login.refuse_over_limit).
    @rate_limit(LOGIN_IP_GROUP, rate="RATELIMIT_LOGIN_IP", key="ip")
    @rate_limit(LOGIN_EMAIL_GROUP, rate="RATELIMIT_LOGIN_EMAIL", key="email")
    def post(self, request):
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
        return _token_response(access, refresh)


class TokenRefreshView(APIView):
    """Rotate a refresh token: the old one is blacklisted, a new pair returned."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshInput, responses={200: TokenPairOutput})
    @rate_limit("refresh", rate="RATELIMIT_REFRESH", key="ip")
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refresh, access = tokens.rotate_refresh(data.validated_data["refresh"])
        except tokens.TokenRefused as exc:
            if exc.code == "token_reused":
                audit.record(audit.Action.TOKEN_REUSED, request=request)
            return _refused(exc)
        return _token_response(access, refresh)


class LogoutView(APIView):
    """Blacklist the given refresh token and end the user's access tokens."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshInput, responses={204: None})
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = tokens.blacklist_refresh(data.validated_data["refresh"])
        except tokens.TokenRefused as exc:
            return _refused(exc)
        tokens.revoke_user_tokens(user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeOutput})
    def get(self, request):
        return Response(MeOutput(request.user).data)

    @extend_schema(request=MeUpdateInput, responses={200: MeOutput})
    def patch(self, request):
        """The signed-in agent's own email preference (``notify_assignments``)."""
        data = MeUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if data.validated_data:
            profile = getattr(request.user, "agent_profile", None)
            if profile is None:
                message = "Only an agent profile receives assignment emails."
                raise DomainError(
                    message, code="validation_error", fields={"notify_assignments": [message]}
                )
            agent_update(agent=profile, actor=request.user, **data.validated_data)
            request.user.refresh_from_db()
        return Response(MeOutput(request.user).data)


# Accepted whether or not an account has the address: the answer names none.
RESET_ACCEPTED = (
    "If an active account uses this address, a link to set a new password is on its way."
)


class PasswordResetView(APIView):
    """Ask for a password-reset email. The same 202 whether the address is known or not."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=PasswordResetInput, responses={202: DetailOutput})
    @rate_limit("password-reset-ip", rate="RATELIMIT_PASSWORD_RESET_IP", key="ip")
    @rate_limit("password-reset-email", rate="RATELIMIT_PASSWORD_RESET_EMAIL", key="email")
    def post(self, request):
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response({"detail": RESET_ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(APIView):
    """Set a new password with the ``uid`` and ``token`` of an emailed link (reset or invitation).

    Every refresh and access token the user held ends. A used, expired or
    altered link is a 400 naming ``uid`` or ``token``; a weak password a 400
    naming ``password``.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=PasswordResetConfirmInput, responses={200: PasswordResetConfirmOutput})
    @rate_limit("password-reset-confirm", rate="RATELIMIT_PASSWORD_RESET_CONFIRM", key="ip")
    def post(self, request):
        data = PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.password_reset_confirm(**data.validated_data, request=request)
        response = Response({"email": user.email})
        response["Cache-Control"] = "no-store"
        return response
