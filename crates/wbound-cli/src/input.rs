//! Reading `--inputs` for a model: the format's reader, preprocessing, labels, the fit to the
//! model's input shape, and the shard's slice.

use std::ops::Range;

use anyhow::{bail, Result};
use wbound::data::stream::NpyStream;
use wbound::data::{self, npy, ArrayDataset, Format, Layout, OpenOptions, Preprocess};
use wbound::{Dataset, Model};

use crate::args::DataArgs;
use crate::usage;

/// The data set to score, with what the commands need to know about it.
pub struct Input {
    pub data: Samples,
    /// One label per sample, from the format or `--labels`.
    pub labels: Option<Vec<i64>>,
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
    let image_format = image;
    let wants_preprocess =
        args.scale.is_some() || !args.mean.is_empty() || !args.std.is_empty() || args.resize.is_some();
    let preprocess = (image || wants_preprocess).then(|| Preprocess {
        scale: args.scale.unwrap_or(1.0),
        mean: args.mean.clone(),
        std: args.std.clone(),
        resize: args.resize,
        layout: if image { args.layout.unwrap_or_else(|| implied_layout(model.input_shape())) } else { Layout::Nchw },
    });
    if format == Format::Npy && !wants_preprocess {
        if let Some(stream) = NpyStream::open(&args.inputs)? {
            let image = Geometry::of_shape(stream.sample_shape());
            return finish(args, Samples::Stream(stream), None, image, None);
        }
    }
    let options = OpenOptions {
        format: Some(format),
        key: args.key.clone(),
        label_column: args.label_column.clone(),
        preprocess,
    };
    let loaded = data::open(&args.inputs, &options)?;
    let mut dataset = loaded.dataset;
    let image = Geometry::of(&dataset);
    if let Some(shape) = fitted_shape(dataset.sample_shape(), model).filter(|_| image_format) {
        dataset = dataset.reshape(shape)?;
    }
    let labels = dataset.labels().map(<[i64]>::to_vec);
    finish(args, Samples::Memory(dataset), labels, image, loaded.class_names)
}

/// Attaches `--labels` and picks the shard's range. The library checks the samples' shape and the
/// labels against the model when the run starts.
fn finish(
    args: &DataArgs,
    data: Samples,
    labels: Option<Vec<i64>>,
    image: Option<Geometry>,
    class_names: Option<Vec<String>>,
) -> Result<Input> {
    let n = data.len();
    let labels = match &args.labels {
        Some(path) => {
            let labels = npy::read_labels(path)?;
            if labels.len() != n {
                bail!("{}: {} labels for {n} samples", path.display(), labels.len());
            }
            Some(labels)
        }
        None => labels,
    };
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
    Ok(Input { data, labels, image, range, class_names })
}

/// A library error about the samples (their shape, labels, values) with the file they came from.
pub fn about_inputs(args: &DataArgs) -> impl Fn(wbound::Error) -> wbound::Error + '_ {
    move |e| match e {
        e @ (wbound::Error::Data(_) | wbound::Error::NonFiniteInput { .. }) => e.in_file(&args.inputs),
        e => e,
    }
}

/// The samples: in memory, or streamed from an `.npy` file batch by batch.
pub enum Samples {
    Memory(ArrayDataset),
    Stream(NpyStream),
}

impl Dataset for Samples {
    fn len(&self) -> usize {
        match self {
            Samples::Memory(d) => d.len(),
            Samples::Stream(d) => d.len(),
        }
    }

    fn sample_shape(&self) -> &[usize] {
        match self {
            Samples::Memory(d) => d.sample_shape(),
            Samples::Stream(d) => d.sample_shape(),
        }
    }

    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> wbound::Result<()> {
        match self {
            Samples::Memory(d) => d.read(start, count, out),
            Samples::Stream(d) => d.read(start, count, out),
        }
    }
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
        Geometry::of_shape(d.sample_shape())
    }

    fn of_shape(shape: &[usize]) -> Option<Geometry> {
        match *shape {
            [h, w] if h > 1 && w > 1 => Some(Geometry { c: 1, h, w, channels_last: false }),
            [c, h, w] if (c == 1 || c == 3) && h > 4 && w > 4 => Some(Geometry { c, h, w, channels_last: false }),
            [h, w, c] if (c == 1 || c == 3) && h > 4 && w > 4 => Some(Geometry { c, h, w, channels_last: true }),
            _ => None,
        }
    }
}

/// The model's sample shape when image samples of shape `have` (whose shape the file format
/// decides, `[1, 28, 28]` for MNIST) should be viewed as it: flattened for a model whose input is a
/// vector (an MLP on images), or with size-1 axes added or dropped, when the element counts agree.
/// Arrays (`.npy`, `.npz`, CSV) must already have the model's shape: anything else is left for the
/// calculator to reject with both shapes.
fn fitted_shape(have: &[usize], model: &Model) -> Option<Vec<usize>> {
    let want = model.input_shape();
    let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    let same_count = have.iter().product::<usize>() == want.iter().product::<usize>();
    (have != want && same_count && (want.len() == 1 || squeeze(have) == squeeze(want))).then(|| want.to_vec())
}

/// A contiguous slice of a data set (and of its labels), indexed from 0.
pub struct Slice<'a> {
    pub data: &'a dyn Dataset,
    pub labels: Option<&'a [i64]>,
    pub range: Range<usize>,
}

impl<'a> Slice<'a> {
    /// Samples `range` of the input.
    pub fn of(input: &'a Input, range: Range<usize>) -> Slice<'a> {
        Slice { data: &input.data, labels: input.labels.as_deref(), range }
    }
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

    fn labels(&self) -> Option<&[i64]> {
        self.labels.map(|l| &l[self.range.clone()])
    }
}
