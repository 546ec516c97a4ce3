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
    ├── CheckpointError            (500) a checkpoint that cannot be read: corrupt, truncated,
    │                                    wrong format version, checksum mismatch
    ├── ConflictError              (409) optimistic-lock conflict that survived its retries
    ├── TrainingDisabledError      (409) TRAINING_ENABLED=false and the caller asked to train
    ├── RepresentationMismatchError (409) a kernel or checkpoint trained on basins of another
    │                                    coordizer version (permanent until recoordized)
    └── UnavailableError           (503) a dependency is down; transient, retried with backoff
        ├── DatabaseUnavailableError (503)
        └── BrokerUnavailableError   (503)
"""

from __future__ import annotations

from typing import Any


class PantheonError(Exception):
    """Base of every deliberate Pantheon error."""

    status_code: int = 500
    #: True when retrying the same call later may succeed (connection errors, locks).
    transient: bool = False
    code: str = "pantheon_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.message}
        if self.details:
            body["context"] = self.details
        return body


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


class DatabaseUnavailableError(UnavailableError):
    code = "database_unavailable"


class BrokerUnavailableError(UnavailableError):
    code = "broker_unavailable"
