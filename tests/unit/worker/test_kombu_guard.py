"""The guard around kombu's restore of unacked messages when the broker connection is gone."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from kombu.transport import redis as kombu_redis

from pantheon.worker import kombu_guard

pytestmark = pytest.mark.unit


def _qos(client: Any) -> Any:
    qos: Any = object.__new__(kombu_redis.QoS)  # half-built: the fields the guard reads
    transport = SimpleNamespace(client=client)
    qos.channel = SimpleNamespace(
        connection=transport,
        conn_or_acquire=lambda _client=None: (_ for _ in ()).throw(
            AttributeError("'NoneType' object has no attribute 'hostname'")
        ),
    )
    qos._delivered = {"tag-1": object()}
    return qos


def _restore_unacked(qos: Any) -> object:
    """Call QoS.restore_unacked as it is now (install() patches it); kombu leaves it untyped."""
    restore: Callable[[Any], object] = kombu_redis.QoS.restore_unacked
    return restore(qos)


def test_a_detached_connection_skips_the_restore_instead_of_killing_the_worker() -> None:
    kombu_guard.install()
    qos = _qos(client=None)
    assert _restore_unacked(qos) is None
    assert qos._delivered == {}


def test_other_attribute_errors_still_raise() -> None:
    kombu_guard.install()
    qos = _qos(client=object())
    with pytest.raises(AttributeError):
        _restore_unacked(qos)
