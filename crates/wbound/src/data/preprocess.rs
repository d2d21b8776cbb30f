//! Preprocessing after reading: scale, per-channel normalisation and image layout, as a model's
//! training pipeline did it (e.g. torchvision's `ToTensor()` + `Normalize(mean, std)`:
//! `scale = 1/255`, then `(x - mean[c]) / std[c]`).

use std::fmt;

use super::{ArrayDataset, Dataset};
use crate::error::{Error, Result};

/// The memory layout of image samples: channels first (`[C, H, W]`, PyTorch) or last
/// (`[H, W, C]`, TensorFlow/Keras).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Channels first: samples of shape `[C, H, W]`.
    #[default]
    Nchw,
    /// Channels last: samples of shape `[H, W, C]`.
    Nhwc,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
        })
    }
}

impl std::str::FromStr for Layout {
    type Err = Error;

    fn from_str(s: &str) -> Result<Layout> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nchw" | "chw" => Ok(Layout::Nchw),
            "nhwc" | "hwc" => Ok(Layout::Nhwc),
            _ => Err(Error::Config(format!("unknown image layout '{s}'; use nchw or nhwc"))),
        }
    }
}

/// What to do to the values after reading them: `(value * scale - mean[c]) / std[c]` for each
/// channel `c`, then the image layout. `resize` is applied while reading image folders.
///
/// ```
/// use wbound::data::{Layout, Preprocess};
/// use wbound::{ArrayDataset, Dataset};
/// // One 2x1 RGB image, CHW.
/// let img = ArrayDataset::new(vec![3, 2, 1], vec![0.0, 255.0, 51.0, 102.0, 255.0, 0.0])?
///     .with_image_layout(Layout::Nchw)?;
/// let p = Preprocess { scale: 1.0 / 255.0, mean: vec![0.5], std: vec![0.5], layout: Layout::Nhwc, ..Default::default() };
/// let out = p.apply(img)?;
/// assert_eq!(out.sample_shape(), [2, 1, 3]);
/// let rounded: Vec<f32> = out.values().iter().map(|v| (v * 10.0).round() / 10.0).collect();
/// assert_eq!(rounded, [-1.0, -0.6, 1.0, 1.0, -0.2, -1.0]);
/// # Ok::<(), wbound::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Multiplies every value first (e.g. `1.0 / 255.0`).
    pub scale: f32,
    /// Subtracted per channel after scaling: empty (none), one value for all channels, or one per
    /// channel.
    pub mean: Vec<f32>,
    /// Divides per channel after subtracting the mean: empty (none), one value, or one per channel.
    pub std: Vec<f32>,
    /// Resize image-folder images to (height, width) while reading them.
    pub resize: Option<(usize, usize)>,
    /// The layout image samples should have.
    pub layout: Layout,
}

impl Default for Preprocess {
    fn default() -> Preprocess {
        Preprocess { scale: 1.0, mean: Vec::new(), std: Vec::new(), resize: None, layout: Layout::Nchw }
    }
}

/// `values` of length `channels` (or one value repeated, or `fill` when empty).
fn per_channel(values: &[f32], channels: usize, fill: f32) -> Option<Vec<f32>> {
    match values.len() {
        0 => Some(vec![fill; channels]),
        1 => Some(vec![values[0]; channels]),
        n if n == channels => Some(values.to_vec()),
        _ => None,
    }
}

impl Preprocess {
    /// Scales and normalises the values and converts image samples to [`Self::layout`].
    ///
    /// For images ([`ArrayDataset::image_layout`]) `mean` and `std` are per channel; for other data
    /// they may hold at most one value, and asking for [`Layout::Nhwc`] is an error. Labels are
    /// kept.
    pub fn apply(&self, dataset: ArrayDataset) -> Result<ArrayDataset> {
        if !self.scale.is_finite() || self.scale == 0.0 {
            return Err(Error::Config(format!("the scale is {}; it must be a finite non-zero number", self.scale)));
        }
        if let Some(bad) = self.std.iter().find(|s| !s.is_finite() || **s == 0.0) {
            return Err(Error::Config(format!("std holds {bad}; every std must be a finite non-zero number")));
        }
        if let Some(bad) = self.mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::Config(format!("mean holds {bad}; every mean must be finite")));
        }
        let dims = dataset.image_dims();
        let channels = dims.map_or(1, |(c, _, _)| c);
        let (Some(mean), Some(std)) = (per_channel(&self.mean, channels, 0.0), per_channel(&self.std, channels, 1.0))
        else {
            let what = match dims {
                Some(_) => format!("the images have {channels} channels"),
                None => "the samples are not images, so one value each at most applies".to_string(),
            };
            return Err(Error::Config(format!(
                "mean has {} values and std has {}, but {what}; give one value per channel (or one for all)",
                self.mean.len(),
                self.std.len()
            )));
        };
        let source = dataset.image_layout();
        if source.is_none() && self.layout != Layout::Nchw {
            return Err(Error::Config(format!(
                "the {} layout applies to images, and these samples (shape {:?}) are not images",
                self.layout,
                dataset.sample_shape()
            )));
        }
        let (shape, mut data, labels, image) = dataset.into_parts();

        // Channel of the value at flat index i within a sample.
        let per_sample: usize = shape.iter().product();
        let channel_of = |i: usize| match (source, dims) {
            (Some(Layout::Nchw), Some((c, h, w))) => (i % per_sample) / (h * w) % c,
            (Some(Layout::Nhwc), Some((c, _, _))) => i % c,
            _ => 0,
        };
        let identity = self.scale == 1.0 && mean.iter().all(|&m| m == 0.0) && std.iter().all(|&s| s == 1.0);
        if !identity {
            for (i, v) in data.iter_mut().enumerate() {
                let c = channel_of(i);
                *v = (*v * self.scale - mean[c]) / std[c];
            }
        }

        let (shape, data) = match (source, dims) {
            (Some(from), Some((c, h, w))) if from != self.layout => {
                let mut out = Vec::with_capacity(data.len());
                for sample in data.chunks_exact(per_sample) {
                    match from {
                        // CHW → HWC
                        Layout::Nchw => {
                            out.extend((0..h * w).flat_map(|p| (0..c).map(move |ch| sample[ch * h * w + p])))
                        }
                        // HWC → CHW
                        Layout::Nhwc => out.extend((0..c).flat_map(|ch| (0..h * w).map(move |p| sample[p * c + ch]))),
                    }
                }
                let shape = match self.layout {
                    Layout::Nchw => vec![c, h, w],
                    Layout::Nhwc => vec![h, w, c],
                };
                (shape, out)
            }
            _ => (shape, data),
        };
        let mut out = ArrayDataset::new(shape, data)?;
        if let Some(labels) = labels {
            out = out.with_labels(labels)?;
        }
        if image.is_some() {
            out = out.with_image_layout(self.layout)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(layout: Layout, shape: Vec<usize>, data: Vec<f32>) -> ArrayDataset {
        ArrayDataset::new(shape, data).unwrap().with_image_layout(layout).unwrap()
    }

    #[test]
    fn normalises_per_channel_and_converts_layout() {
        // Two samples of 2 channels x 1 x 2 (CHW).
        let d = image(Layout::Nchw, vec![2, 1, 2], vec![1., 2., 10., 20., 3., 4., 30., 40.]).with_labels(vec![0, 1]);
        let p = Preprocess { scale: 2.0, mean: vec![0.0, 20.0], std: vec![1.0, 10.0], ..Default::default() };
        let out = p.apply(d.unwrap()).unwrap();
        assert_eq!(out.sample_shape(), [2, 1, 2]);
        assert_eq!(out.values(), [2., 4., 0., 2., 6., 8., 4., 6.]);
        assert_eq!(out.labels(), Some(&[0, 1][..]));

        let hwc = Preprocess { layout: Layout::Nhwc, ..p.clone() }.apply(out.clone()).unwrap();
        assert_eq!((hwc.sample_shape(), hwc.image_layout()), (&[1, 2, 2][..], Some(Layout::Nhwc)));
        // Normalised again (scale 2, mean [0, 20], std [1, 10]), then interleaved.
        assert_eq!(hwc.values(), [4., -2., 8., -1.6, 12., -1.2, 16., -0.8]);
        let back = Preprocess { layout: Layout::Nchw, ..Default::default() }.apply(hwc.clone()).unwrap();
        assert_eq!(back.values(), [4., 8., -2., -1.6, 12., 16., -1.2, -0.8]);
        assert_eq!(back.sample_shape(), [2, 1, 2]);
    }

    #[test]
    fn rejects_mismatched_settings() {
        let rgb = image(Layout::Nchw, vec![3, 1, 1], vec![1., 2., 3.]);
        let p = Preprocess { mean: vec![0.1, 0.2], std: vec![0.5, 0.5, 0.5], ..Default::default() };
        let err = p.apply(rgb.clone()).unwrap_err().to_string();
        assert!(err.contains("mean has 2 values") && err.contains("std has 3") && err.contains("3 channels"), "{err}");
        let err = Preprocess { std: vec![0.0], ..Default::default() }.apply(rgb.clone()).unwrap_err().to_string();
        assert!(err.contains("std"), "{err}");

        let plain = ArrayDataset::new(vec![2], vec![1., 2.]).unwrap();
        let err = Preprocess { layout: Layout::Nhwc, ..Default::default() }.apply(plain.clone()).unwrap_err();
        assert!(err.to_string().contains("not images"), "{err}");
        assert!(Preprocess { mean: vec![1., 2.], ..Default::default() }.apply(plain.clone()).is_err());
        let out = Preprocess { scale: 0.5, mean: vec![1.0], ..Default::default() }.apply(plain).unwrap();
        assert_eq!(out.values(), [-0.5, 0.0]);
        assert_eq!("NHWC".parse::<Layout>().unwrap(), Layout::Nhwc);
        assert!("whc".parse::<Layout>().is_err());
    }
}
