"""A guard around kombu's Redis transport for a broker that vanishes mid-delivery.

When Redis drops while a worker holds unacknowledged messages, kombu closes the channel and
tries to put them back through a connection it has already detached, and the
``AttributeError`` that follows ends the whole worker ("Unrecoverable error"). Putting them
back is pointless then: a restarted Redis holds nothing, and a Redis that only blinked
still keeps them in its unacked index, which the visibility-timeout sweep restores. So the
guard skips the restore instead of dying; the outbox sweep trains whatever was in flight.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

_original: Any = kombu_redis.QoS.restore_unacked


def _restore_unacked(self: Any, client: Any = None) -> Any:
    try:
        return _original(self, client)
    except AttributeError as exc:
        if getattr(self.channel.connection, "client", object()) is not None:
            raise  # a real bug elsewhere, not the detached connection
        log.warning(
            "broker connection gone while restoring %d unacknowledged message(s): left to "
            "the visibility timeout and the outbox sweep (%s)",
            len(self._delivered),
            exc,
        )
        self._delivered.clear()
        return None


def install() -> None:
    """Idempotent: wrap ``QoS.restore_unacked`` once per process."""
    if kombu_redis.QoS.restore_unacked is not _restore_unacked:
        kombu_redis.QoS.restore_unacked = _restore_unacked  # type: ignore[method-assign]
