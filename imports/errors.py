"""The refusals of an import, as the API, the admin and the command show them.

Domain errors (``common.errors``) carry their status and code; the API turns
them into its error body and the admin into a form or page message. The
reader's own refusals (``InvalidFile``, ``UnsupportedFile``) live with the
readers.
"""

from common.errors import Conflict, DomainError

_ERRORS_IN_MESSAGE = 20


class DuplicateFile(Conflict):
    code = "duplicate_file"


class FileTooLarge(DomainError):
    """An upload over ``MAX_UPLOAD_SIZE``; raised by ``services.check_upload_size`` only."""

    status = 413
    code = "file_too_large"


class InvalidRows(DomainError):
    """``strict`` mode: one bad row rejects the file."""

    status = 400
    code = "invalid_rows"


def strict_error(batch, outcome):
    """The ``invalid_rows`` refusal of a strict import, with the first errors attached."""
    shown = outcome.errors[:_ERRORS_IN_MESSAGE]
    return InvalidRows(
        f"Strict mode: {outcome.invalid} of {outcome.rows} rows are invalid, "
        "so nothing was imported. Fix them or upload without strict.",
        extra={"batch": getattr(batch, "pk", None), "errors": shown},
    )
