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
    let file = &findings("npy")[0];
    assert!(file.ends_with("oom-header-length.npy"));
    let bytes = std::fs::read(file).unwrap();
    let err = wbound::data::npy::parse_f32(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("header of 3632594826 bytes") && err.contains(&format!("holds {} bytes", bytes.len())),
        "{err}"
    );
    let err = wbound::data::stream::NpyStream::open(file).err().unwrap().to_string();
    assert!(err.contains("header of 3632594826 bytes") && err.contains("oom-header-length.npy"), "{err}");
}

/// npy: a 118-byte header of nested `{` kept the header parser (a backtracking grammar) busy for
/// more than 10 seconds; now refused by its nesting depth before it is parsed.
#[test]
fn npy_headers_nested_deeper_than_numpy_writes_are_refused_at_once() {
    let file = &findings("npy")[1];
    assert!(file.ends_with("timeout-nested-header.npy"));
    let bytes = std::fs::read(file).unwrap();
    let clock = std::time::Instant::now();
    let err = wbound::data::npy::parse_f32(&bytes).unwrap_err().to_string();
    assert!(err.contains("nests brackets more than 4 deep"), "{err}");
    let err = wbound::data::stream::NpyStream::open(file).err().unwrap().to_string();
    assert!(err.contains("nests brackets"), "{err}");
    assert!(clock.elapsed().as_secs() < 2, "rejected without parsing");
    // Headers numpy writes still read, up to its own size limit.
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (2, {}), }}", 1);
    let mut ok = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<118}\n");
    ok.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    ok.extend_from_slice(padded.as_bytes());
    ok.extend_from_slice(&[0u8; 8]);
    assert_eq!(wbound::data::npy::parse_f32(&ok).unwrap(), (vec![2, 1], vec![0.0, 0.0]));
    let mut long = b"\x93NUMPY\x02\x00".to_vec();
    long.extend_from_slice(&20_000u32.to_le_bytes());
    long.extend(std::iter::repeat_n(b' ', 20_000));
    let err = wbound::data::npy::parse_f32(&long).unwrap_err().to_string();
    assert!(err.contains("at most 10000 bytes"), "{err}");
}
