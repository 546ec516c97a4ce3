"""Guards around kombu's Redis transport for a broker that vanishes mid-delivery.

When Redis drops while a worker holds unacknowledged messages, kombu closes the channel
(its ``connection`` becomes ``None`` and its connection pools are dropped) and later still
calls it: to put the unacknowledged messages back, or to acknowledge or reject a task that
finished (or was cancelled) after the loss. Each of those asks the closed channel for a new
Redis client and dies on ``AttributeError("'NoneType' object has no attribute 'client'")``,
which ends the whole worker ("Unrecoverable error"). The guards:

* skip the restore, the ack and the reject when the closed channel cannot do them (one
  that still gets through a pool the channel kept goes through). A restarted Redis holds
  nothing to restore or acknowledge; a Redis that only blinked still keeps the messages in
  its unacked index, which the visibility-timeout sweep restores; and the outbox sweep
  trains any outcome whose task was lost (tasks are idempotent, so a redelivery is safe);
* turn any other use of a closed channel into a Redis ``ConnectionError``, which Celery
  treats as a lost connection (it reconnects) instead of an unrecoverable bug.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger(__name__)

_original_restore: Any = kombu_redis.QoS.restore_unacked
_original_ack: Any = kombu_redis.QoS.ack
_original_reject: Any = kombu_redis.QoS.reject
_original_connparams: Any = kombu_redis.Channel._connparams
_forget: Any = virtual.QoS.ack  # drops the tag locally, tells Redis nothing


def _closed(qos: Any) -> bool:
    """The QoS's channel was closed after a connection loss (or its transport detached)."""
    connection = qos.channel.connection
    return connection is None or getattr(connection, "client", object()) is None


def _restore_unacked(self: Any, client: Any = None) -> Any:
    try:
        return _original_restore(self, client)
    except (AttributeError, RedisConnectionError) as exc:
        if not _closed(self):
            raise  # a real bug or outage elsewhere, not the detached connection
        log.warning(
            "broker connection gone while restoring %d unacknowledged message(s): left to "
            "the visibility timeout and the outbox sweep (%s)",
            len(self._delivered),
            exc,
        )
        self._delivered.clear()
        return None


def _ack(self: Any, delivery_tag: Any) -> Any:
    try:
        return _original_ack(self, delivery_tag)
    except (AttributeError, RedisConnectionError) as exc:
        if not _closed(self):
            raise  # Redis down on an open channel: Celery's own reconnect handles it
        log.warning(
            "message %s not acknowledged: its broker connection is gone (the visibility "
            "timeout or the outbox sweep takes it from here): %s",
            delivery_tag,
            exc,
        )
        _forget(self, delivery_tag)
        return None


def _reject(self: Any, delivery_tag: Any, requeue: bool = False) -> Any:
    try:
        return _original_reject(self, delivery_tag, requeue)
    except (AttributeError, RedisConnectionError) as exc:
        if not _closed(self):
            raise
        log.warning(
            "message %s not %s: its broker connection is gone (the visibility timeout or "
            "the outbox sweep takes it from here): %s",
            delivery_tag,
            "requeued" if requeue else "rejected",
            exc,
        )
        _forget(self, delivery_tag)
        return None


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None:
        raise RedisConnectionError("broker channel closed after a connection loss")
    return _original_connparams(self, asynchronous)


_PATCHES: tuple[tuple[Any, str, Any], ...] = (
    (kombu_redis.QoS, "restore_unacked", _restore_unacked),
    (kombu_redis.QoS, "ack", _ack),
    (kombu_redis.QoS, "reject", _reject),
    (kombu_redis.Channel, "_connparams", _connparams),
)


def install() -> None:
    """Idempotent: wrap each method once per process."""
    for owner, name, guard in _PATCHES:
        if getattr(owner, name) is not guard:
            setattr(owner, name, guard)
