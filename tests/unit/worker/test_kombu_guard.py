"""The guard around kombu's restore of unacked messages when the broker connection is gone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kombu.transport import redis as kombu_redis

from pantheon.worker import kombu_guard

pytestmark = pytest.mark.unit


def _qos(client: Any) -> Any:
    qos = object.__new__(kombu_redis.QoS)
    transport = SimpleNamespace(client=client)
    qos.channel = SimpleNamespace(
        connection=transport,
        conn_or_acquire=lambda _client=None: (_ for _ in ()).throw(
            AttributeError("'NoneType' object has no attribute 'hostname'")
        ),
    )
    qos._delivered = {"tag-1": object()}
    return qos


def test_a_detached_connection_skips_the_restore_instead_of_killing_the_worker() -> None:
    kombu_guard.install()
    qos = _qos(client=None)
    assert kombu_redis.QoS.restore_unacked(qos) is None
    assert qos._delivered == {}


def test_other_attribute_errors_still_raise() -> None:
    kombu_guard.install()
    qos = _qos(client=object())
    with pytest.raises(AttributeError):
        kombu_redis.QoS.restore_unacked(qos)
