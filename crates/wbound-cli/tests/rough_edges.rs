//! Regression tests: the rough edges a new user hit (issue 13), one test each; every one fails on
//! the tool as it was before the fix.
// See: issue 13.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;
use common::{digits_folder, fails, fixture, stdout, wbound, write_npy};

fn cmd(sub: &str, model: &str, inputs: &Path) -> Command {
    let mut c = wbound();
    c.args([sub, "--model"]).arg(fixture(model)).arg("--inputs").arg(inputs);
    c
}

/// Image folders: the file of each sample reaches the CSV (`path`, the last column, quoted where
/// it holds a comma), the JSON lines, a merge of shards and the top-k table; arrays get no such
/// column.
#[test]
fn r13_image_folder_paths_reach_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let (root, files) = digits_folder(dir.path(), 12, 8);
    let files: Vec<String> = files.into_iter().map(|(f, _)| f).collect();
    let csv = dir.path().join("s.csv");
    cmd("score", "cnn/model.onnx", &root).args(["--quiet", "--scale", "1/16", "--out"]).arg(&csv).assert().success();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "index,score,distance,steps,status,original_class,final_class,path");
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.splitn(8, ',').collect();
        assert_eq!(cells[0], i.to_string());
        let want = if files[i].contains(',') { format!("\"{}\"", files[i]) } else { files[i].clone() };
        assert_eq!(cells[7], want, "row {i}");
    }
    let jsonl = dir.path().join("s.jsonl");
    cmd("score", "cnn/model.onnx", &root).args(["--quiet", "--scale", "1/16", "--out"]).arg(&jsonl).assert().success();
    for (i, line) in std::fs::read_to_string(&jsonl).unwrap().lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["path"], files[i].as_str());
    }
    // Shards with paths merge into the same file.
    let shards: Vec<PathBuf> = (0..2).map(|s| dir.path().join(format!("s{s}.csv"))).collect();
    for (s, out) in shards.iter().enumerate() {
        cmd("score", "cnn/model.onnx", &root)
            .args(["--quiet", "--scale", "1/16", "--shard", &format!("{s}/2"), "--out"])
            .arg(out)
            .assert()
            .success();
    }
    let merged = dir.path().join("m.csv");
    wbound().arg("merge").args(&shards).arg("--out").arg(&merged).assert().success();
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), text);
    // The top-k table ends with the file.
    let table = stdout(cmd("top-k", "cnn/model.onnx", &root).args(["-k", "12", "--scale", "1/16"]));
    let mut rows = table.lines();
    assert!(rows.next().unwrap().ends_with("path"));
    for row in rows {
        let index: usize = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(row.ends_with(&files[index]), "{row}");
    }
    // An array has no files: no path column.
    let header = stdout(cmd("score", "cnn/model.onnx", &fixture("cnn/x.npy")).arg("--quiet"));
    assert_eq!(header.lines().next().unwrap(), "index,score,distance,steps,status,original_class,final_class");
}

/// `--out`, `--grid` and the report's `--out` into a missing folder fail at once, naming the folder
/// (not a `.partial` file), before the model is even read.
#[test]
fn r13_output_folders_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    // A model that does not exist: an error about it would mean the output came second.
    let mut score = wbound();
    score.args(["score", "--model", "nope.onnx", "--inputs", "nope.npy", "--out"]).arg(missing.join("s.csv"));
    let err = fails(&mut score, 2);
    assert!(err.contains("missing") && err.contains("does not exist") && !err.contains(".partial"), "{err}");
    let mut grid = wbound();
    grid.args(["top-k", "-k", "3", "--model", "nope.onnx", "--inputs", "nope.npy", "--grid"])
        .arg(missing.join("g.png"));
    let err = fails(&mut grid, 2);
    assert!(err.contains("--grid") && err.contains("does not exist"), "{err}");
    let mut report = wbound();
    report.args(["report", "--model", "nope.onnx", "--inputs", "nope.npy", "--out"]).arg(missing.join("r.html"));
    let err = fails(&mut report, 2);
    assert!(err.contains("--out") && err.contains("does not exist"), "{err}");
}

/// `--grid` refuses to overwrite an existing file without `--force`, like `score --out`.
#[test]
fn r13_grid_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("g.png");
    std::fs::write(&png, b"mine").unwrap();
    let grid = || {
        let mut c = cmd("top-k", "cnn/model.onnx", &fixture("cnn/x.npy"));
        c.args(["-k", "4", "--grid"]).arg(&png);
        c
    };
    let err = fails(&mut grid(), 2);
    assert!(err.contains("--force") && err.contains("g.png"), "{err}");
    assert_eq!(std::fs::read(&png).unwrap(), b"mine");
    grid().arg("--force").assert().success();
    assert!(image::open(&png).is_ok());
}

/// The README's `--label-column -1` (a separate argument) works like `--label-column=-1`.
#[test]
fn r13_label_column_minus_one_as_its_own_argument() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> =
        npyz::NpyFile::new(&std::fs::read(fixture("mlp/x.npy")).unwrap()[..]).unwrap().into_vec().unwrap();
    let mut csv = (0..64).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",") + ",label\n";
    for s in 0..20 {
        let row: Vec<String> = x[s * 64..(s + 1) * 64].iter().map(|v| v.to_string()).collect();
        csv += &format!("{},{}\n", row.join(","), s % 10);
    }
    let path = dir.path().join("d.csv");
    std::fs::write(&path, csv).unwrap();
    let spaced = stdout(cmd("score", "mlp/model.onnx", &path).args(["--quiet", "--label-column", "-1"]));
    let joined = stdout(cmd("score", "mlp/model.onnx", &path).args(["--quiet", "--label-column=-1"]));
    assert_eq!(spaced, joined);
    assert_eq!(spaced.lines().count(), 21);
}

/// `--labels` reads MNIST's IDX label files (gzipped too), and names both formats otherwise.
#[test]
fn r13_labels_from_idx_files() {
    let dir = tempfile::tempdir().unwrap();
    let y: Vec<i64> =
        npyz::NpyFile::new(&std::fs::read(fixture("mlp/y.npy")).unwrap()[..]).unwrap().into_vec().unwrap();
    let mut idx = vec![0, 0, 8, 1];
    idx.extend((y.len() as u32).to_be_bytes());
    idx.extend(y.iter().map(|&l| l as u8));
    let path = dir.path().join("train-labels-idx1-ubyte");
    std::fs::write(&path, idx).unwrap();
    let run = |labels: &Path| {
        stdout(cmd("top-k", "mlp/model.onnx", &fixture("mlp/x.npy")).args(["-k", "20", "--labels"]).arg(labels))
    };
    assert_eq!(run(&path), run(&fixture("mlp/y.npy")));
    let txt = dir.path().join("labels.txt");
    std::fs::write(&txt, "1\n2\n").unwrap();
    let err = fails(cmd("top-k", "mlp/model.onnx", &fixture("mlp/x.npy")).args(["-k", "2", "--labels"]).arg(&txt), 1);
    assert!(err.contains("labels.txt") && err.contains(".npy") && err.contains("IDX labels"), "{err}");
}

/// A PyTorch or Keras file given as the model names the exporter to use.
#[test]
fn r13_framework_model_files_name_their_exporter() {
    let dir = tempfile::tempdir().unwrap();
    // torch.save writes a zip archive; Keras .h5 is HDF5.
    for (name, bytes, exporter) in [
        ("net.pt", &b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl"[..], "torch.onnx.export"),
        ("net.pth", &b"\x80\x02ctorch._utils"[..], "torch.onnx.export"),
        ("net.h5", &b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00"[..], "tf2onnx"),
        ("net.safetensors", &b"\x0e\x00\x00\x00\x00\x00\x00\x00{\"fc.w\": 1234}"[..], "--weights"),
    ] {
        let model = dir.path().join(name);
        std::fs::write(&model, bytes).unwrap();
        let mut c = wbound();
        c.args(["score", "--model"]).arg(&model).arg("--inputs").arg(fixture("mlp/x.npy"));
        let err = fails(&mut c, 1);
        assert!(err.contains(name) && err.contains(exporter) && err.contains("ONNX"), "{name}: {err}");
    }
}

/// Shape errors state both shapes and the flag that fixes them.
#[test]
fn r13_shape_errors_suggest_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    // Images of another size than the cnn's 8×8: --resize.
    let (root, _) = digits_folder(dir.path(), 4, 10);
    let err = fails(cmd("score", "cnn/model.onnx", &root).args(["--scale", "1/16"]), 1);
    assert!(err.contains("[10, 10, 1]") && err.contains("[8, 8, 1]") && err.contains("--resize 8x8"), "{err}");
    // A CSV whose last column is the label: --label-column.
    let x: Vec<f32> =
        npyz::NpyFile::new(&std::fs::read(fixture("mlp/x.npy")).unwrap()[..]).unwrap().into_vec().unwrap();
    let mut csv = String::new();
    for s in 0..5 {
        let row: Vec<String> = x[s * 64..(s + 1) * 64].iter().map(|v| v.to_string()).collect();
        csv += &format!("{},{}\n", row.join(","), s);
    }
    let path = dir.path().join("d.csv");
    std::fs::write(&path, csv).unwrap();
    let err = fails(&mut cmd("score", "mlp/model.onnx", &path), 1);
    assert!(err.contains("[65]") && err.contains("[64]") && err.contains("--label-column"), "{err}");
    // An array with the right number of values in another shape: reshape it.
    let flat = dir.path().join("flat.npy");
    write_npy(&flat, &[2, 64], &[0.0f32; 128]);
    let err = fails(&mut cmd("score", "cnn/model.onnx", &flat), 1);
    assert!(err.contains("x.reshape(len(x), 8, 8, 1)"), "{err}");
}

/// `--resume` on a finished file: nothing to do with the same settings, refused with other ones
/// (or when they are not recorded), as on a partial file.
#[test]
fn r13_resume_on_a_finished_file_checks_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let run = |extra: &[&str]| {
        let mut c = cmd("score", "linear/model.onnx", &fixture("linear/x.npy"));
        c.arg("--out").arg(&out).args(extra);
        c
    };
    run(&["--quiet"]).assert().success();
    let before = std::fs::read(&out).unwrap();
    let err = String::from_utf8(run(&["--resume"]).assert().success().get_output().stderr.clone()).unwrap();
    assert!(err.contains("already complete"), "{err}");
    let err = fails(&mut run(&["--resume", "--steps", "5"]), 2);
    assert!(err.contains("other settings") && err.contains("s.csv.run") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
    std::fs::remove_file(dir.path().join("s.csv.run")).unwrap();
    let err = fails(&mut run(&["--resume"]), 2);
    assert!(err.contains("not recorded"), "{err}");
}

/// After a resume the summary counts the whole file, not only the rows scored now, and names it.
#[test]
fn r13_summary_after_resume_counts_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        let mut c = cmd("score", "mlp/model.onnx", &fixture("mlp/x.npy"));
        c.arg("--out").arg(out);
        c
    };
    let full = dir.path().join("full.csv");
    let err = String::from_utf8(run(&full).assert().success().get_output().stderr.clone()).unwrap();
    assert!(err.starts_with("scored 300 samples") && err.contains(&full.display().to_string()), "{err}");
    // An interrupted run of the same settings: its first 100 rows, and its settings.
    let out = dir.path().join("s.csv");
    let rows: Vec<&str> = std::fs::read_to_string(&full).unwrap().leak().lines().take(101).collect();
    std::fs::write(dir.path().join("s.csv.partial"), rows.join("\n") + "\n").unwrap();
    std::fs::copy(dir.path().join("full.csv.run"), dir.path().join("s.csv.partial.run")).unwrap();
    let err = String::from_utf8(run(&out).arg("--resume").assert().success().get_output().stderr.clone()).unwrap();
    assert!(err.starts_with("300 samples (100 from the interrupted run, 200 scored now"), "{err}");
    assert!(err.contains(&out.display().to_string()), "{err}");
    let counts: usize = err
        .split_once("): ")
        .unwrap()
        .1
        .split(" -> ")
        .next()
        .unwrap()
        .split(", ")
        .map(|c| c.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(counts, 300, "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&full).unwrap());
}

/// A single seed prints its figures without `± NaN`/`± 0.000`; the plot's legend carries each
/// method's AUROC, as text, and `wb`/`wb-label` share one entry when their curves are equal.
#[test]
fn r13_bench_one_seed_has_no_spread_and_the_legend_has_aurocs() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("p.svg");
    let out = stdout(
        wbound()
            .args([
                "bench",
                "--dataset",
                "digits",
                "--train-size",
                "200",
                "--epochs",
                "30",
                "--methods",
                "wb,wb-label,loss,wb-ckpt",
            ])
            .args(["--threads", "2", "--plot"])
            .arg(&plot),
    );
    assert!(!out.contains('±'), "{out}");
    assert!(out.contains("1 seed") && out.contains("suggested label (wb-ckpt)"), "{out}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("(AUROC 0."), "no AUROC in the legend");
    assert!(svg.matches("<rect").count() < 10, "text drawn as rectangles");
}
