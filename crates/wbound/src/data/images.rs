//! Image folders: one subfolder of PNG/JPEG images per class (the layout of torchvision's
//! `ImageFolder` and Keras' `image_dataset_from_directory`).
//!
//! ```text
//! root/cat/001.png        label 0 ("cat")
//! root/cat/002.png        label 0
//! root/dog/a.jpg          label 1 ("dog")
//! ```
//!
//! Labels are the index of the subfolder's name in sorted order; subfolders and files whose name
//! starts with `.` are skipped, as are files that are not `.png`, `.jpg` or `.jpeg`. Images are
//! read in sorted order within each class. Grey images give one channel and colour images three
//! (alpha is dropped; 16-bit images are reduced to 8 bits); if both occur, grey images are
//! converted to RGB. Samples come out as raw 0..255 values in `[C, H, W]`, marked as
//! [`Layout::Nchw`] images. All images must have the same size unless a resize to `(H, W)` is
//! asked for.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};

use super::{ArrayDataset, Layout};
use crate::error::{Error, Result};

/// The file extensions (lower case) read as images.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// An image folder read into memory.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// The images, `[C, H, W]` each, labelled by class index.
    pub dataset: ArrayDataset,
    /// The class (subfolder) names; label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
    /// The image files, in the order of the samples.
    pub files: Vec<PathBuf>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), cause: source }
}

/// The entries of `dir` whose names do not start with `.`, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    IMAGE_EXTENSIONS.contains(&ext.as_str())
}

/// Decodes one image, resized to `resize` (H, W) if given; returns its 8-bit pixels (HWC) and
/// channel count (1 or 3).
fn decode(path: &Path, resize: Option<(u32, u32)>) -> Result<(Vec<u8>, usize, u32, u32)> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::Data(format!("cannot decode the image ({e}); is it a valid PNG or JPEG file?")).in_file(path)
    };
    let reader = ImageReader::open(path).map_err(io_err(path))?.with_guessed_format().map_err(io_err(path))?;
    let mut img: DynamicImage = reader.decode().map_err(|e| bad(&e))?;
    if let Some((h, w)) = resize {
        if (img.height(), img.width()) != (h, w) {
            img = img.resize_exact(w, h, FilterType::Triangle);
        }
    }
    let (w, h) = (img.width(), img.height());
    Ok(if img.color().has_color() { (img.to_rgb8().into_raw(), 3, h, w) } else { (img.to_luma8().into_raw(), 1, h, w) })
}

/// Reads an image folder (see the module docs), resizing every image to `resize` = (H, W) if
/// given.
pub fn read_folder(root: &Path, resize: Option<(usize, usize)>) -> Result<ImageFolder> {
    let resize = match resize {
        None => None,
        Some((h, w)) => match (u32::try_from(h), u32::try_from(w)) {
            (Ok(h), Ok(w)) if h > 0 && w > 0 => Some((h, w)),
            _ => return Err(Error::Config(format!("cannot resize images to {h}x{w} (height x width)"))),
        },
    };
    let mut class_names = Vec::new();
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for (name, path) in sorted_entries(root)? {
        if !path.is_dir() {
            continue;
        }
        let label = i64::try_from(class_names.len()).unwrap_or(i64::MAX);
        class_names.push(name);
        for (_, file) in sorted_entries(&path)? {
            if file.is_file() && is_image(&file) {
                files.push(file);
                labels.push(label);
            }
        }
    }
    let layout_hint =
        "an image folder holds one subfolder of PNG/JPEG images per class (root/cat/1.png, root/dog/2.jpg)";
    if class_names.is_empty() {
        return Err(Error::Data(format!("no class subfolders; {layout_hint}")).in_file(root));
    }
    if files.is_empty() {
        return Err(Error::Data(format!(
            "no .png/.jpg/.jpeg files in the class subfolders ({}); {layout_hint}",
            class_names.join(", ")
        ))
        .in_file(root));
    }

    let mut decoded = Vec::with_capacity(files.len());
    let (mut h, mut w) = (0, 0);
    for (i, file) in files.iter().enumerate() {
        let (pixels, channels, fh, fw) = decode(file, resize)?;
        if i == 0 {
            (h, w) = (fh, fw);
        } else if (fh, fw) != (h, w) {
            return Err(Error::Data(format!(
                "{} is {fw}x{fh} pixels (width x height) but {} is {w}x{h}; all images must have one size, \
                 or ask for a resize",
                file.display(),
                files[0].display()
            ))
            .in_file(root));
        }
        decoded.push((pixels, channels));
    }

    let channels = decoded.iter().map(|&(_, c)| c).max().unwrap_or(1);
    let plane = h as usize * w as usize;
    let mut data = Vec::with_capacity(decoded.len() * channels * plane);
    for (pixels, c) in &decoded {
        // HWC u8 → CHW f32; a grey image in an RGB set repeats its one channel (as RGB conversion does).
        for ch in 0..channels {
            let src = if *c == 1 { 0 } else { ch };
            data.extend(pixels.chunks_exact(*c).map(|px| f32::from(px[src])));
        }
    }
    let dataset = ArrayDataset::new(vec![channels, h as usize, w as usize], data)
        .and_then(|d| d.with_labels(labels))
        .and_then(|d| d.with_image_layout(Layout::Nchw))
        .map_err(|e| e.in_file(root))?;
    Ok(ImageFolder { dataset, class_names, files })
}
