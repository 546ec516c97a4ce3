"""Scenarios 8 and 9: bad input and security, run as the test modules that check them
(schemathesis, hypothesis properties, tests/security) plus a live oversized-body probe."""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx

from benchmarks import ROOT
from benchmarks.scenarios.base import RunResult, repetition
from pantheon.testing import VENV_BIN, Stack


def _pytest(
    result: RunResult,
    label: str,
    args: list[str],
    timeout: float = 1800,
    env: dict[str, str] | None = None,
) -> None:
    """Run pytest on ``args``; add its counts to ``result`` (a failed test is a failure).

    The fuzz case counts the session prints (``fuzz cases ...``) go into ``result.extra``.
    """
    report = Path(result.run_dir or "/tmp") / f"pytest-{label}.xml"
    cmd = [str(VENV_BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *args]
    try:
        done = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        result.failures.append(f"{label}: pytest timed out after {timeout:.0f} s")
        return
    if done.returncode == 5:  # no tests collected
        result.failures.append(f"{label}: no tests found for {args}")
        return
    try:
        suite = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        result.failures.append(f"{label}: pytest exited {done.returncode}: {done.stdout[-500:]}")
        return
    node = suite if suite.tag == "testsuite" else suite[0]
    tests, failures = int(node.get("tests", 0)), int(node.get("failures", 0))
    errors, skipped = int(node.get("errors", 0)), int(node.get("skipped", 0))
    result.extra[label] = {
        "tests": tests,
        "failures": failures,
        "errors": errors,
        "skipped": skipped,
        "fuzz_cases": _fuzz_cases(done.stdout),
    }
    result.sent += tests
    result.accepted += tests - skipped
    result.trained_once += tests - skipped - failures - errors
    result.check(
        failures + errors == 0,
        f"{label}: {failures} failed, {errors} errors: {done.stdout[-1500:]}",
    )


def _fuzz_cases(stdout: str) -> dict[str, int]:
    """The ``name: count`` lines after pytest's ``fuzz cases`` section header."""
    cases: dict[str, int] = {}
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "fuzz cases (" in line), None)
    if start is None:
        return cases
    for line in lines[start + 1 :]:
        name, sep, value = line.rpartition(": ")
        if not sep or not value.strip().isdigit():
            break
        cases[name.strip()] = int(value)
    return cases


def _files_containing(word: str, under: str = "tests") -> list[str]:
    found = []
    for path in sorted((ROOT / under).rglob("test_*.py")):
        if word in path.read_text(errors="replace"):
            found.append(str(path.relative_to(ROOT)))
    return found


def scenario_inputs(stack: Stack, index: int = 0) -> list[RunResult]:
    results = []
    body = RunResult("8a", "oversized body refused early (live web)", unit="requests")
    with repetition(stack, f"s8-{index}") as rep:
        web = rep.start_web()
        big = b'{"god_name": "zeus", "prompt": "' + b"x" * (9 * 2**20) + b'"}'
        for path in ("/api/outcomes", "/api/outcomes/batch", "/api/route"):
            try:
                resp = httpx.post(
                    web.url + path,
                    content=big,
                    timeout=30,
                    headers={"Content-Type": "application/json"},
                )
                code = resp.status_code
            except httpx.HTTPError as exc:  # closed early is also a refusal
                code = -1
                body.extra[path] = repr(exc)
            body.sent += 1
            if body.check(code in (413, -1), f"{path}: {len(big)} bytes answered {code}"):
                body.accepted += 1
                body.trained_once += 1
        body.check(not rep.auditor.all_outcome_ids(), "an oversized body stored an outcome")
    results.append(body)
    fuzz = RunResult("8b", "schemathesis over the schema (>= 1,000 requests, no 5xx)", unit="tests")
    fuzz.run_dir = str(stack.run_dir)
    files = _files_containing("schemathesis")
    if fuzz.check(bool(files), "no schemathesis test module found under tests/"):
        _pytest(fuzz, "schemathesis", [*files, "-m", "slow or not slow"])
    results.append(fuzz)
    props = RunResult(
        "8c",
        "hypothesis properties and fuzz (long profile): kernels, routes, tasks, files",
        unit="tests",
    )
    props.run_dir = str(stack.run_dir)
    files = [
        f for f in _files_containing("hypothesis") if "/unit/" in f or f.startswith("tests/fuzz/")
    ]
    if props.check(bool(files), "no hypothesis test module found under tests/"):
        _pytest(
            props,
            "properties",
            [*files, "-m", "slow or not slow"],
            env={"PANTHEON_FUZZ_PROFILE": "long"},
        )
    results.append(props)
    return results


TOKEN = "live-token-" + "5e1f" * 6
CRON = "live-cron-" + "9a7b" * 6
WRONG = "live-wrong-" + "0c0d" * 6


def _live_secrets(stack: Stack, index: int) -> RunResult:
    """The real web process with a token and a cron secret: wrong and right secrets sent,
    then its log file and every answer searched for them."""
    result = RunResult("9b", "secrets absent from a live web's log and answers", unit="requests")
    with repetition(stack, f"s9-{index}") as rep:
        web = rep.start_web(
            {"PANTHEON_API_TOKEN": TOKEN, "CRON_SECRET": CRON, "PANTHEON_LOG_LEVEL": "DEBUG"}
        )
        probes: list[tuple[str, dict[str, str], dict[str, object], int]] = [
            ("/api/outcomes", {}, {}, 401),
            ("/api/outcomes", {"Authorization": f"Bearer {WRONG}"}, {}, 401),
            ("/api/route", {"Authorization": WRONG}, {"prompt": "x"}, 401),
            ("/api/cron/wake", {"X-Cron-Secret": WRONG}, {"task_type": "hourly"}, 401),
            ("/api/outcomes", {"Authorization": f"Bearer {TOKEN}"}, {"god_name": WRONG}, 422),
            ("/api/training/nope", {"Authorization": f"Bearer {TOKEN}"}, {}, 422),
        ]
        answers = []
        for path, headers, body, expected in probes:
            resp = httpx.post(web.url + path, json=body, headers=headers, timeout=10)
            answers.append(resp.text + str(dict(resp.headers)))
            result.sent += 1
            if result.check(
                resp.status_code in (expected, 404),
                f"{path}: {resp.status_code} (expected {expected})",
            ):
                result.accepted += 1
        time.sleep(0.5)
        text = web.log_text()
        for secret in (TOKEN, CRON, WRONG):
            result.check(secret not in text, f"secret {secret[:10]}... in the web log")
            result.check(all(secret not in a for a in answers), f"{secret[:10]}... echoed")
        result.trained_once = result.accepted if not result.failures else 0
    return result


def scenario_security(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult(
        "9", "security: tokens, cron secret, restore, no pickle, secrets", unit="tests"
    )
    result.run_dir = str(stack.run_dir)
    _pytest(result, "security", ["tests/security", "-m", "slow or not slow"])
    return [result, _live_secrets(stack, index)]
