"""Issuing, rotating and revoking JWTs.

simplejwt signs and parses the tokens; this module adds what Leadline needs on
top: a ``tva`` claim (the user's ``tokens_valid_after`` at issue time, so one
per-user timestamp can end every token at once), a refresh rotation that is
safe when two requests race with the same refresh token, and signing-key
rotation (``JWT_SIGNING_KEY_FALLBACKS``: tokens signed with an old key still
verify until they expire).
"""

from datetime import timedelta

import jwt
from django.conf import settings
from django.db import transaction
from django.test.signals import setting_changed
from django.utils import timezone
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt import tokens as simplejwt_tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from .models import User


class KeyRotatingTokenBackend(TokenBackend):
    """simplejwt's backend, verifying with the fallback keys too.

    simplejwt signs and verifies with one key, so changing ``JWT_SIGNING_KEY``
    used to sign everybody out. Here new tokens are signed with the current key
    only, and a token whose signature does not match it is tried against each
    fallback key in turn: tokens issued before a rotation keep working until
    they expire (or the old key is dropped from the fallbacks). Only a bad
    signature moves on to the next key; an expired or malformed token is
    refused at once, exactly as simplejwt refuses it. HMAC keys (HS256) only.
    """

    def __init__(self, *args, fallback_keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fallbacks = [
            TokenBackend(
                self.algorithm,
                key,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                json_encoder=self.json_encoder,
            )
            for key in fallback_keys
        ]

    def decode(self, token, verify=True):
        try:
            return super().decode(token, verify=verify)
        except TokenBackendError as exc:
            if not (verify and _bad_signature(exc)):
                raise
            for fallback in self.fallbacks:
                try:
                    return fallback.decode(token, verify=True)
                except TokenBackendError as again:
                    if not _bad_signature(again):
                        raise
            raise


def _bad_signature(exc):
    return isinstance(exc.__cause__, jwt.InvalidSignatureError)


_backend = None


def token_backend():
    """The process's backend, built from the settings on first use."""
    global _backend
    if _backend is None:
        # Looked up on the module each time: simplejwt replaces the object
        # when SIMPLE_JWT changes (tests), and _forget_backend drops ours.
        api_settings = simplejwt_settings.api_settings
        _backend = KeyRotatingTokenBackend(
            api_settings.ALGORITHM,
            api_settings.SIGNING_KEY,
            api_settings.VERIFYING_KEY,
            api_settings.AUDIENCE,
            api_settings.ISSUER,
            api_settings.JWK_URL,
            api_settings.LEEWAY,
            api_settings.JSON_ENCODER,
            fallback_keys=settings.JWT_SIGNING_KEY_FALLBACKS,
        )
    return _backend


def _forget_backend(*, setting, **kwargs):
    global _backend
    if setting in ("SIMPLE_JWT", "JWT_SIGNING_KEY_FALLBACKS"):
        _backend = None


setting_changed.connect(_forget_backend, dispatch_uid="accounts.tokens.forget_backend")


class _RotatingKeys:
    """Token classes that sign and verify with :func:`token_backend`."""

    @property
    def token_backend(self):
        return token_backend()


class AccessToken(_RotatingKeys, simplejwt_tokens.AccessToken):
    """The API's access token (``SIMPLE_JWT["AUTH_TOKEN_CLASSES"]``)."""

    # simplejwt reads the lifetime once, at import; read here on each use, a
    # changed SIMPLE_JWT (a test's or a live test server's override) applies.
    @property
    def lifetime(self):
        return simplejwt_settings.api_settings.ACCESS_TOKEN_LIFETIME


class RefreshToken(_RotatingKeys, simplejwt_tokens.RefreshToken):
    access_token_class = AccessToken

    @property
    def lifetime(self):
        return simplejwt_settings.api_settings.REFRESH_TOKEN_LIFETIME


class TokenRefused(Exception):
    """The refresh token cannot be used; ``code`` says why."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _stamp(user):
    return user.tokens_valid_after.timestamp()


def token_is_current(payload, user):
    """A token is current when it was issued after the user's last revocation."""
    try:
        return float(payload.get("tva", -1)) >= _stamp(user)
    except (TypeError, ValueError):
        return False


def issue_tokens(user):
    """Return ``(refresh, access)`` strings for ``user``."""
    refresh = RefreshToken.for_user(user)
    refresh["tva"] = _stamp(user)
    refresh["role"] = user.role
    return str(refresh), str(refresh.access_token)


def rotate_refresh(raw):
    """Exchange a refresh token for a new pair; the old one is blacklisted.

    The outstanding row is locked, so of two concurrent refreshes with the same
    token exactly one wins. Presenting an already-rotated token is treated as
    theft: every refresh token of that user is revoked.
    """
    old = _parse_refresh(raw)
    if _is_blacklisted(old["jti"]):
        if not _within_reuse_grace(old["jti"]):
            revoke_user_tokens(User.objects.filter(pk=old.get("user_id")).first())
        raise TokenRefused("token_reused", "Token has already been used.")

    with transaction.atomic():
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=old["jti"]).first()
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise TokenRefused("token_reused", "Token has already been used.")
        user = User.objects.filter(pk=old.get("user_id")).first()
        if user is None or not user.is_active or not token_is_current(old.payload, user):
            raise TokenRefused("token_not_valid", "Token is invalid or expired.")
        BlacklistedToken.objects.create(token=outstanding)
    return issue_tokens(user)


def blacklist_refresh(raw):
    """Blacklist one refresh token (logout). Returns the token's user or None."""
    token = _parse_refresh(raw)
    outstanding = OutstandingToken.objects.filter(jti=token["jti"]).first()
    if outstanding is None:
        raise TokenRefused("token_not_valid", "Token is invalid or expired.")
    BlacklistedToken.objects.get_or_create(token=outstanding)
    return User.objects.filter(pk=token.get("user_id")).first()


def revoke_user_tokens(user):
    """End every access and refresh token ``user`` holds, effective at once."""
    if user is None:
        return
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(tokens_valid_after=now)
    user.tokens_valid_after = now
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=t) for t in outstanding], ignore_conflicts=True
    )


def _parse_refresh(raw):
    """Signature, expiry and type checked; the blacklist is looked at by callers."""
    try:
        token_backend().decode(raw, verify=True)
        token = RefreshToken(raw, verify=False)
    except (TokenError, TokenBackendError) as exc:
        raise TokenRefused("token_not_valid", "Token is invalid or expired.") from exc
    if token.get("token_type") != "refresh" or not token.get("jti"):
        raise TokenRefused("token_not_valid", "Token is invalid or expired.")
    return token


def _is_blacklisted(jti):
    return BlacklistedToken.objects.filter(token__jti=jti).exists()


def _within_reuse_grace(jti):
    """A duplicate arriving just after its twin rotated is a race, not theft.

    ``JWT_REFRESH_REUSE_GRACE_SECONDS`` (default 0: every reuse revokes) lets a
    client that fired two refreshes at once keep the pair the winner got; the
    duplicate itself is still refused.
    """
    grace = settings.JWT_REFRESH_REUSE_GRACE_SECONDS
    if grace <= 0:
        return False
    since = timezone.now() - timedelta(seconds=grace)
    return BlacklistedToken.objects.filter(token__jti=jti, blacklisted_at__gte=since).exists()
