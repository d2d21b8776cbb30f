//! The memory plan of a run: what scoring will hold (model, one workspace per worker, one batch),
//! estimated before anything is allocated, and the check against a limit.

use std::fmt;

use super::WeightsBoundaryCalculator;
use crate::data::Dataset;
use crate::deepfool::SampleScore;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The memory a scoring run holds, by part, in bytes ([`WeightsBoundaryCalculator::memory_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The model's tensors and the trained values of the selected weights.
    pub model: usize,
    /// Worker threads.
    pub workers: usize,
    /// One worker's memory: its copy of the weights, one gradient, activations, the cotangents
    /// of every candidate class, scratch.
    pub per_worker: usize,
    /// One batch of inputs and results.
    pub batch: usize,
}

impl MemoryPlan {
    /// All parts together.
    pub fn total(&self) -> usize {
        self.model.saturating_add(self.per_worker.saturating_mul(self.workers)).saturating_add(self.batch)
    }
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} ({} worker{} × {} + model {} + batch {})",
            human_bytes(self.total()),
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            human_bytes(self.per_worker),
            human_bytes(self.model),
            human_bytes(self.batch)
        )
    }
}

/// `bytes` in B, KiB, MiB, GiB or TiB with one decimal.
pub fn human_bytes(bytes: usize) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return if unit == "B" { format!("{bytes} B") } else { format!("{v:.1} {unit}") };
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}

impl WeightsBoundaryCalculator<'_> {
    pub(super) fn plan(&self, engine: &Engine, data: &dyn Dataset) -> MemoryPlan {
        let group = self.group_size();
        let sample_bytes = data.sample_shape().iter().product::<usize>().saturating_mul(4);
        MemoryPlan {
            model: self.model.graph().tensors.iter().map(|t| t.data.len()).sum::<usize>().saturating_mul(4)
                + engine.selection().len() * 4,
            workers: self.threads.min(data.len()).max(1),
            per_worker: engine.workspace_bytes().saturating_add(if group > 1 { engine.group_bytes(group) } else { 0 }),
            batch: self.batch_size.min(data.len()).saturating_mul(sample_bytes + std::mem::size_of::<SampleScore>()),
        }
    }

    /// What scoring `data` will hold in memory, estimated without allocating it: the check behind
    /// [`max_memory`](Self::max_memory).
    pub fn memory_plan(&self, data: &dyn Dataset) -> Result<MemoryPlan> {
        Ok(self.plan(&self.engine()?, data))
    }

    /// [`Error::Resources`] when `plan` exceeds the [`max_memory`](Self::max_memory) limit.
    pub(super) fn check_memory(&self, plan: &MemoryPlan) -> Result<()> {
        match self.max_memory.filter(|&limit| plan.total() > limit) {
            Some(limit) => Err(Error::Resources(format!(
                "scoring needs about {plan}, more than the memory limit of {}; use fewer threads, a smaller \
                 batch or fewer candidate classes, or raise the limit",
                human_bytes(limit)
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_would() {
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        let plan = MemoryPlan { model: 1024, workers: 2, per_worker: 2048, batch: 512 };
        assert_eq!(plan.total(), 1024 + 4096 + 512);
        assert_eq!(plan.to_string(), "5.5 KiB (2 workers × 2.0 KiB + model 1.0 KiB + batch 512 B)");
    }
}
