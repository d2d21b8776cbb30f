//! Helpers shared by the CLI's integration tests: fixture paths, the built binary, and `.npy`
//! files written for a test.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use npyz::WriterBuilder;

/// A file of the repository's `tests/fixtures`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(path)
}

/// The `wbound` binary.
pub fn wbound() -> Command {
    Command::cargo_bin("wbound").unwrap()
}

/// Writes `data` of shape `shape` as an `.npy` file.
pub fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    let mut out = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::<T>::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// The first `n` reference digits (the cnn fixture's `x.npy`, `--scale 1/16`) as an image folder
/// `images/class<y>/<i>.png` of `size`×`size` grey PNGs, sample 2 named with a comma.
/// Returns the folder and each file's relative path and label, in the folder's (sorted) order.
pub fn digits_folder(dir: &Path, n: usize, size: u32) -> (PathBuf, Vec<(String, i64)>) {
    let read = |f: &str| std::fs::read(fixture(f)).unwrap();
    let x: Vec<f32> = npyz::NpyFile::new(&read("cnn/x.npy")[..]).unwrap().into_vec().unwrap();
    let y: Vec<i64> = npyz::NpyFile::new(&read("cnn/y.npy")[..]).unwrap().into_vec().unwrap();
    let root = dir.join("images");
    let mut files = Vec::new();
    for i in 0..n {
        let class = format!("class{}", y[i]);
        std::fs::create_dir_all(root.join(&class)).unwrap();
        let name = if i == 2 { format!("{i:03},copy.png") } else { format!("{i:03}.png") };
        let px: Vec<u8> = x[i * 64..(i + 1) * 64].iter().map(|v| (v * 16.0).round() as u8).collect();
        let img = image::GrayImage::from_raw(8, 8, px).unwrap();
        let img = image::imageops::resize(&img, size, size, image::imageops::FilterType::Nearest);
        img.save(root.join(&class).join(&name)).unwrap();
        files.push((format!("{class}/{name}"), y[i]));
    }
    files.sort();
    (root, files)
}

/// Writes the perf/cnn32 fixture's samples, repeated to `n`, as `path` (`[n, 32, 32, 3]`): input
/// for a run slow enough to interrupt (the 545k-parameter CNN).
pub fn tiled_cnn32_inputs(path: &Path, n: usize) {
    let x: Vec<f32> =
        npyz::NpyFile::new(&std::fs::read(fixture("perf/cnn32/x.npy")).unwrap()[..]).unwrap().into_vec().unwrap();
    let many: Vec<f32> = x.iter().copied().cycle().take(n * 32 * 32 * 3).collect();
    write_npy(path, &[n as u64, 32, 32, 3], &many);
}

/// stderr of a command that must exit with `code`, checked to name no panic.
pub fn fails(cmd: &mut Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// stdout of a command that must succeed.
pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}
