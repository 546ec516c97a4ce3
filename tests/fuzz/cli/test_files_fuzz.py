"""Every file the CLI reads, and the settings, fuzzed: replay files, RouteLLM exports,
roster files, checkpoint files, environment variables.

Properties: a bad file or setting ends in one :class:`PantheonError` (or pydantic's
settings error), mapped by the CLI to one line and a non-zero status, never another
exception; a replay stores every line it accepts and reports every other by number; a
checkpoint either loads as a sane kernel or is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantheon.cli import exit_for
from pantheon.config import Settings
from pantheon.datasets import routellm
from pantheon.datasets.jsonl import count_lines, iter_lines, write_lines
from pantheon.datasets.replay import build_replayer
from pantheon.errors import CheckpointError, ConfigurationError, PantheonError
from pantheon.learning import checkpoint
from pantheon.learning.kernel import Kernel
from pantheon.roster import Roster
from pantheon.training import queries
from tests.fuzz.strategies import deep_raw, json_values, nasty_numbers, nasty_text, outcomes
from tests.fuzz_profiles import count, examples

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

line_bytes = st.one_of(
    outcomes().map(lambda o: json.dumps(o, ensure_ascii=True).encode()),
    outcomes().map(lambda o: json.dumps(o, ensure_ascii=True).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ")),
    deep_raw.map(lambda b: b[:50_000]),
)


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_replay_stores_what_it_accepts_and_reports_the_rest(
    make_settings: Any, tmp_path: Path
) -> None:
    replayer = build_replayer(make_settings(database_url_raw=f"sqlite:///{tmp_path / 'replay.db'}"))
    totals = {"accepted": 0}

    @FUZZ
    @given(lines=st.lists(line_bytes, min_size=1, max_size=8))
    def check(lines: list[bytes]) -> None:
        count("replay files")
        path = write(tmp_path / "fuzz.jsonl", lines)
        report = replayer.replay_lines(iter_lines(path), chunk=3)
        non_blank = sum(1 for raw in lines if raw.strip())
        assert report.accepted + report.duplicates + len(report.bad) == non_blank
        assert count_lines(path) == non_blank  # the progress total of the same file
        totals["accepted"] += report.accepted
        stored = queries.counts(replayer.service)["outcomes"]
        assert stored == totals["accepted"], "an accepted line is not stored"

    check()
    replayer.service.database.dispose()


def test_routellm_import_skips_bad_rows_and_never_crashes(tmp_path: Path) -> None:
    judgement = st.fixed_dictionaries(
        {
            "question_id": st.one_of(st.integers(), nasty_text),
            "model": st.one_of(st.sampled_from(["gpt-4", "mixtral"]), nasty_text),
            "score": st.one_of(st.floats(1, 10), nasty_numbers, nasty_text),
            "user_prompt": st.one_of(
                nasty_text.map(
                    lambda t: (
                        f"[Question]\n{t}\n[The Start of Assistant's Answer]\n"
                        f"{t}\n[The End of Assistant's Answer]"
                    )
                ),
                nasty_text,
            ),
        }
    ).map(lambda d: json.dumps(d, ensure_ascii=True).encode())

    @FUZZ
    @given(
        lines=st.lists(st.one_of(judgement, line_bytes), min_size=1, max_size=6),
        csv_text=st.lists(nasty_text, min_size=1, max_size=6).map(",".join),
    )
    def check(lines: list[bytes], csv_text: str) -> None:
        count("routellm files")
        jl = write(tmp_path / "judge.jsonl", lines)
        csv_path = tmp_path / "bench.csv"
        csv_path.write_bytes(("prompt,gpt-4\n" + csv_text + "\n").encode("utf-8", "surrogatepass"))
        for path in (jl, csv_path):
            report = routellm.ImportReport()
            try:
                rows = list(routellm.convert([path], report))
            except PantheonError:
                continue
            out = tmp_path / "out.jsonl"
            write_lines(rows, out)  # every converted row can be written and read back
            assert sum(1 for line in iter_lines(out) if line.record is not None) == len(rows)

    check()


def test_roster_files_are_valid_or_one_configuration_error(tmp_path: Path) -> None:
    entry = st.one_of(
        st.fixed_dictionaries(
            {"name": st.one_of(st.sampled_from(["Zeus", "zeus", "athena"]), json_values)},
            optional={"domain": json_values},
        ),
        json_values,
    )
    body = st.one_of(
        st.fixed_dictionaries({"gods": st.lists(entry, max_size=4)}).map(json.dumps),
        st.lists(entry, max_size=4).map(json.dumps),
        json_values.map(json.dumps),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    )

    @FUZZ
    @given(text=body)
    def check(text: str) -> None:
        count("roster files")
        path = tmp_path / "roster.json"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            roster = Roster.from_file(path)
        except ConfigurationError:
            return
        assert len(roster) >= 1
        for god in roster:
            assert god.name
            assert god.name == god.name.strip().lower()
            assert god.name not in ("none", "null", "true", "false")

    check()


def test_checkpoint_files_load_sane_or_are_refused(tmp_path: Path) -> None:
    base = Kernel("zeus")

    @FUZZ
    @given(
        field=st.sampled_from(["step_count", "outcomes_seen", "running_loss", "running_reward"]),
        value=st.one_of(nasty_numbers, json_values),
        array=st.sampled_from(["param.w_success", "fisher.w_reward", "adam_v.w_success"]),
        fill=nasty_numbers,
    )
    def check(field: str, value: Any, array: str, fill: Any) -> None:
        count("checkpoint files")
        kernel = base.copy()
        state = kernel.state_dict()
        state["meta"][field] = value
        try:
            arr = np.full_like(state["arrays"][array], float(fill))
        except OverflowError:
            arr = state["arrays"][array]
        # Write the hostile state past every guard, with a matching sha256.
        crafted = Kernel("zeus")
        prefix, key = array.split(".")
        groups = {"param": crafted.params, "fisher": crafted._fisher, "adam_v": crafted._adam_v}
        groups[prefix][key] = arr
        crafted.step_count = state["meta"]["step_count"]  # any value, as a crafted file holds
        try:
            blob = checkpoint.dumps(crafted)
        except (PantheonError, TypeError, ValueError, OverflowError):
            return  # cannot even be written: nothing to load
        path = tmp_path / "crafted.ckpt"
        path.write_bytes(blob)
        try:
            loaded, _meta = checkpoint.load(path)
        except CheckpointError:
            return
        for arr_out in loaded.state_dict()["arrays"].values():
            assert np.all(np.isfinite(arr_out))
        assert loaded.step_count >= 0

    check()


SETTINGS_VARS = [
    "PANTHEON_LOG_LEVEL",
    "PANTHEON_MAX_BATCH",
    "PANTHEON_MAX_BODY_BYTES",
    "PANTHEON_TASK_WAIT_MAX",
    "PANTHEON_BODY_READ_TIMEOUT",
    "PANTHEON_ENV",
    "PANTHEON_TASK_MODE",
    "PANTHEON_DATA_DIR",
    "PANTHEON_ROUTE_CACHE_SECONDS",
]


def test_settings_are_valid_or_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    @FUZZ
    @given(
        name=st.sampled_from(SETTINGS_VARS),
        value=st.one_of(
            nasty_text.filter(
                lambda t: "\x00" not in t and not any(0xD800 <= ord(c) <= 0xDFFF for c in t)
            ),
            nasty_numbers.map(str),
        ),
    )
    def check(name: str, value: str) -> None:
        count("settings values")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PANTHEON_")}
        env["PANTHEON_DATA_DIR"] = str(tmp_path / "data")
        env[name] = value
        with monkeypatch.context() as m:
            for key in [k for k in os.environ if k.startswith("PANTHEON_")]:
                m.delenv(key)
            for key, val in env.items():
                m.setenv(key, val)
            try:
                Settings()
            except (pydantic.ValidationError, PantheonError) as exc:
                status, line = exit_for(exc)
                assert status != 0
                assert line
                assert "Traceback" not in line

    check()
