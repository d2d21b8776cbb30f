"""The docstrings' examples run and print what they say (run from the repository root, where
their paths point)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from conftest import ROOT


@pytest.mark.parametrize("module", ["wbound", "wbound._model", "wbound._score", "wbound._influenciae", "wbound._label_issues"])
def test_docstring_examples(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    m = importlib.import_module(module)
    result = doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result
