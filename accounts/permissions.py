"""RBAC for the API. Every view names its permission classes from here."""

from rest_framework.permissions import BasePermission

from .models import Role


class IsAdmin(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.role == Role.ADMIN)


class IsManagerOrAdmin(BasePermission):
    message = "Only managers and admins may do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.role in (Role.ADMIN, Role.MANAGER))


class IsManagerOrAgentReadOnly(BasePermission):
    """Managers and admins do anything; agents only read (their scope is the queryset's)."""

    message = "Only managers and admins may do this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.role in (Role.ADMIN, Role.MANAGER):
            return True
        return user.role == Role.AGENT and request.method in ("GET", "HEAD", "OPTIONS")


class IsLeadOwnerOrManager(BasePermission):
    """Object level: managers see every lead, an agent only the leads it owns now.

    Views also scope their querysets to the agent, so another agent's lead is a
    404 before this runs; this class is the second lock on the same door.
    """

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.role in Role.values)

    def has_object_permission(self, request, view, obj):
        user = request.user
        if user.role in (Role.ADMIN, Role.MANAGER):
            return True
        agent = getattr(user, "agent_profile", None)
        return agent is not None and obj.agent_id == agent.pk
