class DomainError(Exception):
    """A refusal with a stable ``code`` that every entry point translates once.

    The API answers ``status`` with the error envelope, the admin shows
    ``message``, management commands raise ``CommandError(message)``.
    """

    status = 400
    code = "error"

    def __init__(self, message, *, code=None, status=None, fields=None, extra=None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields or {}
        self.extra = extra or {}


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
