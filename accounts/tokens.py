"""Issuing, rotating and revoking JWTs.

simplejwt signs and parses the tokens; this module adds what Leadline needs on
top: a ``tva`` claim (the user's ``tokens_valid_after`` at issue time, so one
per-user timestamp can end every token at once) and a refresh rotation that is
safe when two requests race with the same refresh token.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from .models import User


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
        token_backend.decode(raw, verify=True)
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
