//! What a `score` or `top-k` run scores with: one model, or the checkpoints of one model
//! (several `--model` files, or one `--model` and `--weights` files), and the rows it produces.

use std::io::Write;

use anyhow::Result;
use wbound::checkpoints::{CheckpointCalculator, Checkpoints};
use wbound::{CheckpointScore, Dataset, Model, Reference, SampleScore, Status, WeightsBoundaryCalculator};

use crate::args::RunArgs;
use crate::output::{checkpoint_header, checkpoint_row, csv_row, CSV_HEADER};
use crate::usage;

/// The models of a run.
pub enum Models {
    One(Model),
    Checkpoints(Checkpoints),
}

impl Models {
    /// Loads `--model` (one or several) and `--weights`, checking the flags that go together.
    pub fn load(run: &RunArgs) -> Result<Models> {
        match (run.model.as_slice(), run.weights.is_empty()) {
            ([one], true) => {
                if run.early_steps.is_some() || run.per_checkpoint {
                    return Err(usage(
                        "--early-steps and --per-checkpoint apply to several checkpoints: give several --model files \
                         or --weights files",
                    ));
                }
                Ok(Models::One(Model::load(one)?))
            }
            ([one], false) => Ok(Models::Checkpoints(Checkpoints::with_weights(one, &run.weights)?)),
            (many, true) => Ok(Models::Checkpoints(Checkpoints::load(many)?)),
            (many, false) => Err(usage(format!(
                "--weights takes one --model (the architecture the weight files fill), not {}",
                many.len()
            ))),
        }
    }

    /// The model the data is read for (the last checkpoint).
    pub fn model(&self) -> &Model {
        match self {
            Models::One(m) => m,
            Models::Checkpoints(c) => c.last(),
        }
    }

    /// The reference of the run: several checkpoints are always scored against the labels;
    /// an error when the labels the reference needs are missing.
    pub fn reference(&self, run: &RunArgs, has_labels: bool) -> Result<Reference> {
        let labels_from = "labels come from the format (IDX, CIFAR, image folders, CSV) or --labels Y.npy";
        match (self, run.reference) {
            (Models::Checkpoints(c), Some(Reference::Prediction)) => Err(usage(format!(
                "{} checkpoints are scored against the labels (the mean of the label-referenced score; the \
                 prediction-referenced score does not average well): drop --reference prediction",
                c.len()
            ))),
            (Models::Checkpoints(c), _) if !has_labels => Err(usage(format!(
                "{} checkpoints are scored against the labels, and there are none: {labels_from}",
                c.len()
            ))),
            (Models::Checkpoints(_), _) => Ok(Reference::Labels),
            (Models::One(_), Some(Reference::Labels)) if !has_labels => {
                Err(usage(format!("--reference label needs labels: {labels_from}")))
            }
            (Models::One(_), r) => Ok(r.unwrap_or_default()),
        }
    }
}

/// A run's calculator: one model's, or every checkpoint's.
pub enum Scorer<'m> {
    One(WeightsBoundaryCalculator<'m>),
    Checkpoints { calc: CheckpointCalculator<'m>, per_checkpoint: bool },
}

/// One sample's result.
#[derive(Debug, Clone)]
pub enum Row {
    One(SampleScore),
    Checkpoints(CheckpointScore),
}

/// A batch of results: the first sample's index (in the data set scored) and the rows.
pub type RowBatch = (usize, Vec<Row>);

impl<'m> Scorer<'m> {
    /// The calculator for `models` with the run's settings (`base` holds them).
    pub fn new(base: WeightsBoundaryCalculator<'m>, models: &'m Models, run: &RunArgs, reference: Reference) -> Self {
        match models {
            Models::One(_) => Scorer::One(base.reference(reference)),
            Models::Checkpoints(c) => Scorer::Checkpoints {
                calc: CheckpointCalculator::new(&base, c).early_steps(run.early_steps),
                per_checkpoint: run.per_checkpoint,
            },
        }
    }

    /// The CSV header of the rows.
    pub fn header(&self) -> String {
        match self {
            Scorer::One(_) => CSV_HEADER.to_string(),
            Scorer::Checkpoints { calc, per_checkpoint } => checkpoint_header(per_checkpoint.then_some(calc.len())),
        }
    }

    /// Scores `data`, streaming batches of rows; the run's checks pass before this returns.
    pub fn compute<'a>(
        &'a self,
        data: &'a dyn Dataset,
    ) -> wbound::Result<Box<dyn Iterator<Item = wbound::Result<RowBatch>> + 'a>> {
        Ok(match self {
            Scorer::One(calc) => Box::new(
                calc.compute_influence_values(data)?
                    .map(|b| b.map(|b| (b.start, b.scores.into_iter().map(Row::One).collect()))),
            ),
            Scorer::Checkpoints { calc, .. } => Box::new(
                calc.compute(data)?.map(|b| b.map(|b| (b.start, b.scores.into_iter().map(Row::Checkpoints).collect()))),
            ),
        })
    }

    /// Writes one row as CSV, with the sample's file last where it has one.
    pub fn write(&self, out: &mut dyn Write, index: usize, row: &Row, path: Option<&str>) -> std::io::Result<()> {
        let per_checkpoint = matches!(self, Scorer::Checkpoints { per_checkpoint: true, .. });
        match row {
            Row::One(s) => csv_row(out, index, s, path),
            Row::Checkpoints(s) => checkpoint_row(out, index, s, per_checkpoint, path),
        }
    }

    /// What ranked the samples, for the summary line.
    pub fn describe(&self, has_labels: bool) -> String {
        match self {
            Scorer::Checkpoints { calc, .. } => {
                format!("ranked by the label-referenced score averaged over {} checkpoints", calc.len())
            }
            Scorer::One(c) if c.reference_setting() == Reference::Labels => {
                "ranked by the label-referenced score".into()
            }
            Scorer::One(_) if has_labels => {
                "ranked by the prediction-referenced score (influenciae's; --reference label ranks by the labels)"
                    .into()
            }
            Scorer::One(_) => "ranked by the prediction-referenced score (influenciae's)".into(),
        }
    }
}

impl Row {
    /// How the row's search ended.
    pub fn status(&self) -> Status {
        match self {
            Row::One(s) => s.status,
            Row::Checkpoints(s) => s.status,
        }
    }
}
