"""A task finishing after the broker connection is lost must not end the worker (issue 14,
item 6).

The exact failure: after a Redis restart the consumer closes its channel (``connection``
set to ``None``, connection pools dropped); a late-acknowledged task that then finishes or
is cancelled acks or requeues its message through that channel, and kombu's Redis
transport raises ``AttributeError("'NoneType' object has no attribute 'client'")`` in the
worker's event loop: "Unrecoverable error", the worker exits. Reproduced here on a private
``redis-server`` (never the shared one), with the worker's own kombu guard installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer

from pantheon.testing import RedisServer
from pantheon.worker import kombu_guard

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("!!! SKIPPED: redis-server is not installed !!!")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server.url(0)
    finally:
        server.stop(hard=True)


def _received(url: str) -> tuple[Connection, object, object]:
    # kombu leaves these untyped (as in pantheon.testing.stack and celery_app).
    conn = Connection(url)
    channel = conn.channel()
    exchange = Exchange("guard-test")
    queue = Queue("guard-test", exchange, "guard-test")
    Producer(channel).publish(
        {"n": 1}, exchange=queue.exchange, routing_key="guard-test", declare=[queue]
    )
    message = channel.basic_get("guard-test", no_ack=False)
    assert message is not None
    return conn, channel, message


def _lose_connection(channel: object) -> None:
    """What the consumer's connection-loss path leaves behind: a closed channel without
    its pools or cached client."""
    channel.close()  # type: ignore[attr-defined]
    channel._disconnect_pools()  # type: ignore[attr-defined]
    channel.__dict__.pop("client", None)
    assert channel.connection is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["ack", "requeue", "reject"])
def test_ack_or_reject_on_a_lost_connection_does_not_raise(private_redis: str, how: str) -> None:
    kombu_guard.install()
    conn, channel, message = _received(private_redis)
    _lose_connection(channel)
    if how == "ack":
        message.ack()  # type: ignore[attr-defined]
    else:
        message.reject(requeue=how == "requeue")  # type: ignore[attr-defined]
    # Nothing was lost: the channel's close put the message back in its queue (or it
    # waits in the unacked index for the visibility-timeout sweep).
    client = redis.Redis.from_url(private_redis)
    assert client.llen("guard-test") + client.hlen("unacked") == 1
    conn.release()


def test_other_uses_of_a_closed_channel_are_connection_errors(private_redis: str) -> None:
    kombu_guard.install()
    conn, channel, _message = _received(private_redis)
    _lose_connection(channel)
    with pytest.raises(redis.ConnectionError):
        channel._get_pool()  # type: ignore[attr-defined]
    assert redis.ConnectionError in conn.connection_errors or any(
        issubclass(redis.ConnectionError, e) for e in conn.connection_errors
    )
    conn.release()
