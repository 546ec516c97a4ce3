"""The use cases' typed results serialise to the JSON their tasks always answered."""

from __future__ import annotations

import pytest

from pantheon.training.results import (
    AllGodsResult,
    Disabled,
    GodFailed,
    HourlyResult,
    NightlyResult,
)

pytestmark = pytest.mark.unit


def test_hourly_json_keeps_the_legacy_keys_in_order() -> None:
    result = HourlyResult("skipped", "zeus", None, None, 0, 0, 0.01, None)
    assert list(result.as_dict()) == [
        "status",
        "god_name",
        "loss",
        "reward",
        "steps",
        "batch_size",
        "duration_s",
        "rows_per_s",
    ]
    assert result["status"] == "skipped"
    assert "rows_per_s" in result
    assert result.get("missing", 3) == 3
    assert dict(result) == result.as_dict()


def test_nightly_and_disabled_json() -> None:
    nightly = NightlyResult("hera", 0.5, 4, True, 12, 30, 0.6, 0.55, 7, 3).as_dict()
    assert nightly["status"] == "success"
    assert list(nightly)[:2] == ["status", "god_name"]
    assert list(nightly)[-1] == "checkpoint_id"
    assert dict(Disabled({"god_name": "zeus"})) == {
        "status": "disabled",
        "reason": "TRAINING_ENABLED=false",
        "god_name": "zeus",
    }


def test_all_gods_json_names_the_failed_and_adds_recoordize_only_when_it_ran() -> None:
    ok = HourlyResult("success", "hera", 0.1, 0.2, 1, 3, 0.5, 6.0)
    result = AllGodsResult({"hera": ok, "zeus": GodFailed("zeus", "broken")})
    data = result.as_dict()
    assert (data["status"], data["kernels"], data["failed"]) == ("error", 2, ["zeus"])
    assert data["results"] == {
        "hera": ok.as_dict(),
        "zeus": {"status": "error", "god_name": "zeus", "error": "broken"},
    }
    assert "recoordize" not in data
    healed = AllGodsResult({"hera": ok}, recoordize={"basins": 4}).as_dict()
    assert (healed["status"], healed["recoordize"]) == ("success", {"basins": 4})
