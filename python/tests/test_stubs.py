"""The type stubs match the runtime API: every signature of `wbound/_wbound.pyi` is the native
module's (parameter names, kinds, defaults), and mypy's stubtest agrees for the whole package when
mypy is installed (`.ci/run` installs it)."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import wbound
from conftest import ROOT
from wbound import _wbound

PACKAGE = Path(wbound.__file__).parent
STUB = PACKAGE / "_wbound.pyi"


def stub_parameters(fn: ast.FunctionDef) -> list[tuple[str, str, object]]:
    """(name, kind, default) of a stub function, `self`/`cls` left out."""
    a = fn.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, d in zip(positional, defaults):
        out.append((arg.arg, "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty if d is None else ast.literal_eval(d)))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "KEYWORD_ONLY", inspect.Parameter.empty if d is None else ast.literal_eval(d)))
    return [p for p in out if p[0] not in ("self", "cls")]


def runtime_parameters(obj) -> list[tuple[str, str, object]]:
    params = inspect.signature(obj).parameters.values()
    return [(p.name, p.kind.name, p.default) for p in params if p.name not in ("self", "cls", "$self", "$cls")]


def stub_classes() -> dict[str, ast.ClassDef]:
    tree = ast.parse(STUB.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def test_every_stub_signature_is_the_runtime_one():
    classes = stub_classes()
    assert set(classes) == {name for name in _wbound.__all__ if isinstance(getattr(_wbound, name), type)}
    for name, cls in classes.items():
        runtime = getattr(_wbound, name)
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            decorators = {ast.unparse(d) for d in fn.decorator_list}
            if "property" in decorators:
                assert isinstance(inspect.getattr_static(runtime, fn.name), type(_wbound.Model.num_classes)), fn.name
                continue
            target = runtime if fn.name == "__new__" else getattr(runtime, fn.name)
            assert stub_parameters(fn) == runtime_parameters(target), f"{name}.{fn.name}"
        public = {m for m in vars(runtime) if not m.startswith("_")}
        assert public == {n.name for n in cls.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}, name


def test_the_package_is_marked_typed():
    assert (PACKAGE / "py.typed").exists()


def test_mypy_stubtest_agrees(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (.ci/run installs it)")
    config = ROOT / "python" / "pyproject.toml"
    args = [sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", str(config), "wbound"]
    # From an empty folder: mypy must see the installed package, not the files around it.
    r = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
