"""`wbound.Model`: sources (path, PathLike, bytes), shapes, parameters, `inspect()` as `wbound
inspect` prints it, and each load error as the exception of its kind with the CLI's message."""

from __future__ import annotations

import pathlib
import re

import pytest

import wbound
from conftest import fixture, run_cli


@pytest.mark.parametrize("kind", [str, pathlib.Path, "bytes", "bytearray"])
def test_every_kind_of_source_loads_the_same_model(kind):
    path = fixture("cnn/model.onnx")
    source = {"bytes": path.read_bytes(), "bytearray": bytearray(path.read_bytes())}.get(kind) or kind(path)
    model = wbound.Model(source)
    assert model.input_shape == (8, 8, 1) and model.num_classes == 10
    assert sum(model.parameters.values()) == 3818
    assert model.to_bytes() == path.read_bytes()
    assert model.path == (None if kind in ("bytes", "bytearray") else str(path))


@pytest.mark.parametrize("name", ["cnn/model.onnx", "arch/densenet/legacy.onnx", "arch/bert/dynamo.onnx", "arch/gru/legacy.onnx"])
def test_inspect_reports_what_the_cli_prints(cli, name):
    path = fixture(name)
    info = wbound.Model(path).inspect()
    text = run_cli(cli, "inspect", "--model", path).stdout
    assert f"producer: {info['producer']}  opset: {info['opset']}" in text
    for op, entry in info["ops"].items():
        assert re.search(rf"^  {op}\s+{entry['count']}$", text, re.M), op
    assert f"input:  {info['input']['name']} [N, {', '.join(map(str, info['input']['shape']))}]" in text
    assert f"({info['output']['classes']} classes)" in text
    moved, fixed = text.split("parameters (moved by DeepFool):")[1].split("not moved:")
    for p in info["parameters"]:
        row = rf"^  {re.escape(p['name'])}\s+{re.escape(str(list(p['shape'])))}\s+{p['count']}  {re.escape(p['why'])}$"
        assert re.search(row, moved if p["role"] == "trainable" else fixed, re.M), p
    for name, count in info["folded_or_unused"].items():
        assert re.search(rf"^  {re.escape(name)}\s+{count}  folded into constants at import, or unused$", fixed, re.M)
    assert f"trainable: {info['trainable']} values" in text
    cost = info["step_multiply_adds"]
    assert f"forward {cost['forward']}, backward {cost['backward']}, gradient norms {cost['norms']}, chosen gradient {cost['gradient']}, total {cost['total']}" in text
    trainable = {p["name"]: p["count"] for p in info["parameters"] if p["role"] == "trainable"}
    assert trainable == wbound.Model(path).parameters


def cli_message(cli, model) -> str:
    r = run_cli(cli, "score", "--model", model, "--inputs", fixture("mlp/x.npy"), ok=False)
    assert r.returncode == 1
    return r.stderr.strip().removeprefix("error: ")


def test_a_missing_file_is_file_not_found_with_the_cli_message(cli):
    path = fixture("nope/model.onnx")
    with pytest.raises(FileNotFoundError) as e:
        wbound.Model(path)
    assert isinstance(e.value, wbound.WboundError)
    assert str(e.value) == cli_message(cli, path)


@pytest.mark.parametrize("name", ["bad/truncated.onnx", "bad/not_onnx.onnx"])
def test_an_invalid_onnx_file_is_a_model_error_with_the_cli_message(cli, name):
    with pytest.raises(wbound.ModelError) as e:
        wbound.Model(fixture(name))
    assert isinstance(e.value, ValueError) and "not a valid ONNX model" in str(e.value)
    assert str(e.value) == cli_message(cli, fixture(name))
    with pytest.raises(wbound.ModelError, match="^not a valid ONNX model"):
        wbound.Model(fixture(name).read_bytes())


def test_unsupported_ops_are_all_named(cli):
    with pytest.raises(wbound.UnsupportedModelError) as e:
        wbound.Model(fixture("bad/unsupported_op.onnx"))
    for want in ["NonZero (2 nodes, first 'encoder/nonzero'", "com.microsoft:Attention (1 node, first 'encoder/attention'"]:
        assert want in str(e.value)
    assert str(e.value) == cli_message(cli, fixture("bad/unsupported_op.onnx"))


def test_a_source_of_another_type_is_a_type_error():
    with pytest.raises(TypeError):
        wbound.Model(42)
