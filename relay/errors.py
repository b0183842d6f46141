"""Domain errors raised by storage, rules and handlers, each carrying its HTTP status.

One middleware (:mod:`relay.middleware`) turns any :class:`RelayError` into the JSON body
``{"error": {"code": ..., "message": ..., **details}}``. Nothing below the handlers knows HTTP
beyond the status number attached to each class.
"""

from __future__ import annotations

from typing import Any


class RelayError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers: dict[str, str] = {}

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequest(RelayError):
    status = 400
    code = "bad_request"


class Unauthorized(RelayError):
    status = 401
    code = "unauthorized"


class Forbidden(RelayError):
    status = 403
    code = "forbidden"


class NotFound(RelayError):
    status = 404
    code = "not_found"


class Conflict(RelayError):
    status = 409
    code = "conflict"


class Gone(RelayError):
    status = 410
    code = "gone"


class LengthRequired(RelayError):
    status = 411
    code = "length_required"


class PayloadTooLarge(RelayError):
    status = 413
    code = "payload_too_large"


class Unprocessable(RelayError):
    status = 422
    code = "unprocessable"


class TooManyRequests(RelayError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: float, **details: Any) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), **details)
        self.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))


class InsufficientStorage(RelayError):
    status = 507
    code = "quota_exceeded"
