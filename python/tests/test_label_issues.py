"""`wbound.find_label_issues`: the label-referenced ranking (the CLI's `--reference label`
scores), the documented rule, `frac`, the mask form, and its errors."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import wbound
from wbound import _label_issues
from conftest import cli_csv, fixture


def test_flagged_indices_follow_the_cli_label_scores(cli):
    x, y = np.load(fixture("mlp/x.npy")), np.load(fixture("mlp/y.npy"))
    # Relabel 20 samples to a class the model does not predict: the model disagrees with them.
    y = y.copy()
    y[:20] = (y[:20] + 1) % 10
    issues = wbound.find_label_issues(y, x=x, model=fixture("mlp/model.onnx"), progress=False)
    assert sorted(issues.tolist()) == list(range(20))
    path = fixture("mlp/x.npy")
    with tempfile.TemporaryDirectory() as d:
        labels = os.path.join(d, "y.npy")
        np.save(labels, y)
        scores = np.array([float(s) for s in cli_csv(cli, "--model", fixture("mlp/model.onnx"), "--inputs", path, "--labels", labels, "--reference", "label")["score"]])
    assert issues.tolist() == sorted(range(20), key=lambda i: (-scores[i], i))
    mask = wbound.find_label_issues(y, x=x, model=fixture("mlp/model.onnx"), return_indices_ranked_by=None, progress=False)
    assert mask.dtype == bool and np.flatnonzero(mask).tolist() == list(range(20))


def test_frac_flags_the_top_of_the_ranking():
    x, y = np.load(fixture("mlp/x.npy")), np.load(fixture("mlp/y.npy"))
    issues = wbound.find_label_issues(y, x=x, model=fixture("mlp/model.onnx"), frac=0.1, progress=False)
    s = wbound.score(fixture("mlp/model.onnx"), x, y, reference="label", progress=False)["score"].to_numpy()
    assert len(issues) == 30 and issues.tolist() == np.argsort(-s, kind="stable")[:30].tolist()


def test_the_rule_on_scores():
    # Disagreement with 1% or more of the labels: exactly those samples.
    s = np.array([-1.0] * 97 + [0.5, 0.2, -1e-9])
    assert np.flatnonzero(_label_issues.flag(s)).tolist() == [97, 98]
    # A memorising model (no disagreement): the log-distance outliers below the median.
    # log distances spread evenly over ±0.1 (median 0, 1.4826 × MAD ≈ 0.074): none is 2 of
    # those below the median but the two at -3.
    d = np.exp(np.linspace(-0.1, 0.1, 200))
    d[[5, 50]] = np.exp(-3.0)
    assert np.flatnonzero(_label_issues.flag(-d)).tolist() == [5, 50]
    assert _label_issues.ranking(np.array([-2.0, np.nan, -1.0, -1.0])).tolist() == [2, 3, 0, 1]


def test_bad_arguments():
    x, y = np.load(fixture("mlp/x.npy")), np.load(fixture("mlp/y.npy"))
    with pytest.raises(wbound.SettingError, match="invalid frac"):
        wbound.find_label_issues(y, x=x, model=fixture("mlp/model.onnx"), frac=1.5, progress=False)
    with pytest.raises(wbound.SettingError, match="return_indices_ranked_by"):
        wbound.find_label_issues(y, x=x, model=fixture("mlp/model.onnx"), return_indices_ranked_by="margin", progress=False)
    with pytest.raises(wbound.DataError, match="labels have dtype"):
        wbound.find_label_issues(y + 0.5, x=x, model=fixture("mlp/model.onnx"), progress=False)
