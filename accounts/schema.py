"""OpenAPI description of Leadline's JWT authentication (drf-spectacular)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class LeadlineJWTScheme(SimpleJWTScheme):
    target_class = "accounts.api.authentication.JWTAuthentication"
    name = "jwtAuth"
