"""Scenarios 8 and 9: bad input and security, run as the test modules that check them
(schemathesis, hypothesis properties, tests/security) plus a live oversized-body probe."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx

from benchmarks.scenarios.base import RunResult, repetition
from benchmarks.stack import ROOT, VENV_BIN, Stack


def _pytest(result: RunResult, label: str, args: list[str], timeout: float = 1800) -> None:
    """Run pytest on ``args``; add its counts to ``result`` (a failed test is a failure)."""
    report = Path(result.run_dir or "/tmp") / f"pytest-{label}.xml"
    cmd = [str(VENV_BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *args]
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
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
    }
    result.sent += tests
    result.accepted += tests - skipped
    result.trained_once += tests - skipped - failures - errors
    result.check(
        failures + errors == 0,
        f"{label}: {failures} failed, {errors} errors: {done.stdout[-1500:]}",
    )


def _files_containing(word: str, under: str = "tests") -> list[str]:
    found = []
    for path in sorted((ROOT / under).rglob("test_*.py")):
        if word in path.read_text(errors="replace"):
            found.append(str(path.relative_to(ROOT)))
    return found


def scenario_inputs(stack: Stack, index: int = 0) -> list[RunResult]:
    results = []
    body = RunResult("8a", "oversized body refused early (live web)")
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
    fuzz = RunResult("8b", "schemathesis over the schema (>= 1,000 requests, no 5xx)")
    fuzz.run_dir = str(stack.run_dir)
    files = _files_containing("schemathesis")
    if fuzz.check(bool(files), "no schemathesis test module found under tests/"):
        _pytest(fuzz, "schemathesis", [*files, "-m", "slow or not slow"])
    results.append(fuzz)
    props = RunResult("8c", "hypothesis properties: coordizer, kernel, checkpoint loader")
    props.run_dir = str(stack.run_dir)
    files = [f for f in _files_containing("hypothesis") if "/unit/" in f]
    if props.check(bool(files), "no hypothesis test module found under tests/unit"):
        _pytest(props, "properties", [*files, "-m", "slow or not slow"])
    results.append(props)
    return results


def scenario_security(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult("9", "security: tokens, cron secret, restore, no pickle, secrets")
    result.run_dir = str(stack.run_dir)
    _pytest(result, "security", ["tests/security", "-m", "slow or not slow"])
    return [result]
