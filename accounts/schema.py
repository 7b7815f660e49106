"""OpenAPI description of Leadline's API beyond what drf-spectacular infers.

``LeadlineJWTScheme`` describes the JWT authentication. ``LeadlineAutoSchema``
(``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to every operation the error
answers it can give, each in the one envelope ``common.api`` writes
(``{"error": {"code", "message", "fields"}}``), so that a client (and the
schemathesis run in ``.ci/run``) finds every status it can receive documented,
with its body's shape:

- 401, 429 and 503: any operation (token checked on every request, throttles
  everywhere, database or limiter down);
- 403: any operation a role can be refused (not ``auth/me/``: any signed-in
  user may read it), and those that declare it (the cookie flow's
  ``csrf_failed``);
- 400: any operation with query parameters or a request body (and writes,
  whose services refuse with a 400 ``DomainError``);
- 404: any operation on ``{id}``, and the paginated lists (a page past the
  last one);
- 413 and 415: any operation with a request body;
- 409: the operations in ``CONFLICT_OPERATIONS``;
- 405 (``DELETE /leads/{id}/``), and any other error status a view declares
  with ``extend_schema(responses={code: None})``, gets the envelope as body.

Response components list every field an answer always holds as ``required``
(``_require_response_fields``; a field that can be ``null`` stays ``nullable``),
the paginated wrappers too (``require_paginated_fields``, a post-processing
hook), so a client typed from the schema needs no casts; a serializer names
the fields its answers may leave out in ``optional_in_response``.

Query parameters get ``allowEmptyValue``: an empty value (``?agent=``) is read
as "not given" by every list (``common.filtering``). A view that parses JSON
documents a JSON body only: the form encodings the default parsers also read
cannot carry its types (a JSON integer id, ``null``, a nested ``extra``), so a
client following the schema never sends them; file uploads, whose views parse
only multipart, document multipart. A request serializer that refuses unknown
fields (``unknown_fields_refused = True``) says so with
``additionalProperties: false``. A text field of a request body states what DRF's
``CharField`` refuses: a NUL character, and (unless blank is allowed) a value
that is empty once leading and trailing whitespace is trimmed.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated

from common.filtering import NO_NUL_PATTERN


class LeadlineJWTScheme(SimpleJWTScheme):
    target_class = "accounts.api.authentication.JWTAuthentication"
    name = "jwtAuth"


# Operations whose service can refuse with a 409 (``common.errors.Conflict``,
# ``NoEligibleAgent``): the state of the desk, not the request, is in the way.
CONFLICT_OPERATIONS = {
    "v1_distribute_create": "no eligible agent",
    "v1_agents_redistribute_create": "no other eligible agent",
    "v1_reassign_create": "over the agent's capacity",
    "v1_imports_create": "the same file is already imported (duplicate_file)",
    "v1_imports_commit_create": "the batch is not a preview any more",
    "v1_imports_undo_create": "the batch cannot be undone",
    "v1_imports_cancel_create": "nothing queued or running to cancel",
    "v1_imports_discard_create": "the batch is not a preview",
    "v1_agents_invite_create": "the agent has set a password already, or is deactivated",
}

# The characters ``str.strip()`` removes (those with ``str.isspace()``), spelled
# out because ``\s`` means a slightly different set in ECMA-262 regular expressions.
_WHITESPACE = r"\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK_PATTERN = rf"^[^\u0000]*[^\u0000{_WHITESPACE}][^\u0000]*$"

ERROR_DESCRIPTIONS = {
    400: "Invalid input; `fields` names each parameter or field and what is wrong with it.",
    401: "Not signed in, or the credentials or token are invalid, expired or revoked.",
    403: "Signed in, but this role may not do this.",
    404: "No such object (or not one this user may see), or a page past the last one.",
    405: "This method is not allowed here.",
    409: "The current state refuses the change; nothing was changed.",
    413: "The request body is too large.",
    415: "Unsupported media type (Content-Type), or a file of an unsupported type.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    503: "The database or the rate limiter is unavailable; retry after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}

ERROR_ENVELOPE = {
    "type": "object",
    "description": "Every error answer of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "A stable reason, e.g. `validation_error`, `not_found`, "
                    "`throttled`, `no_eligible_agent`.",
                },
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Per field or query parameter, its messages (a list of "
                    "strings, or an object for nested input); empty when no field is to blame.",
                    "additionalProperties": {},
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}


def _require_response_fields(schema, serializer):
    """Every field an answer always holds is ``required`` (``null`` stays ``nullable``).

    drf-spectacular marks a response field required only when the serializer
    would require it as input, so a model field with a default or ``blank=True``
    (``Lead.status``, ``Lead.notes``, ...) looked optional, and a typed client
    had to check for ``undefined`` fields that are always there. A serializer
    whose answers leave a field out names it in ``optional_in_response``.
    """
    optional = set(getattr(serializer, "optional_in_response", ()))
    required = sorted(name for name in schema.get("properties", {}) if name not in optional)
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return schema


def require_paginated_fields(result, generator, request, public):
    """``POSTPROCESSING_HOOKS``: a page always holds ``next`` and ``previous`` (maybe null)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.startswith("Paginated") and name.endswith("List") and "properties" in component:
            component["required"] = sorted(component["properties"])
    return result


def _one_blank_branch(schema):
    """drf-spectacular offers a blank text field's "" as a second ``oneOf`` branch;
    when the first branch takes "" too (no minLength, only the no-NUL pattern),
    "" matches both and the schema refuses its own valid value: keep one branch."""
    branches = schema.get("oneOf")
    if (
        branches
        and len(branches) == 2
        and branches[1] == {"type": "string", "maxLength": 0}
        and branches[0].get("type") == "string"
        and not branches[0].get("minLength")
        and branches[0].get("pattern", NO_NUL_PATTERN) == NO_NUL_PATTERN
        and "format" not in branches[0]
    ):
        return {**{k: v for k, v in schema.items() if k != "oneOf"}, **branches[0]}
    return schema


class LeadlineAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error answers (see the module docstring)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                parameter["allowEmptyValue"] = True
        envelope = ResolvedComponent(
            name="ErrorEnvelope",
            type=ResolvedComponent.SCHEMA,
            schema=ERROR_ENVELOPE,
            object="ErrorEnvelope",
        )
        registry.register_on_missing(envelope)
        responses = operation["responses"]
        for status in sorted(self._error_statuses(operation) | self._declared_errors(responses)):
            response = responses.setdefault(str(status), {})
            if "content" not in response:
                if response.get("description") in (None, "", "No response body"):
                    response["description"] = ERROR_DESCRIPTIONS.get(status, "Error.")
                response["content"] = {"application/json": {"schema": envelope.ref}}
            if status in (429, 503):
                response.setdefault("headers", _RETRY_AFTER)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def map_parsers(self):
        media_types = super().map_parsers()
        if any(isinstance(parser, JSONParser) for parser in self.view.get_parsers()):
            return [JSONParser.media_type]
        return media_types

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
        ):
            blank_ok = field.allow_blank or not field.trim_whitespace
            schema["pattern"] = NO_NUL_PATTERN if blank_ok else NON_BLANK_PATTERN
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        for name, prop in schema.get("properties", {}).items():
            schema["properties"][name] = _one_blank_branch(prop)
            if isinstance(prop.get("additionalProperties"), dict):
                prop["additionalProperties"] = _one_blank_branch(prop["additionalProperties"])
        if direction == "request" and getattr(serializer, "unknown_fields_refused", False):
            schema["additionalProperties"] = False
        if direction == "response":
            schema = _require_response_fields(schema, serializer)
        return schema

    def _declared_errors(self, responses):
        return {int(code) for code in responses if code.isdigit() and int(code) >= 400}

    def _error_statuses(self, operation):
        statuses = {401, 429, 503}
        has_body = "requestBody" in operation
        has_query = any(p["in"] == "query" for p in operation.get("parameters", []))
        writes = self.method in ("POST", "PUT", "PATCH")
        # A role can be refused unless anyone (AllowAny) or any signed-in user
        # (IsAuthenticated alone: the anonymous get 401) may call it.
        if any(type(p) not in (AllowAny, IsAuthenticated) for p in self.view.get_permissions()):
            statuses.add(403)
        if has_body or has_query or writes:
            statuses.add(400)
        if "{" in self.path or any(p["name"] == "page" for p in operation.get("parameters", [])):
            statuses.add(404)
        if has_body:
            statuses |= {413, 415}
        if operation["operationId"] in CONFLICT_OPERATIONS:
            statuses.add(409)
        return statuses
