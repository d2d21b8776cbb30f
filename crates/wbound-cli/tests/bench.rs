//! End-to-end tests of `wbound bench` (on the embedded digits, small budget) and of
//! `wbound score --reference label`.

use assert_cmd::Command;

mod common;
use common::fixture;

#[test]
fn bench_on_digits_writes_table_json_plot_and_models() {
    let dir = tempfile::tempdir().unwrap();
    let (json, plot, models) = (dir.path().join("r.json"), dir.path().join("p.svg"), dir.path().join("models"));
    let out = Command::cargo_bin("wbound")
        .unwrap()
        .args([
            "bench",
            "--dataset",
            "digits",
            "--train-size",
            "300",
            "--epochs",
            "40",
            "--seeds",
            "2",
            "--threads",
            "2",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .arg("--save-model")
        .arg(&models)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    for name in ["wb", "wb-label", "sample-boundary", "loss", "margin", "random", "ROC metric", "AUROC", "P@k"] {
        assert!(stdout.contains(name), "{name} missing from the table:\n{stdout}");
    }
    assert!(stdout.contains(&format!("plot: {}", plot.display())), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["config"]["dataset"], "digits");
    for method in ["wb", "wb-label", "sample-boundary", "loss", "margin", "random"] {
        for figure in ["roc_metric", "auroc", "precision_at_k", "recall_at_5pct", "recall_at_10pct"] {
            let f = &report["methods"][method][figure];
            assert!(f["mean"].as_f64().unwrap().is_finite(), "{method} {figure}: {f}");
            assert!(f["std"].as_f64().unwrap().is_finite(), "{method} {figure}: {f}");
            assert_eq!(f["per_seed"].as_array().unwrap().len(), 2);
        }
    }
    let random = report["methods"]["random"]["roc_metric"]["mean"].as_f64().unwrap();
    assert!((random - 0.5).abs() < 0.1, "random ROC metric {random}");
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
    // The saved model scores with `wbound score` (any [N, 64] input).
    let model = models.join("digits-mlp-seed0.onnx");
    let csv = dir.path().join("s.csv");
    Command::cargo_bin("wbound")
        .unwrap()
        .args(["score", "--model"])
        .arg(&model)
        .arg("--inputs")
        .arg(fixture("mlp/x.npy"))
        .arg("--out")
        .arg(&csv)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 301);
}

#[test]
fn bench_rejects_bad_settings_with_one_line_errors() {
    let out = Command::cargo_bin("wbound")
        .unwrap()
        .args(["bench", "--dataset", "digits", "--data-dir", "/nonexistent", "--plot", "x.png"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: ") && err.contains("digits"), "{err}");
    Command::cargo_bin("wbound").unwrap().args(["bench", "--methods", "wb,nope"]).assert().code(2);
    for noise in ["0", "1", "1.5"] {
        let out = Command::cargo_bin("wbound")
            .unwrap()
            .args(["bench", "--dataset", "digits", "--train-size", "50", "--noise", noise, "--plot", "/tmp/never.png"])
            .assert()
            .code(2) // a setting the library refuses is a usage error
            .get_output()
            .clone();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("noise fraction") && !err.contains("NaN"), "{err}");
    }
    let out = Command::cargo_bin("wbound")
        .unwrap()
        .args(["bench", "--dataset", "digits", "--train-size", "50", "--lr", "nan", "--plot", "/tmp/never.png"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("learning rate"));
}

#[test]
fn score_against_labels_is_signed() {
    let out = Command::cargo_bin("wbound")
        .unwrap()
        .args(["score", "--reference", "label", "--model"])
        .arg(fixture("mlp/model.onnx"))
        .arg("--inputs")
        .arg(fixture("mlp/x.npy"))
        .arg("--labels")
        .arg(fixture("mlp/y.npy"))
        .assert()
        .success()
        .get_output()
        .clone();
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("index,score,distance,steps,status,original_class,final_class"));
    let labels = wbound::data::npy::read_labels(&fixture("mlp/y.npy")).unwrap();
    for (row, &label) in lines.zip(&labels) {
        let cells: Vec<&str> = row.split(',').collect();
        let (score, distance): (f64, f64) = (cells[1].parse().unwrap(), cells[2].parse().unwrap());
        let predicted: i64 = cells[5].parse().unwrap();
        let expected = if predicted == label { -distance } else { distance };
        assert_eq!(score, expected, "{row}");
    }
    // --reference label without labels is a usage error.
    Command::cargo_bin("wbound")
        .unwrap()
        .args(["score", "--reference", "label", "--model"])
        .arg(fixture("mlp/model.onnx"))
        .arg("--inputs")
        .arg(fixture("mlp/x.npy"))
        .assert()
        .code(2);
}
