//! The tool under bad numbers and limited resources (docs/RELIABILITY.md): NaN/∞ inputs refused
//! before anything is written or skipped with --skip-invalid, non-finite samples warned about by
//! index while the run goes on, --max-memory, Ctrl-C then --resume, --threads honoured exactly,
//! and byte-identical outputs across runs and thread counts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;

mod common;
use common::{fixture, tiled_cnn32_inputs, wbound, write_npy};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn nan_inputs_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scores.csv");
    let run = wbound()
        .args(["score", "--model"])
        .arg(fixture("mlp/model.onnx"))
        .arg("--inputs")
        .arg(fixture("bad/nan.npy"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = text(&run.stderr);
    assert!(err.contains("sample 2 ") && err.contains("NaN"), "{err}");
    assert!(!out.exists() && !dir.path().join("scores.csv.partial").exists(), "nothing written");
}

#[test]
fn skip_invalid_marks_the_bad_samples_and_scores_the_rest() {
    let run = wbound()
        .args(["score", "--skip-invalid", "--threads", "2", "--model"])
        .arg(fixture("mlp/model.onnx"))
        .arg("--inputs")
        .arg(fixture("bad/nan.npy"))
        .assert()
        .success()
        .get_output()
        .clone();
    let csv = text(&run.stdout);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows[2], "2,NaN,NaN,0,invalid_input,,", "{csv}");
    for (i, row) in rows.iter().enumerate().filter(|(i, _)| *i != 2) {
        let cells: Vec<&str> = row.split(',').collect();
        assert!(cells[1].parse::<f64>().unwrap().is_finite(), "row {i}: {row}");
    }
    let err = text(&run.stderr);
    assert!(err.contains("warning: sample 2: the sample holds NaN"), "{err}");
    assert!(err.contains("1 invalid_input"), "the summary counts it: {err}");
}

#[test]
fn non_finite_samples_are_warned_about_by_index_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("x.npy");
    // The linear test model's first logit is x0 + x1 + 4: it overflows for sample 1.
    write_npy(&inputs, &[3, 3], &[1.0, 2.0, 3.0, 3e38, 3e38, 0.0, 0.0, 0.0, 0.0]);
    let out = dir.path().join("scores.jsonl");
    let run = wbound()
        .args(["score", "--quiet", "--model"])
        .arg(fixture("linear/model.onnx"))
        .arg("--inputs")
        .arg(&inputs)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .get_output()
        .clone();
    let err = text(&run.stderr);
    assert_eq!(err.trim(), "warning: sample 1: non-finite logits or gradients: status non_finite, score NaN");
    let lines: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
    assert!(lines[1].contains("\"score\":null") && lines[1].contains("\"status\":\"non_finite\""), "{lines:?}");
    assert!(lines[2].contains("\"score\":-2.828427"), "the run went on: {lines:?}");
}

#[test]
fn max_memory_refuses_a_run_that_needs_more() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scores.csv");
    let score = || {
        let mut cmd = wbound();
        cmd.args(["score", "--threads", "2", "--model"])
            .arg(fixture("mlp/model.onnx"))
            .arg("--inputs")
            .arg(fixture("mlp/x.npy"));
        cmd
    };
    let run = score().args(["--max-memory", "64K", "--out"]).arg(&out).assert().code(1).get_output().clone();
    let err = text(&run.stderr);
    assert!(err.starts_with("error: not enough memory: scoring needs about "), "{err}");
    assert!(err.contains("2 workers ×") && err.contains("64.0 KiB") && err.contains("--max-memory"), "{err}");
    assert!(!out.exists() && !dir.path().join("scores.csv.partial").exists(), "nothing written");
    score().args(["--max-memory", "none", "--quiet"]).assert().success();
    score().args(["--max-memory", "1G", "--quiet"]).assert().success();
    let err = text(&score().args(["--max-memory", "12X"]).assert().code(2).get_output().stderr);
    assert!(err.contains("'12X' is not a size"), "{err}");
}

/// A slow run to interrupt or watch: the 545k-parameter CNN on `n` samples.
fn slow_run(dir: &Path, n: usize, threads: &str) -> (Vec<std::ffi::OsString>, PathBuf) {
    let inputs = dir.join("x.npy");
    tiled_cnn32_inputs(&inputs, n);
    let args = vec![
        "score".into(),
        "--threads".into(),
        threads.into(),
        "--batch-size".into(),
        "4".into(),
        "--model".into(),
        fixture("perf/cnn32/model_bias.onnx").into(),
        "--inputs".into(),
        inputs.into(),
    ];
    (args, dir.join("scores.csv"))
}

fn rows(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count().saturating_sub(1))
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_promptly_and_resume_finishes_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (args, out) = slow_run(dir.path(), 600, "1");
    let partial = dir.path().join("scores.csv.partial");
    let bin = assert_cmd::cargo::cargo_bin("wbound");
    let child = std::process::Command::new(&bin)
        .args(&args)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while rows(&partial) < 8 {
        assert!(start.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = Instant::now();
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let done = child.wait_with_output().unwrap();
    let stopped_in = sent.elapsed();
    let err = text(&done.stderr);
    assert_eq!(done.status.code(), Some(130), "{err}");
    assert!(!out.exists(), "the run finished before the signal; make it longer");
    let kept = rows(&partial);
    assert!(kept < 600 && kept.is_multiple_of(4), "whole batches only: {kept}");
    assert!(err.contains(&format!("interrupted: {kept} of 600 samples are in")) && err.contains("--resume"), "{err}");
    // Promptly: the samples in progress finish (a few ms each), the rest of the 600 are not scored.
    assert!(stopped_in < Duration::from_secs(5), "{stopped_in:?}");

    Command::new(&bin).args(&args).arg("--out").arg(&out).args(["--resume", "--quiet"]).assert().success();
    assert!(!partial.exists());
    let reference = dir.path().join("reference.csv");
    Command::new(&bin).args(&args).arg("--out").arg(&reference).arg("--quiet").assert().success();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&reference).unwrap());
}

#[cfg(target_os = "linux")]
#[test]
fn threads_are_honoured_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for threads in [1, 3] {
        let (args, out) = slow_run(dir.path(), 120, &threads.to_string());
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wbound"))
            .args(&args)
            .arg("--out")
            .arg(&out)
            .arg("--force")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = format!("/proc/{}/status", child.id());
        let mut most = 0;
        while child.try_wait().unwrap().is_none() {
            let count = std::fs::read_to_string(&status).ok().and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse::<usize>().ok())
            });
            most = most.max(count.unwrap_or(0));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(most, threads, "--threads {threads}: the process ran {most} threads");
    }
}

#[test]
fn outputs_are_byte_identical_across_runs_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["csv", "npy"] {
        let mut outputs = Vec::new();
        for (run, threads) in ["1", "2", "2", "3"].into_iter().enumerate() {
            let out = dir.path().join(format!("run{run}.{ext}"));
            wbound()
                .args(["score", "--quiet", "--threads", threads, "--batch-size", "7", "--model"])
                .arg(fixture("cnn/model.onnx"))
                .arg("--inputs")
                .arg(fixture("cnn/x.npy"))
                .arg("--out")
                .arg(&out)
                .assert()
                .success();
            outputs.push(std::fs::read(&out).unwrap());
        }
        assert!(outputs.iter().all(|o| *o == outputs[0]), "{ext}: outputs differ");
    }
}
