"""The influenciae drop-in: `compute_influence_values` yields (batch, scores) in input order and
`compute_top_k_from_training_dataset` returns influenciae's (samples, values) plus the indices —
the same as `wbound score` and `wbound top-k`."""

from __future__ import annotations

import enum

import numpy as np
import pytest

import wbound
from conftest import cli_top_k, fixture


@pytest.fixture(scope="module")
def calc():
    return wbound.WeightsBoundaryCalculator(wbound.Model(fixture("cnn/model.onnx")), step_nbr=100, norm_type=2, eps=1e-6)


@pytest.fixture(scope="module")
def x():
    return np.load(fixture("cnn/x.npy"))


def test_influence_values_come_in_input_order_and_equal_score(calc, x):
    pairs = list(calc.compute_influence_values(x, batch_size=64))
    assert [len(b) for b, _ in pairs] == [64, 64, 64, 64, 44]
    np.testing.assert_array_equal(np.concatenate([b for b, _ in pairs]), x)
    scores = np.concatenate([s for _, s in pairs])
    np.testing.assert_array_equal(scores, wbound.score(fixture("cnn/model.onnx"), x, progress=False)["score"].to_numpy())


def test_an_iterable_of_batches_gives_the_same_scores(calc, x):
    want = np.concatenate([s for _, s in calc.compute_influence_values(x)])
    chunks = [x[i : i + 37] for i in range(0, len(x), 37)]
    got = list(calc.compute_influence_values(iter(chunks)))
    assert all(b is c for (b, _), c in zip(got, chunks))
    np.testing.assert_array_equal(np.concatenate([s for _, s in got]), want)
    pairs = ((c, np.zeros(len(c))) for c in chunks)  # (x, y) batches, as tf.data and DataLoader yield
    np.testing.assert_array_equal(np.concatenate([s for _, s in calc.compute_influence_values(pairs)]), want)


def test_an_array_is_checked_as_a_whole_first(calc, x):
    bad = x.copy()
    bad[200, 0, 0, 0] = np.inf
    with pytest.raises(wbound.DataError, match="^sample 200 holds a non-finite value"):
        next(iter(calc.compute_influence_values(bad, batch_size=64)))


@pytest.mark.parametrize("order", ["descending", "ascending"])
def test_top_k_equals_the_cli_top_k(cli, calc, x, order):
    samples, values, indices = calc.compute_top_k_from_training_dataset(x, 10, order=order)
    want_indices, want_scores = cli_top_k(
        cli, "--model", fixture("cnn/model.onnx"), "--inputs", fixture("cnn/x.npy"), "-k", 10, "--order", order
    )
    assert indices.tolist() == want_indices
    np.testing.assert_array_equal(values, want_scores)
    np.testing.assert_array_equal(samples, x[indices])
    assert samples.shape == (10, 8, 8, 1) and samples.dtype == np.float32


def test_top_k_of_an_iterable_equals_top_k_of_the_array(calc, x):
    want = calc.compute_top_k_from_training_dataset(x, 7)
    got = calc.compute_top_k_from_training_dataset((x[i : i + 50] for i in range(0, 300, 50)), 7)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_influenciae_order_enum_and_norm_types(x):
    class ORDER(enum.Enum):  # influenciae's deel.influenciae.utils.sorted_dict.ORDER
        DESCENDING = 1
        ASCENDING = 2

    calc = wbound.WeightsBoundaryCalculator(fixture("cnn/model.onnx"))
    a = calc.compute_top_k_from_training_dataset(x, 3, ORDER.ASCENDING)
    b = calc.compute_top_k_from_training_dataset(x, 3, "ascending")
    np.testing.assert_array_equal(a[2], b[2])
    l_inf = wbound.WeightsBoundaryCalculator(fixture("cnn/model.onnx"), norm_type=np.inf, step_nbr=3)
    got = np.concatenate([s for _, s in l_inf.compute_influence_values(x[:20])])
    want = wbound.score(fixture("cnn/model.onnx"), x[:20], norm="inf", steps=3, progress=False)["score"].to_numpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(wbound.SettingError, match="unknown order"):
        calc.compute_top_k_from_training_dataset(x, 3, "sideways")
    with pytest.raises(wbound.SettingError, match="invalid k: must be at least 1"):
        calc.compute_top_k_from_training_dataset(x, 0)


def test_a_torch_data_loader_and_tensors(calc, x):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    want = np.concatenate([s for _, s in calc.compute_influence_values(x)])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(len(x))), batch_size=64)
    np.testing.assert_array_equal(np.concatenate([s for _, s in calc.compute_influence_values(loader)]), want)
    np.testing.assert_array_equal(np.concatenate([s for _, s in calc.compute_influence_values(torch.from_numpy(x))]), want)


def test_a_tf_data_dataset(calc, x):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed")
    want = np.concatenate([s for _, s in calc.compute_influence_values(x)])
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(32)
    np.testing.assert_array_equal(np.concatenate([s for _, s in calc.compute_influence_values(dataset)]), want)
    samples, values, indices = calc.compute_top_k_from_training_dataset(dataset, 5)
    np.testing.assert_array_equal(samples, x[indices])
