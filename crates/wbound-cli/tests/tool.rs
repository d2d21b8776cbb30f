//! The tool around `score`: every input format through the CLI, top-k and its grid, inspect,
//! output formats, resume after `kill -9`, shards and merge.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use npyz::WriterBuilder;

mod common;
use common::{fixture, wbound, write_npy};

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

/// stderr of a command that must exit with `code`, checked to hold one error line (clap adds a
/// usage hint after it for malformed arguments) and no panic.
fn fails(cmd: &mut Command, code: i32) -> String {
    let err = String::from_utf8(cmd.assert().code(code).get_output().stderr.clone()).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error")).count(), 1, "{err}");
    err
}

/// The reference digits samples (`x` = pixel/16, so `x · 16` are exact bytes) and labels.
fn digits(case: &str, n: usize) -> (Vec<f32>, Vec<i64>) {
    let x: Vec<f32> =
        npyz::NpyFile::new(&std::fs::read(fixture(&format!("{case}/x.npy"))).unwrap()[..]).unwrap().into_vec().unwrap();
    let y: Vec<i64> =
        npyz::NpyFile::new(&std::fs::read(fixture(&format!("{case}/y.npy"))).unwrap()[..]).unwrap().into_vec().unwrap();
    (x[..n * 64].to_vec(), y[..n].to_vec())
}

fn score_csv(model: &str, inputs: &Path, extra: &[&str]) -> Vec<String> {
    let mut cmd = wbound();
    cmd.args(["score", "--threads", "2", "--model"]).arg(fixture(model)).arg("--inputs").arg(inputs).args(extra);
    // The columns after the index, up to final_class (an image folder's rows add its `path`).
    stdout(&mut cmd).lines().skip(1).map(|l| l.split(',').skip(1).take(6).collect::<Vec<_>>().join(",")).collect()
}

#[test]
fn csv_inputs_with_a_label_column_score_like_the_npy() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = digits("mlp", 40);
    let mut text = (0..64).map(|i| format!("p{i}")).collect::<Vec<_>>().join(",") + ",label\n";
    for (row, label) in x.chunks(64).zip(&y) {
        text += &(row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + &format!(",{label}\n"));
    }
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, text).unwrap();
    let npy = dir.path().join("x.npy");
    write_npy(&npy, &[40, 64], &x);
    assert_eq!(score_csv("mlp/model.onnx", &csv, &["--label-column", "label"]), score_csv("mlp/model.onnx", &npy, &[]));
    // The labels come through: top-k shows them.
    let table = stdout(
        wbound()
            .args(["top-k", "-k", "40", "--model"])
            .arg(fixture("mlp/model.onnx"))
            .arg("--inputs")
            .arg(&csv)
            .args(["--label-column", "label"]),
    );
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let index: usize = f[1].parse().unwrap();
        assert_eq!(f[3], y[index].to_string(), "{line}");
    }
}

fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
    b.extend(data);
    b
}

#[test]
fn idx_images_with_scale_score_like_the_npy() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = digits("mlp", 30);
    let bytes: Vec<u8> = x.iter().map(|v| (v * 16.0).round() as u8).collect();
    let images = dir.path().join("t10k-images-idx3-ubyte");
    std::fs::write(&images, idx_bytes(0x803, &[30, 8, 8], &bytes)).unwrap();
    let labels: Vec<u8> = y.iter().map(|&l| l as u8).collect();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx_bytes(0x801, &[30], &labels)).unwrap();
    let npy = dir.path().join("x.npy");
    write_npy(&npy, &[30, 64], &x);
    assert_eq!(score_csv("mlp/model.onnx", &images, &["--scale", "1/16"]), score_csv("mlp/model.onnx", &npy, &[]));
    // Labels from the matching labels file; an out-of-range one is refused.
    let mut bad = labels.clone();
    bad[7] = 12;
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx_bytes(0x801, &[30], &bad)).unwrap();
    let err = fails(wbound().args(["score", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg(&images), 1);
    assert!(err.contains("sample 7 has label 12") && err.contains("10 classes"), "{err}");
    // A bad magic number.
    std::fs::write(&images, idx_bytes(0x1234, &[30, 8, 8], &bytes)).unwrap();
    let err = fails(wbound().args(["score", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg(&images), 1);
    assert!(err.contains("magic"), "{err}");
}

#[test]
fn image_folder_scores_like_the_npy_in_the_models_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = digits("cnn", 24);
    let root = dir.path().join("images");
    // Folder order: classes sorted, then file names sorted.
    let mut order: Vec<usize> = (0..24).collect();
    order.sort_by_key(|&i| (y[i], i));
    for i in 0..24 {
        let class = root.join(format!("class{}", y[i]));
        std::fs::create_dir_all(&class).unwrap();
        let px: Vec<u8> = x[i * 64..(i + 1) * 64].iter().map(|v| (v * 16.0).round() as u8).collect();
        image::GrayImage::from_raw(8, 8, px).unwrap().save(class.join(format!("{i:03}.png"))).unwrap();
    }
    let reordered: Vec<f32> = order.iter().flat_map(|&i| x[i * 64..(i + 1) * 64].to_vec()).collect();
    let npy = dir.path().join("x.npy");
    write_npy(&npy, &[24, 8, 8, 1], &reordered);
    // The cnn takes NHWC [8, 8, 1]: the layout follows the model.
    assert_eq!(score_csv("cnn/model.onnx", &root, &["--scale", "1/16"]), score_csv("cnn/model.onnx", &npy, &[]));
}

#[test]
fn npz_key_selects_the_array() {
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = digits("mlp", 10);
    let npy = dir.path().join("x.npy");
    write_npy(&npy, &[10, 64], &x);
    let npz = dir.path().join("d.npz");
    {
        let mut zip = npyz::npz::NpzWriter::create(&npz).unwrap();
        let mut w = zip.array("x", Default::default()).unwrap().default_dtype().shape(&[10, 64]).begin_nd().unwrap();
        w.extend(x.iter().copied()).unwrap();
        w.finish().unwrap();
        let mut w = zip.array("y", Default::default()).unwrap().default_dtype().shape(&[10]).begin_nd().unwrap();
        w.extend(0..10i64).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(score_csv("mlp/model.onnx", &npz, &["--key", "x"]), score_csv("mlp/model.onnx", &npy, &[]));
    let err = fails(
        wbound().args(["score", "--key", "z", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg(&npz),
        1,
    );
    assert!(err.contains("'z'") && err.contains("x") && err.contains("y"), "{err}");
}

#[test]
fn unknown_format_and_malformed_shard_are_usage_errors() {
    let base = || {
        let mut c = wbound();
        c.args(["score", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg(fixture("mlp/x.npy"));
        c
    };
    let err = fails(base().args(["--format", "parquet"]), 2);
    assert!(err.contains("parquet") && err.contains("npy"), "{err}");
    for shard in ["3/3", "1", "a/2", "-1/2"] {
        let err = fails(base().arg(format!("--shard={shard}")), 2);
        assert!(err.contains("--shard"), "{err}");
    }
    let err = fails(
        wbound().args(["score", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg("/nonexistent/x.npy"),
        1,
    );
    assert!(err.contains("/nonexistent/x.npy"), "{err}");
}

#[test]
fn top_k_returns_the_k_highest_scores_of_a_full_run_in_order() {
    let full = stdout(
        wbound().args(["score", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg(fixture("mlp/x.npy")),
    );
    let mut rows: Vec<(f64, usize)> = full
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|f| (f[1].parse().unwrap(), f[0].parse().unwrap()))
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let table = stdout(
        wbound()
            .args(["top-k", "-k", "15", "--model"])
            .arg(fixture("mlp/model.onnx"))
            .arg("--inputs")
            .arg(fixture("mlp/x.npy")),
    );
    let got: Vec<(String, usize)> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .map(|f| (f[2].to_string(), f[1].parse().unwrap()))
        .collect();
    let indices = |r: &[(f64, usize)]| r.iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), indices(&rows[..15]));
    // Three significant digits (`-6.04e-02`, not `-0.060384934389248926`), in aligned columns.
    for ((text, _), (exact, _)) in got.iter().zip(&rows) {
        assert_eq!(text.len(), 9, "{text}");
        assert!((text.parse::<f64>().unwrap() - exact).abs() <= exact.abs() * 0.005, "{text} vs {exact}");
    }
    // The status, the last column, starts at the same place on every line.
    let widths: Vec<usize> = table.lines().map(|l| l.rfind(' ').unwrap()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
    let asc = stdout(
        wbound()
            .args(["top-k", "-k", "3", "--order", "ascending", "--model"])
            .arg(fixture("mlp/model.onnx"))
            .arg("--inputs")
            .arg(fixture("mlp/x.npy")),
    );
    let first: usize = asc.lines().nth(1).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(first, rows.last().unwrap().1);
    let base = || {
        let mut c = wbound();
        c.args(["top-k", "--model"]).arg(fixture("mlp/model.onnx")).arg("--inputs").arg(fixture("mlp/x.npy"));
        c
    };
    fails(base().args(["-k", "0"]), 2);
    let err = fails(base().args(["-k", "301"]), 2);
    assert!(err.contains("301") && err.contains("300"), "{err}");
    let err = fails(base().args(["-k", "3", "--grid", "/tmp/never.png"]), 2);
    assert!(err.contains("image samples"), "{err}");
}

#[test]
fn top_k_grid_holds_k_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grid.png");
    let out = wbound()
        .args(["top-k", "-k", "7", "--labels"])
        .arg(fixture("cnn/y.npy"))
        .arg("--model")
        .arg(fixture("cnn/model.onnx"))
        .arg("--inputs")
        .arg(fixture("cnn/x.npy"))
        .arg("--grid")
        .arg(&png)
        .assert()
        .success()
        .get_output()
        .clone();
    let msg = String::from_utf8(out.stderr).unwrap();
    assert!(msg.contains("7 tiles (3 columns x 3 rows"), "{msg}");
    let img = image::open(&png).unwrap().to_rgb8();
    // "tiles of WxH px", below the key.
    let size = msg.split("tiles of ").nth(1).and_then(|t| t.split(" px").next()).unwrap();
    let (tw, th) = size.split_once('x').map(|(w, h)| (w.parse::<u32>().unwrap(), h.parse::<u32>().unwrap())).unwrap();
    let top = img.height() - 3 * th;
    assert!(top > 20, "the key sits above the tiles: {top} px");
    let painted = |t: u32| {
        let (x0, y0) = ((t % 3) * tw, top + (t / 3) * th);
        (x0..x0 + tw).any(|x| (y0..y0 + th).any(|y| img.get_pixel(x, y).0 != [255, 255, 255]))
    };
    assert!((0..7).all(painted), "a tile is empty");
    assert!(!(7..9).any(painted), "more than 7 tiles");
}

#[test]
fn inspect_describes_the_model_and_rejects_unsupported_ops() {
    let text = stdout(wbound().args(["inspect", "--model"]).arg(fixture("cnn/model.onnx")));
    for want in
        ["Conv", "MaxPool", "input [N, 8, 8, 1]", "[N, 10] (10 classes)", "[16, 8, 3, 3]", "1152", "trainable: 3818"]
    {
        assert!(text.contains(want), "missing {want}: {text}");
    }
    let err = fails(wbound().args(["inspect", "--model"]).arg(fixture("bad/unsupported_op.onnx")), 1);
    assert!(err.contains("NonZero (2 nodes") && err.contains("com.microsoft:Attention"), "{err}");
}

#[test]
fn outputs_in_every_format_appear_only_when_complete() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut c = wbound();
        c.args(["score", "--quiet", "--model"])
            .arg(fixture("linear/model.onnx"))
            .arg("--inputs")
            .arg(fixture("linear/x.npy"))
            .arg("--out")
            .arg(out)
            .args(extra);
        c
    };
    let csv = dir.path().join("s.csv");
    run(&csv, &[]).assert().success();
    let rows: Vec<String> = std::fs::read_to_string(&csv).unwrap().lines().skip(1).map(String::from).collect();
    let jsonl = dir.path().join("s.jsonl");
    run(&jsonl, &[]).assert().success();
    let objects = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(objects.lines().count(), 16);
    let first = objects.lines().next().unwrap();
    let f: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(first, format!("{{\"index\":0,\"score\":{},\"distance\":{},\"steps\":{},\"status\":\"{}\",\"original_class\":{},\"final_class\":{}}}", f[1], f[2], f[3], f[4], f[5], f[6]));
    let npy = dir.path().join("s.npy");
    run(&npy, &[]).assert().success();
    let scores: Vec<f64> = npyz::NpyFile::new(&std::fs::read(&npy).unwrap()[..]).unwrap().into_vec().unwrap();
    assert_eq!(scores, rows.iter().map(|r| r.split(',').nth(1).unwrap().parse::<f64>().unwrap()).collect::<Vec<_>>());
    // No leftovers beside the outputs.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    // Each with its settings, for a later --resume to check.
    assert_eq!(names, ["s.csv", "s.csv.run", "s.jsonl", "s.jsonl.run", "s.npy", "s.npy.run"]);
    let err = fails(&mut run(&csv, &[]), 2);
    assert!(err.contains("--force"), "{err}");
    run(&csv, &["--force"]).assert().success();
    let err = fails(&mut run(&dir.path().join("s.txt"), &[]), 2);
    assert!(err.contains(".csv, .jsonl or .npy"), "{err}");
}

#[test]
fn shards_merge_into_the_full_run_and_merge_rejects_gaps_and_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let score = |out: &Path, shard: Option<&str>| {
        let mut c = wbound();
        c.args(["score", "--model"])
            .arg(fixture("mlp/model.onnx"))
            .arg("--inputs")
            .arg(fixture("mlp/x.npy"))
            .arg("--out")
            .arg(out);
        if let Some(s) = shard {
            c.args(["--shard", s]);
        }
        c.assert().success();
    };
    let full = dir.path().join("full.csv");
    score(&full, None);
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("part{i}.csv"))).collect();
    for (i, p) in shards.iter().enumerate() {
        score(p, Some(&format!("{i}/3")));
    }
    assert_eq!(std::fs::read_to_string(&shards[1]).unwrap().lines().nth(1).unwrap().split(',').next(), Some("100"));
    let merged = dir.path().join("all.csv");
    wbound()
        .arg("merge")
        .args([&shards[2], &shards[0], &shards[1]])
        .args(["--expect", "300", "--out"])
        .arg(&merged)
        .assert()
        .success();
    assert_eq!(std::fs::read(&merged).unwrap(), std::fs::read(&full).unwrap());
    let out = dir.path().join("bad.csv");
    let err = fails(wbound().arg("merge").args([&shards[0], &shards[2]]).arg("--out").arg(&out), 1);
    assert!(err.contains("gap") && err.contains("100..199"), "{err}");
    let err =
        fails(wbound().arg("merge").args([&shards[0], &shards[1], &shards[1], &shards[2]]).arg("--out").arg(&out), 1);
    assert!(err.contains("overlap") && err.contains("index 100"), "{err}");
    let err =
        fails(wbound().arg("merge").args([&shards[0], &shards[1]]).args(["--expect", "300", "--out"]).arg(&out), 1);
    assert!(err.contains("gap") && err.contains("300"), "{err}");
    assert!(!out.exists());
}

/// `kill -9` in the middle of a run, then `--resume`: the result is byte-identical to a run that
/// was never interrupted.
#[test]
fn resume_after_kill_9_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> =
        npyz::NpyFile::new(&std::fs::read(fixture("cnn/x.npy")).unwrap()[..]).unwrap().into_vec().unwrap();
    let many: Vec<f32> = x.iter().copied().cycle().take(x.len() * 10).collect();
    let inputs = dir.path().join("x3000.npy");
    write_npy(&inputs, &[3000, 8, 8, 1], &many);
    let args = |out: &Path| {
        let mut v: Vec<std::ffi::OsString> =
            vec!["score".into(), "--threads".into(), "1".into(), "--batch-size".into(), "8".into()];
        v.extend([
            "--model".into(),
            fixture("cnn/model.onnx").into(),
            "--inputs".into(),
            inputs.clone().into(),
            "--out".into(),
            out.into(),
        ]);
        v
    };
    let out = dir.path().join("scores.csv");
    let partial = dir.path().join("scores.csv.partial");
    let bin = assert_cmd::cargo::cargo_bin("wbound");
    let mut child =
        std::process::Command::new(&bin).args(args(&out)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    // Kill once some rows, but not all, are on disk.
    while std::fs::read_to_string(&partial).map_or(0, |t| t.lines().count()) < 200 {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.exists(), "the run finished before it was killed; make it longer");
    let rows_before = std::fs::read_to_string(&partial).unwrap().lines().count();
    assert!(rows_before < 3001, "{rows_before}");
    let err = fails(Command::new(&bin).args(args(&out)), 2);
    assert!(err.contains("--resume"), "{err}");
    Command::new(&bin).args(args(&out)).arg("--resume").assert().success();
    let reference = dir.path().join("reference.csv");
    Command::new(&bin).args(args(&reference)).assert().success();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&reference).unwrap());
    assert!(!partial.exists());
    // Resuming a complete run does nothing.
    Command::new(&bin).args(args(&out)).arg("--resume").assert().success();
}
