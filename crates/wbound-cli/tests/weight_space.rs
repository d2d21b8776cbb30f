//! The weight space made visible: `inspect` lists every float tensor that does not move and why,
//! and `score` warns when such constants hold more than 1% of the model's floats (issue 10 item 5).

mod common;

use common::{fixture, wbound};

fn run(args: &[&str]) -> (String, String) {
    let out = wbound().args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn an_exporter_named_scale_is_listed_and_warned_about() {
    let model = fixture("weightspace/scaled.onnx");
    let (text, _) = run(&["inspect", "--model", model.to_str().unwrap()]);
    let fixed = text.split("not moved:").nth(1).unwrap_or_default();
    assert!(fixed.contains("onnx::Mul_7") && fixed.contains("exporter-generated name"), "{text}");
    let x = fixture("weightspace/x.npy");
    let (_, err) = run(&["score", "--quiet", "--model", model.to_str().unwrap(), "--inputs", x.to_str().unwrap()]);
    assert!(err.contains("16 of the model's 80 float values (20.0%, in 1 tensor) stay fixed"), "{err}");
    // Selecting it by name moves it, and the warning goes.
    let (_, err) = run(&[
        "score",
        "--quiet",
        "--params",
        "*",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
    ]);
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_scale_with_a_parameter_name_moves_without_a_warning() {
    let model = fixture("weightspace/layer_scale.onnx");
    let (text, _) = run(&["inspect", "--model", model.to_str().unwrap()]);
    let moved = text.split("not moved:").next().unwrap_or_default();
    assert!(moved.contains("blocks.0.gamma") && moved.contains("operand with a parameter's name"), "{text}");
    assert!(text.contains("trainable: 80 values"), "{text}");
    let x = fixture("weightspace/x.npy");
    let (_, err) = run(&["score", "--quiet", "--model", model.to_str().unwrap(), "--inputs", x.to_str().unwrap()]);
    assert!(!err.contains("warning"), "{err}");
}
