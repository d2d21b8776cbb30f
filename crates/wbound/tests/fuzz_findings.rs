//! Every input the fuzzers found a bug with (`tests/fixtures/fuzz/<target>/`), replayed through
//! the same code as the fuzz target (`fuzz/harness.rs`), plus what each finding must now give.
//! See docs/RELIABILITY.md.

#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn findings(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fuzz").join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn every_finding_replays_without_a_panic() {
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 6] = [
        ("onnx", harness::onnx),
        ("npy", harness::npy),
        ("npz", harness::npz),
        ("idx", harness::idx),
        ("cifar", harness::cifar),
        ("csv", harness::csv),
    ];
    let mut replayed = 0;
    for (target, run) in targets {
        for file in findings(target) {
            run(&std::fs::read(&file).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed >= 1, "no findings replayed: the fixtures folder moved?");
}

/// npy: a version-3 preamble claiming a 3.6 GB header made the reader allocate it (out of
/// memory); now an error naming the claimed size, from every reader.
#[test]
fn npy_header_length_beyond_the_file_is_an_error() {
    let [file] = &findings("npy")[..] else { panic!("expected the one npy finding") };
    let bytes = std::fs::read(file).unwrap();
    let err = wbound::data::npy::parse_f32(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("header of 3632594826 bytes") && err.contains(&format!("holds {} bytes", bytes.len())),
        "{err}"
    );
    let err = wbound::data::stream::NpyStream::open(file).err().unwrap().to_string();
    assert!(err.contains("header of 3632594826 bytes") && err.contains("oom-header-length.npy"), "{err}");
}
