"""Pantheon's one error hierarchy.

Every error the product raises on purpose is a :class:`PantheonError`. The web layer
translates the tree to HTTP in one place (``pantheon.api.errors``); Celery tasks use
:attr:`PantheonError.transient` to decide between retrying and failing at once.

::

    PantheonError                  (500) base; never raised bare
    ├── ConfigurationError         (500) settings that cannot work (default secret in production)
    ├── ValidationError            (422) bad input from a caller; permanent, never retried
    │   ├── UnknownGodError        (422) a god name not in the roster (lists the valid ones)
    │   ├── TransferError          (422) bad transfer kind, ratio outside [0, 1], into itself
    │   └── ScheduleError          (422) a schedule expression that cannot be parsed
    ├── NotFoundError              (404) an id the store does not know (checkpoint, task, kernel)
    ├── AuthError                  (401) missing or wrong bearer token / cron secret
    ├── CheckpointError            (409) a stored checkpoint that cannot be used: corrupt,
    │                                    truncated, wrong format, checksum mismatch, or a
    │                                    kernel state out of range (the live kernel is kept)
    ├── ConflictError              (409) optimistic-lock conflict that survived its retries
    ├── TrainingDisabledError      (409) TRAINING_ENABLED=false and the caller asked to train
    ├── RepresentationMismatchError (409) a kernel or checkpoint trained on basins of another
    │                                    coordizer version (permanent until recoordized)
    └── UnavailableError           (503) a dependency is down; transient, retried with backoff
        ├── DatabaseUnavailableError (503)
        └── BrokerUnavailableError   (503)

A 5xx error's ``message`` is for the log (it may name a host, a port or a driver error);
callers get :meth:`PantheonError.public_dict`, which for a 5xx carries only the class's
fixed ``public_detail`` and no context.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ErrorDict(TypedDict):
    """An error as every interface reports it: ``{"error", "detail", "context"?}``."""

    error: str
    detail: str
    context: NotRequired[dict[str, object]]


class PantheonError(Exception):
    """Base of every deliberate Pantheon error."""

    status_code: int = 500
    #: True when retrying the same call later may succeed (connection errors, locks).
    transient: bool = False
    code: str = "pantheon_error"
    #: What a caller is told about a 5xx error (the message stays in the log).
    public_detail: str = "internal error; see the server log"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        #: JSON-ready facts about the error (ids, names, limits), sent as ``context``.
        self.details: dict[str, object] = details

    def to_dict(self) -> ErrorDict:
        body: ErrorDict = {"error": self.code, "detail": self.message}
        if self.details:
            body["context"] = self.details
        return body

    def public_dict(self) -> ErrorDict:
        """The body a caller may see: a 5xx never carries infrastructure details."""
        if self.status_code >= 500:
            return {"error": self.code, "detail": self.public_detail}
        return self.to_dict()


class ConfigurationError(PantheonError):
    code = "configuration_error"


class ValidationError(PantheonError):
    status_code = 422
    code = "validation_error"


class UnknownGodError(ValidationError):
    code = "unknown_god"

    def __init__(self, name: str, valid: list[str]) -> None:
        super().__init__(
            f"unknown god {name!r}; valid names: {', '.join(valid)}", god=name, valid=valid
        )


class TransferError(ValidationError):
    code = "transfer_error"


class ScheduleError(ValidationError):
    code = "schedule_error"


class NotFoundError(PantheonError):
    status_code = 404
    code = "not_found"


class AuthError(PantheonError):
    status_code = 401
    code = "unauthorized"


class CheckpointError(PantheonError):
    status_code = 409
    code = "checkpoint_error"


class ConflictError(PantheonError):
    status_code = 409
    transient = True
    code = "conflict"


class TrainingDisabledError(PantheonError):
    status_code = 409
    code = "training_disabled"


class RepresentationMismatchError(PantheonError):
    """A kernel or checkpoint whose basins came from another ``COORDIZER_VERSION``: using
    it with today's basins would mix two representations. ``pantheon db recoordize``
    rebuilds such kernels; such checkpoints cannot be restored."""

    status_code = 409
    code = "representation_mismatch"


class UnavailableError(PantheonError):
    status_code = 503
    transient = True
    code = "unavailable"
    public_detail = "a dependency did not answer; retry shortly"


class DatabaseUnavailableError(UnavailableError):
    code = "database_unavailable"
    public_detail = "the database did not answer; retry shortly"


class BrokerUnavailableError(UnavailableError):
    code = "broker_unavailable"
    public_detail = "the task broker did not answer; retry shortly"


def public_reason(exc: BaseException) -> str:
    """A one-line reason safe to show a caller (task results, status pages).

    A 4xx :class:`PantheonError` keeps its message (it is about the caller's input); a 5xx
    one gives its fixed public sentence; any other exception only its type name, because
    driver and transport messages name hosts, ports and URLs.
    """
    if isinstance(exc, PantheonError) and exc.status_code < 500:
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, PantheonError):
        return f"{type(exc).__name__}: {exc.public_detail}"
    return type(exc).__name__
