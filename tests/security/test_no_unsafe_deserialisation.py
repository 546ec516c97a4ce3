"""No code path unpickles data from the broker, the database or a file.

An AST scan of every module under ``src/pantheon``: no import of the object-deserialising
modules, no ``yaml.load``/``yaml.unsafe_load``, every ``numpy.load`` with
``allow_pickle=False``; Celery accepts JSON only; the checkpoint loader refuses an npz that
holds a pickled object array.
"""

from __future__ import annotations

import ast
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pantheon.config import Settings
from pantheon.errors import CheckpointError
from pantheon.learning import checkpoint
from pantheon.learning.kernel import Kernel
from pantheon.worker.celery_app import celery_config

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "pantheon"
FORBIDDEN_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "joblib",
    "jsonpickle",
}
FORBIDDEN_CALLS = {
    ("yaml", "load"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("torch", "load"),
    ("pandas", "read_pickle"),
    ("pd", "read_pickle"),
}


def python_files() -> list[Path]:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20, "the scan found too few modules to be looking at the package"
    return files


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def scan(tree: ast.AST) -> list[str]:
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [
                f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"from {node.module} import ...")
            if node.module == "numpy" and any(a.name == "load" for a in node.names):
                problems.append("from numpy import load (use np.load with allow_pickle=False)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            parts = tuple(name.rsplit(".", 1)) if "." in name else ("", name)
            if parts in FORBIDDEN_CALLS:
                problems.append(f"{name}(...)")
            if name in ("np.load", "numpy.load"):
                flags = {k.arg: k.value for k in node.keywords}
                value = flags.get("allow_pickle")
                if not (isinstance(value, ast.Constant) and value.value is False):
                    problems.append(f"{name}(...) without allow_pickle=False")
            if name in ("__import__", "importlib.import_module") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and str(arg.value) in FORBIDDEN_MODULES:
                    problems.append(f"{name}({arg.value!r})")
    return problems


def test_scanner_catches_what_it_looks_for() -> None:
    bad = (
        "import pickle\nfrom marshal import loads\nimport yaml\nyaml.load(s)\n"
        "import numpy as np\nnp.load(f)\nnp.load(f, allow_pickle=True)\n"
        "__import__('dill')\n"
    )
    assert len(scan(ast.parse(bad))) == 6
    assert scan(ast.parse("import numpy as np\nnp.load(f, allow_pickle=False)\n")) == []


def test_no_module_deserialises_objects() -> None:
    found = {}
    for path in python_files():
        problems = scan(ast.parse(path.read_text(), filename=str(path)))
        if problems:
            found[str(path.relative_to(SRC))] = problems
    assert found == {}


def test_celery_accepts_json_only(tmp_path: Path) -> None:
    conf = celery_config(Settings(env="test", data_dir=tmp_path))
    assert conf["accept_content"] == ["json"]
    assert conf["task_serializer"] == "json"
    assert conf["result_serializer"] == "json"
    assert conf.get("result_accept_content", ["json"]) == ["json"]


def test_checkpoint_loader_refuses_a_pickled_array() -> None:
    good = checkpoint.dumps(Kernel("zeus"))
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        names = archive.namelist()
    # Rebuild the same archive with one member replaced by an object (pickled) array.
    target = next(n for n in names if n.endswith(".npy"))
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in names:
            if name == target:
                member = io.BytesIO()
                np.save(member, np.array([{"boom": 1}], dtype=object), allow_pickle=True)
                dst.writestr(name, member.getvalue())
            else:
                dst.writestr(name, src.read(name))
    with pytest.raises(CheckpointError):
        checkpoint.loads(buf.getvalue())
