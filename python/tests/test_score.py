"""`wbound.score`: the CLI's columns and values, exactly, on the reference fixtures and with every
setting; each error is the exception of its kind with the library's message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import wbound
from conftest import assert_frame_equals_cli, cli_csv, fixture, run_cli


@pytest.mark.parametrize("case", ["linear", "mlp", "cnn"])
def test_scores_equal_the_cli_csv_exactly(cli, case):
    model, x = fixture(f"{case}/model.onnx"), fixture(f"{case}/x.npy")
    df = wbound.score(model, np.load(x), progress=False)
    assert_frame_equals_cli(df, cli_csv(cli, "--model", model, "--inputs", x))
    assert len(df) == len(np.load(x)) and df["index"].tolist() == list(range(len(df)))


@pytest.mark.parametrize("case", ["bert/legacy", "densenet/dynamo", "lstm/legacy"])
def test_architecture_fixtures_equal_the_cli(cli, case):
    # Token ids (BERT, int64 x.npy) and image models, prediction and label reference.
    model, x, y = fixture(f"arch/{case}.onnx"), fixture(f"arch/{case.split('/')[0]}/x.npy"), fixture(f"arch/{case.split('/')[0]}/y.npy")
    for reference in ["prediction", "label"]:
        df = wbound.score(model, np.load(x), np.load(y), reference=reference, progress=False)
        flags = ["--model", model, "--inputs", x, "--labels", y, "--reference", reference]
        assert_frame_equals_cli(df, cli_csv(cli, *flags))


@pytest.mark.parametrize(
    "settings, flags",
    [
        (dict(norm=np.inf, steps=5), ["--norm", "inf", "--steps", "5"]),
        (dict(norm=1, params="last"), ["--norm", "1", "--params", "last"]),
        (dict(params="*MatMul*", eps=1e-3, batch_size=7, threads=1), ["--params", "*MatMul*", "--eps", "1e-3", "--batch-size", "7", "--threads", "1"]),
    ],
)
def test_settings_mean_what_the_flags_mean(cli, settings, flags):
    model, x = fixture("mlp/model.onnx"), fixture("mlp/x.npy")
    df = wbound.score(model, np.load(x)[:60], progress=False, **settings)
    want = cli_csv(cli, "--model", model, "--inputs", x, *flags)
    assert_frame_equals_cli(df, {k: v[:60] for k, v in want.items()})


def test_label_reference_equals_the_cli(cli):
    model, x, y = fixture("mlp/model.onnx"), fixture("mlp/x.npy"), fixture("mlp/y.npy")
    df = wbound.score(model, np.load(x), np.load(y), reference="label", progress=False)
    assert_frame_equals_cli(df, cli_csv(cli, "--model", model, "--inputs", x, "--labels", y, "--reference", "label"))


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint8])
def test_any_float_or_int_dtype_is_converted_as_the_cli_does(cli, tmp_path, dtype):
    x = (np.load(fixture("mlp/x.npy"))[:40] * 3).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, x)
    df = wbound.score(fixture("mlp/model.onnx"), x, progress=False)
    assert_frame_equals_cli(df, cli_csv(cli, "--model", fixture("mlp/model.onnx"), "--inputs", path))


def test_a_float32_array_is_used_without_a_copy():
    from wbound import _arrays

    x = np.load(fixture("mlp/x.npy"))
    assert _arrays.samples(x) is x or np.shares_memory(_arrays.samples(x), x)
    assert not np.shares_memory(_arrays.samples(x.astype(np.float64)), x)


def test_skip_invalid_marks_nan_samples_as_the_cli_does(cli, tmp_path):
    x = np.load(fixture("mlp/x.npy"))[:10].copy()
    x[3, 5] = np.nan
    path = tmp_path / "x.npy"
    np.save(path, x)
    df = wbound.score(fixture("mlp/model.onnx"), x, skip_invalid=True, progress=False)
    assert df.loc[3, "status"] == "invalid_input" and pd.isna(df.loc[3, "original_class"])
    assert str(df["original_class"].dtype) == "Int64"
    assert_frame_equals_cli(df, cli_csv(cli, "--model", fixture("mlp/model.onnx"), "--inputs", path, "--skip-invalid"))


def test_columns_come_from_the_library():
    assert wbound.COLUMNS == ("index", "score", "distance", "steps", "status", "original_class", "final_class")


# --- errors: the exception of each kind, with the message the CLI prints -------------------------


def cli_error(cli, *args) -> tuple[int, str]:
    r = run_cli(cli, "score", "--quiet", *args, ok=False)
    assert r.stderr.startswith("error: "), r.stderr
    return r.returncode, r.stderr[len("error: ") :].strip()


def test_a_wrong_sample_shape_is_a_value_error_with_both_shapes(cli):
    x = np.load(fixture("bad/wrong_shape.npy"))
    with pytest.raises(ValueError) as e:
        wbound.score(fixture("mlp/model.onnx"), x)
    assert isinstance(e.value, wbound.DataError)
    assert "[63]" in str(e.value) and "[64]" in str(e.value)
    code, msg = cli_error(cli, "--model", fixture("mlp/model.onnx"), "--inputs", fixture("bad/wrong_shape.npy"))
    # The CLI's message is the library's, then what to do with the CLI's flags.
    assert code == 1 and msg.startswith(f"{fixture('bad/wrong_shape.npy')}: {e.value}; "), msg


def test_nan_in_a_sample_names_it(cli):
    x = np.load(fixture("bad/nan.npy"))
    with pytest.raises(wbound.DataError) as e:
        wbound.score(fixture("mlp/model.onnx"), x)
    assert str(e.value).startswith("sample 2 holds a non-finite value (NaN)")
    code, msg = cli_error(cli, "--model", fixture("mlp/model.onnx"), "--inputs", fixture("bad/nan.npy"))
    assert code == 1 and msg == f"{fixture('bad/nan.npy')}: {e.value} (--skip-invalid)"


@pytest.mark.parametrize(
    "settings, flag, value",
    [(dict(eps=-1.0), "--eps", "-1"), (dict(params="nothing*"), "--params", "nothing*")],
)
def test_bad_settings_are_value_errors_named_as_the_cli_names_its_flag(cli, settings, flag, value):
    with pytest.raises(ValueError) as e:
        wbound.score(fixture("mlp/model.onnx"), np.load(fixture("mlp/x.npy")), **settings)
    assert isinstance(e.value, wbound.SettingError)
    name = next(iter(settings))
    assert str(e.value).startswith(f"invalid {name}: ")
    code, msg = cli_error(cli, "--model", fixture("mlp/model.onnx"), "--inputs", fixture("mlp/x.npy"), flag, value)
    assert code == 2 and msg == str(e.value).replace(f"invalid {name}:", f"invalid {flag}:", 1)


def test_other_bad_arguments():
    x = np.load(fixture("mlp/x.npy"))[:5]
    model = fixture("mlp/model.onnx")
    with pytest.raises(wbound.SettingError, match="unknown norm '3'"):
        wbound.score(model, x, norm=3)
    with pytest.raises(wbound.SettingError, match="invalid reference: .*needs a data set with one label per sample"):
        wbound.score(model, x, reference="label")
    with pytest.raises(wbound.DataError, match="sample 1 has label 10, but the model has 10 classes"):
        wbound.score(model, x, [0, 10, 0, 0, 0])
    with pytest.raises(wbound.DataError, match="4 labels given for 5 samples"):
        wbound.score(model, x, [0, 1, 2, 3])
    with pytest.raises(wbound.DataError, match="dtype complex128"):
        wbound.score(model, x.astype(np.complex128))
    with pytest.raises(wbound.DataError, match="zero samples"):
        wbound.score(model, x[:0])
    with pytest.raises(wbound.SettingError, match="invalid threads: must be at least 1"):
        wbound.score(model, x, threads=0)


def checkpoints():
    """Two checkpoints of the reference MLP: itself and its weights scaled by 0.9, with its data."""
    model = wbound.Model(fixture("mlp/model.onnx"))
    scaled = model.with_weights({name: 0.9 * w for name, w in model.weights().items()})
    return [model, scaled], np.load(fixture("mlp/x.npy")), np.load(fixture("mlp/y.npy"))


def test_several_checkpoints_score_the_mean_label_referenced_score(cli, tmp_path):
    models, x, y = checkpoints()
    df = wbound.score(models, x, y, per_checkpoint=True, progress=False)
    assert list(df.columns) == [*wbound.CHECKPOINT_COLUMNS, "score_1", "score_2"]
    for k, m in enumerate(models):
        one = wbound.score(m, x, y, reference="label", progress=False)
        assert df[f"score_{k + 1}"].tolist() == one.score.tolist()
    assert df.score.tolist() == ((df.score_1 + df.score_2) / 2).tolist()
    assert (df.label == y).all()
    # The CLI on the same checkpoints writes the same rows.
    scaled = tmp_path / "scaled.onnx"
    scaled.write_bytes(models[1].to_bytes())
    csv = cli_csv(cli, "--model", fixture("mlp/model.onnx"), scaled, "--inputs", fixture("mlp/x.npy"),
                  "--labels", fixture("mlp/y.npy"), "--per-checkpoint")
    assert df.score.tolist() == [float(v) for v in csv["score"]]
    assert df.suggested_label.tolist() == [int(v) for v in csv["suggested_label"]]


def test_weights_give_the_checkpoints_they_hold():
    models, x, y = checkpoints()
    as_list = wbound.score(models, x[:40], y[:40], progress=False)
    weights = [m.weights() for m in models]
    by_weights = wbound.score(models[0], x[:40], y[:40], weights=weights, progress=False)
    pd.testing.assert_frame_equal(as_list, by_weights)


def test_checkpoint_errors_say_what_to_do():
    models, x, y = checkpoints()
    with pytest.raises(wbound.SettingError, match="2 checkpoints are scored against the labels"):
        wbound.score(models, x, progress=False)
    with pytest.raises(wbound.SettingError, match="reference='label'"):
        wbound.score(models, x, y, reference="prediction", progress=False)
    with pytest.raises(wbound.SettingError, match="apply to several checkpoints"):
        wbound.score(models[0], x, y, per_checkpoint=True, progress=False)
    with pytest.raises(wbound.ModelError, match="match no initializer of the model: 'bn.weight'"):
        models[0].with_weights({**models[0].weights(), "bn.weight": np.ones(3, np.float32)})
    with pytest.raises(wbound.ModelError, match="no tensor for 1 of the model's parameters"):
        w = models[0].weights()
        w.pop(next(iter(w)))
        models[0].with_weights(w)
    other = wbound.Model(fixture("linear/model.onnx"))
    with pytest.raises(wbound.ModelError, match="is not the same model as"):
        wbound.score([models[0], other], x, y, progress=False)
