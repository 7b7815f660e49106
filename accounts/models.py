from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone

from common.emails import CanonicalEmailField, normalize_email


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    AGENT = "agent", "Agent"


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        """Django's hook (``AbstractUser.clean``, ``createsuperuser``): the canonical form."""
        return normalize_email(email)

    def get_by_natural_key(self, email):
        return self.get(email=normalize_email(email))

    def _create_user(self, email, password, **fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **fields):
        fields.setdefault("role", Role.AGENT)
        return self._create_user(email, password, **fields)

    def create_superuser(self, email, password=None, **fields):
        fields["role"] = Role.ADMIN
        return self._create_user(email, password, **fields)


class User(AbstractUser):
    """A Leadline login. ``role`` is the one source of truth for API and admin.

    ``is_staff`` and ``is_superuser`` are derived from the role on save, so the
    admin and the API can never disagree about who someone is; the managers'
    group follows the role through ``accounts.signals.keep_role_group``.
    """

    username = None
    # Canonical (``common.emails``) and compared exactly: a lookalike is another address.
    email = CanonicalEmailField("email address", unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    # Every token issued before this instant is refused: bumped on logout,
    # deactivation, role change, password change and restore.
    tokens_valid_after = models.DateTimeField(default=timezone.now)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        self.is_superuser = self.is_admin
        self.is_staff = self.is_manager_or_admin
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "role" in update_fields:
            kwargs["update_fields"] = set(update_fields) | {"is_staff", "is_superuser"}
        super().save(*args, **kwargs)

    @property
    def is_admin(self):
        return self.role == Role.ADMIN

    @property
    def is_manager_or_admin(self):
        return self.role in (Role.ADMIN, Role.MANAGER)

    @property
    def is_agent(self):
        return self.role == Role.AGENT


class AuditLog(models.Model):
    """Who did what, when, from where: written by ``accounts.audit.record``.

    Rows are append-only; ``actor_email`` keeps the name readable after the
    user is gone. Never holds a password or a token.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    target = models.CharField(max_length=255, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "created_at"], name="auditlog_action_created")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}".strip()


class PendingEmail(models.Model):
    """An email the SMTP server did not take while tasks run in-process (no
    worker to retry it): kept here and sent again with backoff
    (``accounts.mail.send_pending``). ``task`` names the email task, ``args``
    its arguments; the row goes once the email is sent or given up."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    attempts = models.PositiveSmallIntegerField(default=1)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.task}{tuple(self.args)} (attempt {self.attempts})"
