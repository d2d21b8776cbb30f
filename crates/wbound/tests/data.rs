//! The data readers on small files written to a temporary directory: values, labels, class names,
//! preprocessing, and the error of each bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;
use wbound::data::{self, cifar, csv, idx, images, npy, npz, Format, Layout, OpenOptions, Preprocess};
use wbound::{Dataset, Error};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn npy_bytes<T: npyz::Serialize + npyz::AutoSerialize + Copy>(shape: &[u64], data: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = npyz::WriteOptions::<T>::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    out
}

fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn open(path: &Path) -> wbound::Result<data::LoadedData> {
    data::open(path, &OpenOptions::default())
}

fn err_text(r: wbound::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn npy_inputs_of_integer_dtype_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let x = write(dir.path(), "x.npy", &npy_bytes(&[2, 2, 2], &[0u8, 1, 2, 3, 4, 5, 6, 255]));
    let y = write(dir.path(), "y.npy", &npy_bytes(&[2], &[1i32, 0]));
    let loaded = open(&x).unwrap();
    let d = loaded.dataset;
    assert_eq!((d.len(), d.sample_shape()), (2, &[2, 2][..]));
    assert_eq!(d.sample(1), [4.0, 5.0, 6.0, 255.0]);
    assert!(!loaded.is_image && loaded.class_names.is_none());
    let d = d.with_labels(npy::read_labels(&y).unwrap()).unwrap();
    assert_eq!(d.labels(), Some(&[1, 0][..]));

    let f = write(dir.path(), "yf.npy", &npy_bytes(&[3, 1], &[2.0f64, 0.0, 7.0]));
    assert_eq!(npy::read_labels(&f).unwrap(), [2, 0, 7]);
    let err = err_text(npy::read_labels(&x));
    assert!(err.contains("x.npy") && err.contains("[N]"), "{err}");
}

#[test]
fn truncated_npy_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = npy_bytes(&[3, 4], &[0.5f32; 12]);
    let x = write(dir.path(), "cut.npy", &full[..full.len() - 5]);
    let err = err_text(open(&x));
    assert!(err.contains("cut.npy") && err.contains("truncated"), "{err}");
}

/// A header claiming 2^40 elements on a few bytes of data: an error from every reader (in memory,
/// streamed, as labels), not an allocation.
#[test]
fn npy_header_claiming_2_pow_40_elements_is_an_error_not_an_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let header = format!("{:<117}\n", "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }");
    let mut lying = b"\x93NUMPY\x01\x00".to_vec();
    lying.extend_from_slice(&(header.len() as u16).to_le_bytes());
    lying.extend_from_slice(header.as_bytes());
    lying.extend_from_slice(&[0; 16]);
    let x = write(dir.path(), "lying.npy", &lying);
    for err in [
        err_text(open(&x)),
        err_text(npy::parse_f32(&lying)),
        err_text(npy::read_labels(&x)),
        err_text(wbound::data::stream::NpyStream::open(&x).map(|s| s.is_some())),
    ] {
        assert!(err.contains("1048576, 1048576") && err.contains("truncated"), "{err}");
    }
}

#[test]
fn npz_default_key_named_key_and_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.npz");
    {
        let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
        let mut w = npz.array::<i64>("x_train", Default::default()).unwrap().default_dtype().shape(&[3, 2]).begin_nd();
        w.as_mut().unwrap().extend([1i64, 2, 3, 4, 5, 6]).unwrap();
        w.unwrap().finish().unwrap();
        let mut w = npz.array::<u8>("y_train", Default::default()).unwrap().default_dtype().shape(&[3]).begin_nd();
        w.as_mut().unwrap().extend([9u8, 8, 7]).unwrap();
        w.unwrap().finish().unwrap();
    }
    let options = OpenOptions { key: Some("x_train".into()), ..OpenOptions::default() };
    let d = data::open(&path, &options).unwrap().dataset;
    assert_eq!((d.len(), d.sample_shape(), d.values()), (3, &[2][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0][..]));
    let d = d.with_labels(npz::read_labels(&path, "y_train").unwrap()).unwrap();
    assert_eq!(d.labels(), Some(&[9, 8, 7][..]));

    let err = err_text(npz::read_dataset(&path, Some("images")));
    assert!(err.contains("d.npz") && err.contains("'images'") && err.contains("x_train, y_train"), "{err}");
    let err = err_text(open(&path));
    assert!(err.contains("2 arrays") && err.contains("x_train, y_train"), "{err}");
    let not_zip = write(dir.path(), "bad.npz", b"not a zip file");
    let err = err_text(open(&not_zip));
    assert!(err.contains("bad.npz") && err.contains("np.savez"), "{err}");
}

#[test]
fn idx_images_with_gzipped_labels() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..3 * 2 * 2).map(|i| (i * 20) as u8).collect();
    let images = write(dir.path(), "t10k-images-idx3-ubyte.gz", &gzip(&idx_bytes(0x803, &[3, 2, 2], &pixels)));
    let labels = write(dir.path(), "t10k-labels-idx1-ubyte.gz", &gzip(&idx_bytes(0x801, &[3], &[7, 2, 1])));
    assert_eq!(idx::find_labels_file(&images), Some(labels.clone()));
    assert_eq!(idx::read_labels(&labels).unwrap(), [7, 2, 1]);

    let loaded = open(&images).unwrap();
    assert!(loaded.is_image);
    let d = loaded.dataset;
    assert_eq!((d.len(), d.sample_shape(), d.labels()), (3, &[1, 2, 2][..], Some(&[7, 2, 1][..])));
    assert_eq!(d.sample(2), [160.0, 180.0, 200.0, 220.0]);

    // Plain images with gzipped labels match too, and preprocessing scales and goes NHWC.
    let plain = write(dir.path(), "t10k-images-idx3-ubyte", &idx_bytes(0x803, &[3, 2, 2], &pixels));
    let p = Preprocess { scale: 1.0 / 20.0, layout: Layout::Nhwc, ..Preprocess::default() };
    let d = data::open(&plain, &OpenOptions { preprocess: Some(p), ..OpenOptions::default() }).unwrap().dataset;
    assert_eq!((d.sample_shape(), d.image_layout()), (&[2, 2, 1][..], Some(Layout::Nhwc)));
    assert_eq!(d.sample(1), [4.0, 5.0, 6.0, 7.0]);
    assert_eq!(d.labels(), Some(&[7, 2, 1][..]));
}

#[test]
fn idx_bad_magic_and_lying_header() {
    let dir = tempfile::tempdir().unwrap();
    // A labels file where images are expected.
    let wrong = write(dir.path(), "train-images-idx3-ubyte", &idx_bytes(0x801, &[2], &[1, 2]));
    let err = err_text(idx::read_images(&wrong));
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("0x00000801") && err.contains("0x00000803"),
        "{err}"
    );
    let err = err_text(idx::read_labels(&write(dir.path(), "l-ubyte", &idx_bytes(0x803, &[1, 1, 1], &[0]))));
    assert!(err.contains("0x00000803") && err.contains("0x00000801"), "{err}");
    // 2^40 images claimed (2^20 x 2^10 x 2^10 pixels) on a few bytes: an error, not an allocation.
    let huge = write(dir.path(), "huge-images-idx3-ubyte", &idx_bytes(0x803, &[1 << 20, 1 << 10, 1 << 10], &[0; 16]));
    let err = err_text(idx::read_images(&huge));
    assert!(err.contains("huge-images") && err.contains("truncated"), "{err}");
}

#[test]
fn cifar_batch_values_labels_and_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for (label, base) in [(6u8, 0usize), (1, 100)] {
        bytes.push(label);
        // Red plane, green plane, blue plane: value = base + channel, except pixel 0 of each plane.
        for c in 0..3 {
            bytes.extend((0..1024).map(|p| if p == 0 { 255 } else { (base + c) as u8 }));
        }
    }
    let path = write(dir.path(), "test_batch.bin", &bytes);
    let loaded = open(&path).unwrap();
    let d = &loaded.dataset;
    assert!(loaded.is_image);
    assert_eq!((d.len(), d.sample_shape(), d.labels()), (2, &[3, 32, 32][..], Some(&[6, 1][..])));
    let s = d.sample(1);
    assert_eq!([s[0], s[1], s[1024], s[1025], s[2048], s[2049]], [255.0, 100.0, 255.0, 101.0, 255.0, 102.0]);
    let names = loaded.class_names.unwrap();
    assert_eq!((names.len(), names[6].as_str(), names[1].as_str()), (10, "frog", "automobile"));

    // Normalised per channel.
    let p = Preprocess { mean: vec![0.0, 1.0, 2.0], std: vec![1.0, 2.0, 4.0], ..Preprocess::default() };
    let d = p.apply(loaded.dataset).unwrap();
    let s = d.sample(1);
    assert_eq!([s[1], s[1025], s[2049]], [100.0, 50.0, 25.0]);

    let bad = write(dir.path(), "short.bin", &bytes[..bytes.len() - 1]);
    let err = err_text(cifar::read_dataset(&bad));
    assert!(err.contains("short.bin") && err.contains("3073"), "{err}");
}

fn save(img: image::DynamicImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

#[test]
fn image_folder_labels_classes_and_mixed_channels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("train");
    // 3 wide, 2 high.
    let grey = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(10 * (x + 3 * y)) as u8]));
    save(grey.into(), &root.join("cat/a.png"));
    let rgb = image::RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 200]));
    save(rgb.into(), &root.join("dog/b.png"));
    let flat = image::RgbImage::from_pixel(3, 2, image::Rgb([200, 100, 50]));
    save(flat.into(), &root.join("dog/c.jpg"));
    write(&root, "dog/notes.txt", b"not an image");
    write(&root, "README.md", b"not a class");

    let loaded = open(&root).unwrap();
    assert!(loaded.is_image);
    assert_eq!(loaded.class_names.unwrap(), ["cat", "dog"]);
    let d = loaded.dataset;
    assert_eq!((d.len(), d.sample_shape(), d.labels()), (3, &[3, 2, 3][..], Some(&[0, 1, 1][..])));
    // The grey image repeated in all three channels, CHW.
    let g: Vec<f32> = (0..6).map(|i| (10 * i) as f32).collect();
    assert_eq!(d.sample(0), [g.clone(), g.clone(), g].concat());
    assert_eq!(d.sample(1), [[0., 1., 2., 0., 1., 2.], [0., 0., 0., 1., 1., 1.], [200.; 6]].concat());
    // JPEG is lossy: a flat colour comes back within a few levels.
    for (c, want) in [200.0f32, 100.0, 50.0].into_iter().enumerate() {
        for v in &d.sample(2)[c * 6..(c + 1) * 6] {
            assert!((v - want).abs() <= 3.0, "channel {c}: {v} vs {want}");
        }
    }

    // Grey only → one channel; NHWC with scaling.
    let grey_root = dir.path().join("grey");
    let img = image::GrayImage::from_fn(2, 2, |x, y| image::Luma([(51 * (x + 2 * y)) as u8]));
    save(img.into(), &grey_root.join("zero/x.png"));
    let p = Preprocess { scale: 1.0 / 51.0, layout: Layout::Nhwc, ..Preprocess::default() };
    let d = data::open(&grey_root, &OpenOptions { preprocess: Some(p), ..OpenOptions::default() }).unwrap().dataset;
    assert_eq!((d.sample_shape(), d.values()), (&[2, 2, 1][..], &[0.0, 1.0, 2.0, 3.0][..]));
}

#[test]
fn image_folder_sizes_must_match_unless_resized() {
    let dir = tempfile::tempdir().unwrap();
    save(image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30])).into(), &dir.path().join("a/1.png"));
    save(image::RgbImage::from_pixel(2, 3, image::Rgb([10, 20, 30])).into(), &dir.path().join("b/2.png"));
    let err = err_text(images::read_folder(dir.path(), None));
    assert!(err.contains("2.png") && err.contains("2x3") && err.contains("4x4") && err.contains("resize"), "{err}");

    let p = Preprocess { resize: Some((2, 5)), ..Preprocess::default() };
    let d = data::open(dir.path(), &OpenOptions { preprocess: Some(p), ..OpenOptions::default() }).unwrap().dataset;
    assert_eq!((d.len(), d.sample_shape(), d.labels()), (2, &[3, 2, 5][..], Some(&[0, 1][..])));
    // Resizing a flat colour keeps it.
    assert!(d.sample(1)[..10].iter().all(|&v| v == 10.0));

    let empty = tempfile::tempdir().unwrap();
    let err = err_text(open(empty.path()));
    assert!(err.contains("subfolder"), "{err}");
    let broken = write(dir.path(), "c/3.png", b"\x89PNG but not really");
    let err = err_text(images::read_folder(dir.path(), Some((2, 2))));
    assert!(err.contains(broken.to_str().unwrap()) && err.contains("decode"), "{err}");
}

#[test]
fn csv_with_header_and_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "train.csv", b"f1, f2, label, f3\n1.5, 2, 0, -3\n4, 5e1, 2, 6\n");
    let d = csv::read_dataset(&path, Some("label")).unwrap();
    assert_eq!((d.len(), d.sample_shape(), d.labels()), (2, &[3][..], Some(&[0, 2][..])));
    assert_eq!(d.values(), [1.5, 2.0, -3.0, 4.0, 50.0, 6.0]);
    let d = csv::read_dataset(&path, None).unwrap();
    assert_eq!((d.sample_shape(), d.labels()), (&[4][..], None));

    let err = err_text(csv::read_dataset(&path, Some("class")));
    assert!(err.contains("train.csv") && err.contains("'class'") && err.contains("f1, f2, label, f3"), "{err}");
}

#[test]
fn csv_gz_without_header_like_uci_digits() {
    let dir = tempfile::tempdir().unwrap();
    // Like digits.csv.gz: pixel columns then the label, no header.
    let path = write(dir.path(), "digits.csv.gz", &gzip(b"0,0,5,13,0\n0,16,3,1,7\n"));
    let options = OpenOptions { label_column: Some("-1".into()), ..OpenOptions::default() };
    let loaded = data::open(&path, &options).unwrap();
    assert!(!loaded.is_image);
    let d = loaded.dataset;
    assert_eq!((d.sample_shape(), d.labels()), (&[4][..], Some(&[0, 7][..])));
    assert_eq!(d.values(), [0.0, 0.0, 5.0, 13.0, 0.0, 16.0, 3.0, 1.0]);
    let by_index = OpenOptions { label_column: Some("4".into()), ..OpenOptions::default() };
    assert_eq!(data::open(&path, &by_index).unwrap().dataset.labels(), Some(&[0, 7][..]));
}

#[test]
fn csv_non_numeric_cell_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.csv", b"a,b,y\n1,2,0\n3,oops,1\n");
    let err = err_text(csv::read_dataset(&path, Some("y")));
    assert!(err.contains("bad.csv") && err.contains("line 3") && err.contains("'b'") && err.contains("oops"), "{err}");
    let path = write(dir.path(), "frac.csv", b"a,y\n1,0.5\n");
    let err = err_text(csv::read_dataset(&path, Some("y")));
    assert!(err.contains("line 2") && err.contains("whole number"), "{err}");
    let path = write(dir.path(), "ragged.csv", b"a,y\n1,0\n2\n");
    let err = err_text(csv::read_dataset(&path, Some("y")));
    assert!(err.contains("ragged.csv") && err.contains("line 3"), "{err}");
}

#[test]
fn missing_files_and_unknown_formats() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["none.npy", "none.npz", "none-ubyte", "none.bin", "none.csv", "none.parquet"] {
        let path = dir.path().join(name);
        let err = open(&path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    assert!(matches!(npy::read_dataset(&dir.path().join("x.npy")), Err(Error::Io { .. })));
    assert!(matches!(idx::read_labels(&dir.path().join("x-ubyte")), Err(Error::Io { .. })));
    assert!(matches!(csv::read_dataset(&dir.path().join("x.csv"), None), Err(Error::Io { .. })));

    let odd = write(dir.path(), "data.parquet", b"PAR1");
    let err = err_text(open(&odd));
    assert!(err.contains("data.parquet") && err.contains("npy, npz, idx, cifar, images, csv"), "{err}");
    let err = err_text("hdf5".parse::<Format>());
    assert!(err.contains("'hdf5'") && err.contains("npy, npz, idx, cifar, images, csv"), "{err}");

    // An explicit format reads a file whatever its name.
    let csv_file = write(dir.path(), "table.txt", b"a,b\n1,2\n");
    let options = OpenOptions { format: Some("csv".parse().unwrap()), ..OpenOptions::default() };
    assert_eq!(data::open(&csv_file, &options).unwrap().dataset.values(), [1.0, 2.0]);
    // Options that do not apply to the format are errors.
    let options = OpenOptions { format: Some(Format::Csv), key: Some("x".into()), ..OpenOptions::default() };
    assert!(err_text(data::open(&csv_file, &options)).contains("npz"));
}
