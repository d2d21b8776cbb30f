//! End-to-end tests of the `wbound` binary: outputs, exit codes and one-line errors.

use assert_cmd::Command;
use predicates::prelude::*;

mod common;
use common::{fixture, wbound};

fn score(model: &str, inputs: &str) -> Command {
    let mut cmd = wbound();
    cmd.arg("score").arg("--model").arg(fixture(model)).arg("--inputs").arg(fixture(inputs));
    cmd
}

/// Runs a failing command and returns its stderr after checking the exit code, that the error
/// is one line and that nothing panicked.
fn fails(cmd: &mut Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "panic: {err}");
    if code == 1 {
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    err
}

#[test]
fn score_writes_the_csv_in_input_order_matching_the_reference() {
    let out = score("linear/model.onnx", "linear/x.npy")
        .args(["--threads", "2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("index,score,distance,steps,status,original_class,final_class"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 16);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i.to_string());
        let (score, distance): (f64, f64) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        assert_eq!(score, -distance);
        assert!(["crossed", "on_boundary"].contains(&r[4]), "{r:?}");
    }
    let first: f64 = rows[0][1].parse().unwrap();
    assert!((first + 2.0 * 2f64.sqrt()).abs() < 1e-6);
}

#[test]
fn score_writes_to_a_file_and_honours_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.csv");
    score("mlp/model.onnx", "mlp/x.npy")
        .args(["--norm", "inf", "--steps", "3", "--params", "last", "--batch-size", "7", "--threads", "1", "--out"])
        .arg(&path)
        .assert()
        .success()
        .stdout("");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 301);
    let max_steps = text.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse::<usize>().unwrap()).max().unwrap();
    assert!(max_steps <= 3);
}

#[test]
fn a_summary_of_statuses_goes_to_stderr_unless_quiet() {
    let out = score("linear/model.onnx", "linear/x.npy").assert().success().get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("scored 16 samples") && err.contains("crossed"), "{err}");
    let out = score("linear/model.onnx", "linear/x.npy").arg("--quiet").assert().success().get_output().clone();
    assert!(out.stderr.is_empty());
}

#[test]
fn glob_params_select_by_name() {
    score("mlp/model.onnx", "mlp/x.npy").args(["--params", "*fc2*", "--threads", "1"]).assert().success();
    // A setting the library refuses is a usage error, named by its flag.
    let out = score("mlp/model.onnx", "mlp/x.npy").args(["--params", "nothing*"]).assert().code(2).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: invalid --params: 'nothing*' matches no parameter") && err.contains("fc1"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing is written before the settings are checked");
}

#[test]
fn missing_model_file() {
    let err = fails(&mut score("nope/model.onnx", "mlp/x.npy"), 1);
    assert!(err.contains("nope/model.onnx") && err.contains("No such file"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "the cause is said once: {err}");
}

#[test]
fn truncated_onnx() {
    let err = fails(&mut score("bad/truncated.onnx", "mlp/x.npy"), 1);
    assert!(err.contains("truncated.onnx") && err.contains("not a valid ONNX model"), "{err}");
}

#[test]
fn non_onnx_bytes() {
    let err = fails(&mut score("bad/not_onnx.onnx", "mlp/x.npy"), 1);
    assert!(err.contains("not_onnx.onnx") && err.contains("not a valid ONNX model"), "{err}");
}

#[test]
fn unsupported_ops_are_all_named_in_one_error() {
    let err = fails(&mut score("bad/unsupported_op.onnx", "mlp/x.npy"), 1);
    for want in
        ["NonZero (2 nodes, first 'encoder/nonzero'", "com.microsoft:Attention (1 node, first 'encoder/attention'"]
    {
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn wrong_input_shape_states_both_shapes() {
    let err = fails(&mut score("mlp/model.onnx", "bad/wrong_shape.npy"), 1);
    assert!(err.contains("wrong_shape.npy: ") && err.contains("[63]") && err.contains("[64]"), "{err}");
}

#[test]
fn arrays_are_not_reshaped_behind_the_users_back() {
    let out = score("mlp/model.onnx", "bad/mlp_as_8x8.npy").assert().code(1).get_output().clone();
    assert!(out.stdout.is_empty(), "nothing is written before the shape check");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("[8, 8]") && err.contains("[64]"), "{err}");
}

#[test]
fn nan_inputs_name_the_sample() {
    let err = fails(&mut score("mlp/model.onnx", "bad/nan.npy"), 1);
    assert!(err.contains("nan.npy: sample 2") && err.contains("NaN"), "{err}");
    assert!(err.trim_end().ends_with("marked invalid_input (--skip-invalid)"), "the CLI adds its flag: {err}");
}

#[test]
fn zero_samples() {
    let err = fails(&mut score("mlp/model.onnx", "bad/empty.npy"), 1);
    assert!(err.contains("zero samples"), "{err}");
}

#[test]
fn integer_inputs_are_converted() {
    let out = score("mlp/model.onnx", "bad/int_inputs.npy").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 5);
}

#[test]
fn truncated_npy() {
    let err = fails(&mut score("mlp/model.onnx", "bad/truncated.npy"), 1);
    assert!(err.contains("truncated.npy") && err.contains("truncated"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    fails(score("mlp/model.onnx", "mlp/x.npy").args(["--norm", "3"]), 2);
    let err = fails(score("mlp/model.onnx", "mlp/x.npy").args(["--eps", "-1"]), 2);
    assert_eq!(err.trim_end(), "error: invalid --eps: -1 is not a finite number >= 0");
    fails(score("mlp/model.onnx", "mlp/x.npy").args(["--batch-size", "0"]), 2);
    fails(wbound().args(["score", "--model", "m.onnx"]), 2);
    wbound().arg("--help").assert().success().stdout(predicate::str::contains("score"));
}
