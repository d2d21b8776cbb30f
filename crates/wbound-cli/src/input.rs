//! Reading `--inputs` for a model: the format's reader, preprocessing, labels, the fit to the
//! model's input shape (checked here, with the flag that fixes a mismatch), the samples' files,
//! and the shard's slice.

use std::ops::Range;

use anyhow::{bail, Result};
use wbound::data::stream::NpyStream;
use wbound::data::{self, ArrayDataset, Format, Layout, OpenOptions, Preprocess};
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
    /// Each sample's file relative to `--inputs` (image folders), with `/` between folders.
    pub paths: Option<Vec<String>>,
}

impl Input {
    /// Sample `index`'s file, when the samples come from files.
    pub fn path(&self, index: usize) -> Option<&str> {
        self.paths.as_ref().and_then(|p| p.get(index)).map(String::as_str)
    }

    /// A label with its class name where the format has names (`3 (cat)`).
    pub fn class_name(&self, c: i64) -> String {
        match &self.class_names {
            Some(names) => names.get(c as usize).map_or(c.to_string(), |s| format!("{c} ({s})")),
            None => c.to_string(),
        }
    }
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
            let input = finish(args, Samples::Stream(stream), None, image, None)?;
            return check_shape(args, format, input, model);
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
    let mut input = finish(args, Samples::Memory(dataset), labels, image, loaded.class_names)?;
    input.paths = loaded.files.map(|files| files.iter().map(|f| slashed(f)).collect());
    check_shape(args, format, input, model)
}

/// A relative path with `/` between its parts, whatever the platform.
fn slashed(path: &std::path::Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// The samples' shape against the model's input, before any work: a mismatch names both shapes
/// and, where one fixes it, the flag to pass (the library makes the same check, without the flags).
fn check_shape(args: &DataArgs, format: Format, input: Input, model: &Model) -> Result<Input> {
    let (have, want) = (input.data.sample_shape(), model.input_shape());
    if have == want {
        return Ok(input);
    }
    let shape = |s: &[usize]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    bail!(
        "{}: the samples have shape {have:?} but the model expects {want:?} per sample (input shape [N, {}]); {}",
        args.inputs.display(),
        shape(want),
        shape_hint(args, format, have, want)
    )
}

/// What to do about samples of shape `have` read as `format` for a model that wants `want`.
fn shape_hint(args: &DataArgs, format: Format, have: &[usize], want: &[usize]) -> String {
    let count = |s: &[usize]| s.iter().product::<usize>();
    let sorted = |s: &[usize]| {
        let mut s = s.to_vec();
        s.sort_unstable();
        s
    };
    let image = matches!(format, Format::Idx | Format::Cifar | Format::Images);
    if image && have.len() == 3 && want.len() == 3 && sorted(have) == sorted(want) {
        let layout = if have[0] == want[2] { "nhwc" } else { "nchw" };
        return format!("the channels are on another axis: pass --layout {layout}");
    }
    if format == Format::Images && have.len() == 3 && want.len() == 3 {
        let (h, w) = if want[0] <= 4 { (want[1], want[2]) } else { (want[0], want[1]) };
        return format!("resize the images to the model's size: pass --resize {h}x{w}");
    }
    if let ([f], [g]) = (have, want) {
        if format == Format::Csv && *f == g + 1 && args.label_column.is_none() {
            return "one column too many: if a column holds the labels, name it with --label-column NAME (or -1 \
                    for the last one)"
                .into();
        }
    }
    if !image && count(have) == count(want) {
        let dims = want.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
        return format!("the values per sample agree: reshape the array before saving it, x.reshape(len(x), {dims})");
    }
    if format == Format::Images {
        return format!("the model takes {} values per sample: resize the images (--resize HxW)", count(want));
    }
    "check that these are the samples the model was made for".into()
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
            let labels = data::labels::read(path)?;
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
    Ok(Input { data, labels, image, range, class_names, paths: None })
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
