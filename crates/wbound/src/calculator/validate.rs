//! The checks a run makes before any work, in one place for every front end (the CLI, the Python
//! package): the settings (eps, threads, batch size, candidate classes), the data's sample shape
//! against the model's input, empty data, NaN/∞ in the samples, token ids inside their tables,
//! and labels in range.

use super::WeightsBoundaryCalculator;
use crate::data::Dataset;
use crate::deepfool::Reference;
use crate::error::{Error, Result};

impl WeightsBoundaryCalculator<'_> {
    /// Checks the settings and `data` as a run would, without scoring: the errors
    /// [`compute_influence_values`](Self::compute_influence_values) gives before any work
    /// ([`Error::Setting`] for a setting, [`Error::Data`] or [`Error::NonFiniteInput`] for the
    /// data, [`Error::Resources`] over the memory limit).
    ///
    /// ```
    /// use wbound::{ArrayDataset, Error, Model, WeightsBoundaryCalculator};
    /// # fn main() -> wbound::Result<()> {
    /// let model = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx"))?;
    /// let data = ArrayDataset::new(vec![3], vec![0.0, 1.0, f32::NAN])?;
    /// let err = WeightsBoundaryCalculator::new(&model).validate(&data).unwrap_err();
    /// assert!(matches!(err, Error::NonFiniteInput { sample: 0, position: 2, .. }));
    /// let err = WeightsBoundaryCalculator::new(&model).eps(-1.0).validate(&data).unwrap_err();
    /// assert!(matches!(err, Error::Setting { name: "eps", .. }));
    /// # Ok(()) }
    /// ```
    pub fn validate(&self, data: &dyn Dataset) -> Result<()> {
        self.check(data)?;
        let plan = self.memory_plan(data)?;
        self.check_memory(&plan)
    }

    /// The settings, then the data.
    pub(super) fn check(&self, data: &dyn Dataset) -> Result<()> {
        self.check_settings()?;
        if data.sample_shape() != self.model.input_shape() {
            return Err(Error::Data(format!(
                "the samples have shape {:?} but the model expects {:?} per sample (input shape [N, {}])",
                data.sample_shape(),
                self.model.input_shape(),
                self.model.input_shape().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        if data.is_empty() {
            return Err(Error::Data("the data set holds zero samples".into()));
        }
        if !self.skip_invalid {
            self.check_finite(data)?;
        }
        self.model.check_token_ids(data, self.batch_size)?;
        if self.input_space && self.model.takes_token_ids() {
            return Err(Error::Config("DeepFool on the input needs a float input; this model takes token ids".into()));
        }
        self.check_labels(data)
    }

    fn check_settings(&self) -> Result<()> {
        let eps = self.deepfool.eps;
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::setting("eps", format!("{eps} is not a finite number >= 0")));
        }
        if self.threads == 0 {
            return Err(Error::setting("threads", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::setting("batch_size", "must be at least 1"));
        }
        if self.deepfool.candidates == Some(0) {
            return Err(Error::setting("candidate_classes", "must be at least 1"));
        }
        // The parameter selection is checked against the model.
        if !self.input_space {
            self.params.resolve(self.model.graph())?;
        }
        Ok(())
    }

    /// Labels, wherever the data set has them, are classes of the model; scoring against the
    /// labels needs them.
    fn check_labels(&self, data: &dyn Dataset) -> Result<()> {
        let labels = match (data.labels(), self.reference) {
            (Some(labels), _) => labels,
            (None, Reference::Prediction) => return Ok(()),
            (None, Reference::Labels) => {
                return Err(Error::setting(
                    "reference",
                    "scoring against the labels needs a data set with one label per sample",
                ))
            }
        };
        let classes = self.model.num_classes();
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= classes) {
            return Err(Error::Data(format!(
                "sample {i} has label {l}, but the model has {classes} classes (labels 0..{})",
                classes - 1
            )));
        }
        Ok(())
    }

    /// The first sample holding a NaN or infinite value is an error, found before any work.
    fn check_finite(&self, data: &dyn Dataset) -> Result<()> {
        let n: usize = data.sample_shape().iter().product();
        let mut batch = Vec::new();
        for start in (0..data.len()).step_by(self.batch_size) {
            batch.clear();
            data.read(start, self.batch_size.min(data.len() - start), &mut batch)?;
            if let Some(bad) = batch.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFiniteInput { sample: start + bad / n, position: bad % n, value: batch[bad] });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{ArrayDataset, Error, Model, ParamSelection, Reference, WeightsBoundaryCalculator};

    fn linear() -> Model {
        Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx")).unwrap()
    }

    fn setting_of(e: Error) -> &'static str {
        match e {
            Error::Setting { name, .. } => name,
            e => panic!("not a setting error: {e}"),
        }
    }

    #[test]
    fn each_bad_setting_is_named() {
        let model = linear();
        let data = ArrayDataset::new(vec![3], vec![0.0; 3]).unwrap();
        let calc = || WeightsBoundaryCalculator::new(&model);
        assert_eq!(setting_of(calc().eps(f32::NAN).validate(&data).unwrap_err()), "eps");
        assert_eq!(setting_of(calc().threads(0).validate(&data).unwrap_err()), "threads");
        assert_eq!(setting_of(calc().batch_size(0).validate(&data).unwrap_err()), "batch_size");
        assert_eq!(setting_of(calc().candidate_classes(Some(0)).validate(&data).unwrap_err()), "candidate_classes");
        let glob = calc().params(ParamSelection::Glob("nothing*".into())).validate(&data).unwrap_err();
        assert_eq!(glob.to_string().matches("--").count(), 0, "no CLI flag in a library message: {glob}");
        assert_eq!(setting_of(glob), "params");
        assert_eq!(setting_of(calc().reference(Reference::Labels).validate(&data).unwrap_err()), "reference");
        let msg = calc().eps(-1.0).validate(&data).unwrap_err().to_string();
        assert_eq!(msg, "invalid eps: -1 is not a finite number >= 0");
    }

    #[test]
    fn data_errors_name_the_sample() {
        let model = linear();
        let calc = WeightsBoundaryCalculator::new(&model).batch_size(2);
        let data = ArrayDataset::new(vec![3], vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, f32::INFINITY, 0.0]).unwrap();
        let msg = calc.validate(&data).unwrap_err().to_string();
        assert!(msg.starts_with("sample 2 holds a non-finite value (inf) at position 1;"), "{msg}");
        assert!(!msg.contains("--"), "{msg}");
        let labelled = ArrayDataset::new(vec![3], vec![0.0; 6]).unwrap().with_labels(vec![0, 2]).unwrap();
        let msg = calc.validate(&labelled).unwrap_err().to_string();
        assert_eq!(msg, "sample 1 has label 2, but the model has 2 classes (labels 0..1)");
        let wrong = ArrayDataset::new(vec![2], vec![0.0; 4]).unwrap();
        assert!(calc.validate(&wrong).unwrap_err().to_string().contains("[2] but the model expects [3]"));
    }
}
