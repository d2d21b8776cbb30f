//! Reading `--inputs` for a model: the format's reader, preprocessing, labels, the fit to the
//! model's input shape, and the shard's slice.

use std::ops::Range;

use anyhow::{bail, Context, Result};
use wbound::data::{self, npy, ArrayDataset, Format, Layout, OpenOptions, Preprocess};
use wbound::{Dataset, Model};

use crate::args::DataArgs;
use crate::usage;

/// The data set to score, with what the commands need to know about it.
pub struct Input {
    pub data: ArrayDataset,
    /// How to show a sample as a picture, when the samples are images.
    pub image: Option<Geometry>,
    /// The samples to score (the whole set, or the shard's slice), as global indices.
    pub range: Range<usize>,
    pub class_names: Option<Vec<String>>,
}

/// The layout an image model expects: channels last when the sample shape is `[h, w, c]` with a
/// small `c` and a large first axis, else channels first.
fn implied_layout(shape: &[usize]) -> Layout {
    match shape {
        [h, _, c] if *c <= 4 && *h > 4 => Layout::Nhwc,
        _ => Layout::Nchw,
    }
}

pub fn load(args: &DataArgs, model: &Model) -> Result<Input> {
    let format = match args.format {
        Some(f) => f,
        None => Format::detect(&args.inputs)?,
    };
    let image = matches!(format, Format::Idx | Format::Cifar | Format::Images);
    let wants_preprocess =
        args.scale.is_some() || !args.mean.is_empty() || !args.std.is_empty() || args.resize.is_some();
    let preprocess = (image || wants_preprocess).then(|| Preprocess {
        scale: args.scale.unwrap_or(1.0),
        mean: args.mean.clone(),
        std: args.std.clone(),
        resize: args.resize,
        layout: if image { args.layout.unwrap_or_else(|| implied_layout(model.input_shape())) } else { Layout::Nchw },
    });
    let options = OpenOptions {
        format: Some(format),
        key: args.key.clone(),
        label_column: args.label_column.clone(),
        preprocess,
    };
    let loaded = data::open(&args.inputs, &options)?;
    let mut dataset = loaded.dataset;
    if let Some(path) = &args.labels {
        let labels = npy::read_labels(path)?;
        dataset = dataset.with_labels(labels).with_context(|| format!("labels from {}", path.display()))?;
    }
    let image = Geometry::of(&dataset);
    dataset = fit_to_model(dataset, model)?;
    if let Some(labels) = dataset.labels() {
        let classes = model.num_classes() as i64;
        if let Some(i) = labels.iter().position(|&l| l < 0 || l >= classes) {
            bail!(
                "label {} of sample {i} is out of range for a model with {classes} classes (labels 0..{})",
                labels[i],
                classes - 1
            );
        }
    }
    let n = dataset.len();
    if n == 0 {
        bail!("{}: the data set holds zero samples", args.inputs.display());
    }
    let range = match args.shard {
        Some((i, parts)) => (i * n / parts)..((i + 1) * n / parts),
        None => 0..n,
    };
    if range.is_empty() {
        return Err(usage(format!("shard {:?} of {n} samples is empty: use fewer shards", args.shard)));
    }
    Ok(Input { data: dataset, image, range, class_names: loaded.class_names })
}

/// The picture shape of image samples: channels, height, width, and whether channels come last.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub channels_last: bool,
}

impl Geometry {
    /// From an image reader's layout, or guessed from the sample shape (`[h, w]`, `[c, h, w]` or
    /// `[h, w, c]` with 1 or 3 channels).
    fn of(d: &ArrayDataset) -> Option<Geometry> {
        if let (Some((c, h, w)), Some(layout)) = (d.image_dims(), d.image_layout()) {
            return Some(Geometry { c, h, w, channels_last: layout == Layout::Nhwc });
        }
        match *d.sample_shape() {
            [h, w] if h > 1 && w > 1 => Some(Geometry { c: 1, h, w, channels_last: false }),
            [c, h, w] if (c == 1 || c == 3) && h > 4 && w > 4 => Some(Geometry { c, h, w, channels_last: false }),
            [h, w, c] if (c == 1 || c == 3) && h > 4 && w > 4 => Some(Geometry { c, h, w, channels_last: true }),
            _ => None,
        }
    }
}

/// Flattens samples for a model whose input is a vector (an MLP on images), or drops size-1 axes,
/// when the element counts agree; anything else is left for the calculator to reject with both
/// shapes.
fn fit_to_model(dataset: ArrayDataset, model: &Model) -> Result<ArrayDataset> {
    let want = model.input_shape();
    let have = dataset.sample_shape();
    let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    let same_count = have.iter().product::<usize>() == want.iter().product::<usize>();
    if have != want && same_count && (want.len() == 1 || squeeze(have) == squeeze(want)) {
        return Ok(dataset.reshape(want.to_vec())?);
    }
    Ok(dataset)
}

/// A contiguous slice of a data set, indexed from 0.
pub struct Slice<'a> {
    pub data: &'a ArrayDataset,
    pub range: Range<usize>,
}

impl Dataset for Slice<'_> {
    fn len(&self) -> usize {
        self.range.len()
    }

    fn sample_shape(&self) -> &[usize] {
        self.data.sample_shape()
    }

    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> wbound::Result<()> {
        self.data.read(self.range.start + start, count, out)
    }
}
