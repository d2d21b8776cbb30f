"""The README's Python quick start runs as written and prints the same top rows as `wbound top-k`
on the same model and data (the acceptance test of the package)."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from conftest import ROOT, cli_top_k


def readme_block(heading: str, language: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python\n", 1)[1].split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block after {heading}"
    return match.group(1)


def test_the_quick_start_is_five_lines_from_pip_install():
    install = readme_block("### Quick start", "sh").strip().splitlines()
    code = readme_block("### Quick start", "python").strip().splitlines()
    assert install == ["pip install ./python"] and len(install) + len(code) == 5


def test_the_quick_start_prints_the_cli_top_k(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(readme_block("### Quick start", "python"), {})
    rows = [line.split() for line in out.getvalue().splitlines()[1:]]
    indices, scores = cli_top_k(cli, "--model", "tests/fixtures/mlp/model.onnx", "--inputs", "tests/fixtures/mlp/x.npy", "-k", 10)
    assert [int(r[0]) for r in rows] == indices
    # pandas prints 6 decimals.
    assert [float(r[2]) for r in rows] == pytest.approx(scores, abs=5e-7)
