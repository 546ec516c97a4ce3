"""The shared outcome sets the routing benchmark evaluates on (RouteLLM MMLU and GSM8K)."""

from __future__ import annotations

from pathlib import Path

from pantheon.learning.mmlu import Outcomes, load_gsm8k, load_mmlu

DEFAULT_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "routellm"


def load_all(data: Path = DEFAULT_DATA) -> dict[str, Outcomes]:
    return {"mmlu": load_mmlu(data / "mmlu"), "gsm8k": load_gsm8k(data / "gsm8k_responses.csv")}
