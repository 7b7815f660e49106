"""RBAC for the API. Every view names its permission classes from here.

The role tests are ``User``'s (``is_admin``, ``is_manager_or_admin``,
``is_agent``); which rows an agent may see is ``visible_to`` on the lead and
assignment querysets.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Role


class IsAdmin(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_admin)


class IsManagerOrAdmin(BasePermission):
    message = "Only managers and admins may do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_manager_or_admin)


class IsManagerOrAgentReadOnly(BasePermission):
    """Managers and admins do anything; agents only read (their scope is the queryset's)."""

    message = "Only managers and admins may do this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.is_manager_or_admin:
            return True
        return user.is_agent and request.method in SAFE_METHODS


class IsLeadOwnerOrManager(BasePermission):
    """Object level: managers see every lead, an agent only the leads it owns now.

    Views also scope their querysets (``Lead.objects.visible_to``), so another
    agent's lead is a 404 before this runs; this class is the second lock on
    the same door, checked on the object already loaded.
    """

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.role in Role.values)

    def has_object_permission(self, request, view, obj):
        user = request.user
        if user.is_manager_or_admin:
            return True
        agent = getattr(user, "agent_profile", None)
        return agent is not None and obj.agent_id == agent.pk
