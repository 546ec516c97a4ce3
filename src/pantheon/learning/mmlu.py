"""The RouteLLM MMLU outcome files and the fixed splits used to measure routing quality.

Each ``mmlu_<subject>.csv`` row is one prompt with the verdicts of a weak model
(Mixtral-8x7B-Instruct) and a strong one (gpt-4-1106-preview). Used by the routing
benchmark and by the vocabulary build (which fits on the training prompts only).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .seeds import seed_int

WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"
DEFAULT_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "routellm" / "mmlu"
GSM8K_FILE = DEFAULT_DIR.parent / "gsm8k_responses.csv"
LEFT_OUT_SUBJECTS = 12


@dataclass(frozen=True)
class Outcomes:
    prompts: list[str]
    weak: NDArray[np.bool_]
    strong: NDArray[np.bool_]
    subjects: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.prompts)


def load_mmlu(directory: Path = DEFAULT_DIR) -> Outcomes:
    prompts: list[str] = []
    weak: list[bool] = []
    strong: list[bool] = []
    subjects: list[str] = []
    files = sorted(Path(directory).glob("mmlu_*.csv"))
    if not files:
        raise FileNotFoundError(f"no mmlu_*.csv files in {directory}")
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                prompts.append(row["prompt"])
                weak.append(row[WEAK_MODEL] == "True")
                strong.append(row[STRONG_MODEL] == "True")
                subjects.append(path.stem.removeprefix("mmlu_"))
    return Outcomes(prompts, np.array(weak), np.array(strong), np.array(subjects))


def load_gsm8k(path: Path = GSM8K_FILE) -> Outcomes:
    """RouteLLM's GSM8K verdicts of the same two models (every row's subject is "gsm8k")."""
    prompts: list[str] = []
    weak: list[bool] = []
    strong: list[bool] = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            prompts.append(row["prompt"])
            weak.append(row[WEAK_MODEL] == "True")
            strong.append(row[STRONG_MODEL] == "True")
    return Outcomes(prompts, np.array(weak), np.array(strong), np.full(len(prompts), "gsm8k"))


def random_split(n: int, seed: int = 0, test_fraction: float = 0.2) -> NDArray[np.bool_]:
    """Test mask of a seeded random split (``test_fraction`` of the rows)."""
    order = np.random.default_rng(seed_int("mmlu-split", seed)).permutation(n)
    test = np.zeros(n, dtype=bool)
    test[order[: round(n * test_fraction)]] = True
    return test


def subject_split(subjects: NDArray[np.str_], seed: int = 0) -> NDArray[np.bool_]:
    """Test mask holding every row of ``LEFT_OUT_SUBJECTS`` seeded subjects."""
    names = sorted(set(subjects.tolist()))
    rng = np.random.default_rng(seed_int("mmlu-subjects", seed))
    chosen = [names[i] for i in rng.choice(len(names), LEFT_OUT_SUBJECTS, replace=False)]
    return np.isin(subjects, chosen)
