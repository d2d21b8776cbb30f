"""`Model.from_torch` and `Model.from_keras`: against independent references of the score —
tools/wb_torch.py (torch.func) for PyTorch, the closed form of the last layer for Keras — and the
message that says what to install when the framework is absent."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import wbound
from conftest import ROOT


def test_without_torch_it_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        wbound.Model.from_torch(object(), np.zeros((1, 3)))


def test_without_tensorflow_it_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match="pip install tensorflow tf2onnx"):
        wbound.Model.from_keras(object())


def small_cnn(torch):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 3 * 3, 5),
    )
    # Running statistics and affine parameters away from their defaults, as after training.
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net.train()  # from_torch must export it in eval mode and give the mode back


def test_from_torch_keeps_batchnorm_and_scores_as_the_torch_reference():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed (torch.onnx needs it)")
    sys.path.insert(0, str(ROOT / "tools"))
    from wb_torch import wb_scores

    net = small_cnn(torch)
    x = torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    model = wbound.Model.from_torch(net, x[:1])
    assert net.training, "the module's mode is restored"
    info = model.inspect()
    assert "BatchNormalization" in info["ops"]
    assert model.input_shape == (1, 12, 12) and model.num_classes == 5
    assert sum(model.parameters.values()) == sum(p.numel() for p in net.parameters())
    got = wbound.score(model, x.numpy(), progress=False)["score"].to_numpy()
    # The reference in float64: in float32 it differs from itself in float64 by up to 1.3e-4
    # relative on a sample that stops on the boundary after 1 or 2 steps (float noise in the
    # stopping test), wbound by at most 3.7e-5.
    want, _, _ = wb_scores(net, x, dtype=torch.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    folded = wbound.Model.from_torch(net, x[:1].numpy(), keep_batchnorm=False)
    assert "BatchNormalization" not in folded.inspect()["ops"]


def test_from_keras_scores_the_last_layer_in_closed_form():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed")
    pytest.importorskip("tf2onnx", reason="tf2onnx is not installed")
    keras = tf.keras
    keras.utils.set_random_seed(0)
    net = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", bias_initializer="ones"),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu", bias_initializer="ones"),
        keras.layers.Dense(3, bias_initializer="ones"),
    ])
    model = wbound.Model.from_keras(net)
    assert model.input_shape == (8, 8, 1) and model.num_classes == 3
    assert sum(model.parameters.values()) == net.count_params()
    x = np.random.default_rng(0).random((30, 8, 8, 1), dtype=np.float32)
    got = wbound.score(model, x, params="last", progress=False)["score"].to_numpy()
    # Logits h·W + b of the last layer: the gradient of f_k − f_c with respect to (W, b) is
    # (h ⊗ (e_k − e_c), e_k − e_c), of squared norm 2(‖h‖² + 1); one step lands on the boundary.
    h = keras.Model(net.inputs, net.layers[-2].output)(x).numpy().astype(np.float64)
    f = net(x).numpy().astype(np.float64)
    c = f.argmax(1)
    gap = np.abs(f - f[np.arange(len(f)), c][:, None])
    gap[np.arange(len(f)), c] = np.inf
    want = -gap.min(1) / np.sqrt(2 * ((h * h).sum(1) + 1))
    np.testing.assert_allclose(got, want, rtol=1e-4)
