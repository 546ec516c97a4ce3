from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pantheon.learning.mmlu import (
    LEFT_OUT_SUBJECTS,
    STRONG_MODEL,
    WEAK_MODEL,
    load_gsm8k,
    load_mmlu,
    random_split,
    subject_split,
)

pytestmark = pytest.mark.unit


def _write(tmp_path: Path, subjects: int = 14, rows: int = 5) -> Path:
    for s in range(subjects):
        lines = [f"prompt,{WEAK_MODEL},{STRONG_MODEL}"]
        lines += [f'"question {s}-{r}?",{r % 2 == 0},True' for r in range(rows)]
        (tmp_path / f"mmlu_subject{s:02d}.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_load_reads_every_file(tmp_path: Path) -> None:
    data = load_mmlu(_write(tmp_path))
    assert len(data) == 70
    assert data.prompts[0] == "question 0-0?"
    assert data.weak[:5].tolist() == [True, False, True, False, True]
    assert data.strong.all()
    assert data.subjects[0] == "subject00"


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_mmlu(tmp_path)


def test_splits_are_seeded(tmp_path: Path) -> None:
    data = load_mmlu(_write(tmp_path))
    a, b = random_split(len(data), 0), random_split(len(data), 0)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == 14
    assert not np.array_equal(a, random_split(len(data), 1))
    held = subject_split(data.subjects, 0)
    assert len(set(data.subjects[held].tolist())) == LEFT_OUT_SUBJECTS
    assert not set(data.subjects[held]) & set(data.subjects[~held])


def test_load_gsm8k_reads_both_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "gsm8k_responses.csv"
    path.write_text(
        f"prompt,{WEAK_MODEL},{STRONG_MODEL},extra\n"
        '"Janet has 3 eggs, how many?",False,True,x\n'
        '"Two trains leave",True,True,y\n',
        encoding="utf-8",
    )
    data = load_gsm8k(path)
    assert data.prompts == ["Janet has 3 eggs, how many?", "Two trains leave"]
    assert data.weak.tolist() == [False, True]
    assert data.strong.tolist() == [True, True]
    assert set(data.subjects.tolist()) == {"gsm8k"}
