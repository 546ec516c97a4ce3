"""Railway configuration, checked without a Railway account.

The default path is config as code, one file per service under ``deploy/railway/`` (each
selected by its service's config file path), with no root ``railway.json``/``railway.toml``
that Railway would apply to every service. The alternative, ``deploy/railway/railway.py``
(infrastructure as code), is evaluated as the Railway CLI would (``main(ctx)``) and must
describe the same services; it stays out of ``.railway/``, where the CLI would find it on
its own. Both build from the hashed lock file; every command resolves in this repository.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from railway_sdk import create_railway_context

from pantheon.config import Settings
from pantheon.worker.queues import QUEUES
from tests.commands import parse_pantheon, pipeline, resolve, split

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "railway"
SERVICES = ("web", "worker", "beat")
JSON_FILES = tuple(f"deploy/railway/{name}.json" for name in SERVICES)
IAC_FILE = DEPLOY / "railway.py"

# Keys of Railway's config-as-code schema (https://railway.com/railway.schema.json).
TOP_KEYS = {"$schema", "build", "deploy", "environments"}
BUILD_KEYS = {
    "builder",
    "buildCommand",
    "watchPatterns",
    "dockerfilePath",
    "nixpacksConfigPath",
    "nixpacksPlan",
    "nixpacksVersion",
    "buildEnvironment",
}
DEPLOY_KEYS = {
    "startCommand",
    "preDeployCommand",
    "numReplicas",
    "healthcheckPath",
    "healthcheckTimeout",
    "restartPolicyType",
    "restartPolicyMaxRetries",
    "cronSchedule",
    "sleepApplication",
    "region",
    "multiRegionConfig",
    "overlapSeconds",
    "drainingSeconds",
    "requiredMountPath",
    "runtime",
    "limitOverride",
    "useLegacyStacker",
    "ipv6EgressEnabled",
    "registryCredentials",
}
BUILDERS = {"RAILPACK", "NIXPACKS", "DOCKERFILE", "HEROKU", "PAKETO"}
RESTART_POLICIES = {"ON_FAILURE", "ALWAYS", "NEVER"}
INTEGER_KEYS = {
    "numReplicas",
    "healthcheckTimeout",
    "restartPolicyMaxRetries",
    "overlapSeconds",
    "drainingSeconds",
}


def load_railway_module() -> Any:
    spec = importlib.util.spec_from_file_location("railway_config", IAC_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph() -> dict[str, Any]:
    module = load_railway_module()
    result: dict[str, Any] = module.main(
        create_railway_context(environment="production")
    ).to_graph()
    return result


def by_name(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in graph["resources"]}


def test_graph_has_the_two_resources_and_three_services(graph: dict[str, Any]) -> None:
    nodes = by_name(graph)
    databases = {n["engine"] for n in nodes.values() if n["type"] == "database"}
    services = {name for name, n in nodes.items() if n["type"] == "service"}
    assert databases == {"postgres", "redis"}
    assert services == set(SERVICES)


def test_start_commands_and_deploy_settings(graph: dict[str, Any]) -> None:
    nodes = by_name(graph)
    web, worker, beat = (nodes[n]["deploy"] for n in ("web", "worker", "beat"))
    assert split(web["startCommand"])[:2] == ["pantheon", "serve"]
    assert web["healthcheckPath"] == "/api/health"
    assert web["preDeployCommand"] == ["pantheon db upgrade"]
    assert split(worker["startCommand"])[:2] == ["pantheon", "worker"]
    assert worker["restartPolicyType"] == "ALWAYS"
    assert worker["drainingSeconds"] > 0
    assert split(beat["startCommand"])[:2] == ["pantheon", "beat"]
    assert beat["restartPolicyType"] == "ALWAYS"
    assert beat["numReplicas"] == 1


def test_worker_consumes_every_routed_queue_with_two_processes(graph: dict[str, Any]) -> None:
    argv = split(by_name(graph)["worker"]["deploy"]["startCommand"])
    args = parse_pantheon(argv[1:])
    queues = getattr(args, "queues", None)
    # No --queues means all three (the CLI's default); named ones must be all three.
    if queues:
        named = queues.split(",") if isinstance(queues, str) else list(queues)
        assert sorted(named) == sorted(QUEUES)
    assert int(args.concurrency) == 2


def test_variables_reference_the_resources(graph: dict[str, Any]) -> None:
    nodes = by_name(graph)
    postgres = next(n for n in nodes.values() if n.get("engine") == "postgres")
    redis = next(n for n in nodes.values() if n.get("engine") == "redis")
    for name in ("web", "worker", "beat"):
        variables = nodes[name]["variables"]
        assert variables["DATABASE_URL"] == {
            "type": "reference",
            "resource": postgres["address"],
            "output": "DATABASE_URL",
        }
        assert variables["REDIS_URL"] == {
            "type": "reference",
            "resource": redis["address"],
            "output": "REDIS_URL",
        }
        assert variables["PANTHEON_CHECKPOINT_STORE"] == {"type": "literal", "value": "database"}
        assert variables["PANTHEON_ENV"]["value"] == "production"
        # No secret is written into the file: preserved, or referenced from the web service.
        assert variables["PANTHEON_API_TOKEN"]["type"] in {"preserve", "reference"}
    assert nodes["web"]["variables"]["PANTHEON_EMBEDDED_SCHEDULER"]["value"] == "false"


def test_variable_names_are_settings_aliases(graph: dict[str, Any]) -> None:
    aliases = {str(f.validation_alias) for f in Settings.model_fields.values()}
    for node in by_name(graph).values():
        for name in node.get("variables", {}):
            assert name in aliases, f"{node['name']}: {name} is not a Settings variable"


def test_every_start_command_resolves(graph: dict[str, Any]) -> None:
    for node in by_name(graph).values():
        deploy = node.get("deploy", {})
        if node["type"] != "service":
            continue
        resolve(deploy["startCommand"])
        for command in deploy.get("preDeployCommand", []):
            resolve(command)


@pytest.mark.parametrize("name", JSON_FILES)
def test_config_as_code_uses_only_known_keys(name: str) -> None:
    config = json.loads((ROOT / name).read_text(encoding="utf-8"))
    assert set(config) <= TOP_KEYS
    assert set(config.get("build", {})) <= BUILD_KEYS
    deploy = config["deploy"]
    assert set(deploy) <= DEPLOY_KEYS, set(deploy) - DEPLOY_KEYS
    assert config.get("build", {}).get("builder", "RAILPACK") in BUILDERS
    assert deploy.get("restartPolicyType", "ON_FAILURE") in RESTART_POLICIES
    for key in INTEGER_KEYS & set(deploy):
        # Railway's parser refuses numbers written as strings.
        assert isinstance(deploy[key], int), key
        assert not isinstance(deploy[key], bool), key
    assert isinstance(deploy.get("preDeployCommand", []), list)


@pytest.mark.parametrize("name", JSON_FILES)
def test_config_as_code_commands_resolve(name: str) -> None:
    deploy = json.loads((ROOT / name).read_text(encoding="utf-8"))["deploy"]
    resolve(deploy["startCommand"])
    for command in deploy.get("preDeployCommand", []):
        resolve(command)


def test_config_as_code_matches_the_iac_file(graph: dict[str, Any]) -> None:
    nodes = by_name(graph)
    for name, service in zip(JSON_FILES, SERVICES, strict=True):
        config = json.loads((ROOT / name).read_text(encoding="utf-8"))
        deploy, iac = config["deploy"], nodes[service]["deploy"]
        for key in (
            "startCommand",
            "preDeployCommand",
            "restartPolicyType",
            "restartPolicyMaxRetries",
            "drainingSeconds",
            "healthcheckPath",
            "healthcheckTimeout",
            "numReplicas",
        ):
            assert deploy.get(key) == iac.get(key), f"{name} and railway.py differ on {key}"
        assert config["build"] == nodes[service]["build"], f"{name}: another build than IaC"


def test_no_config_file_applies_to_every_service_by_itself() -> None:
    """Railway reads a root ``railway.json``/``railway.toml`` for a service with no config
    file path set (docs.railway.com/config-as-code/reference), and the CLI finds
    ``.railway/railway.py`` by itself (docs.railway.com/cli/config): neither may exist, so
    each service is managed by exactly the path its operator chose."""
    for name in ("railway.json", "railway.toml", ".railway/railway.py", ".railway/railway.ts"):
        assert not (ROOT / name).exists(), f"{name} would apply without being chosen"


@pytest.mark.parametrize("name", JSON_FILES)
def test_every_build_installs_the_hashed_lock(name: str) -> None:
    build = json.loads((ROOT / name).read_text(encoding="utf-8"))["build"]
    assert build["builder"] == "RAILPACK"
    steps = pipeline(build["buildCommand"])
    lock_install = steps[0]
    assert lock_install[:4] == ["python", "-m", "pip", "install"]
    assert "--require-hashes" in lock_install
    assert lock_install[lock_install.index("-r") + 1] == "requirements.lock"
    assert (ROOT / "requirements.lock").is_file()
    # The package itself after the lock, adding nothing the lock does not pin.
    assert steps[1][:4] == ["python", "-m", "pip", "install"]
    assert "--no-deps" in steps[1]
    assert steps[1][-1] == "."
    resolve(build["buildCommand"])


def test_a_broken_command_is_caught() -> None:
    with pytest.raises(AssertionError):
        resolve("pantheon no-such-command")
    with pytest.raises(AssertionError):
        resolve("pantheon worker --queues training_fast,training_nowhere")
    with pytest.raises(AssertionError):
        resolve("celery -A pantheon.worker.celery_app worker -Q nowhere")
