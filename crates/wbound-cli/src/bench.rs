//! `wbound bench`: runs the library's mislabel-detection benchmark over the seeds, prints the
//! table of mean ± std per method, and writes the JSON report, the plot and the trained models.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use wbound::bench::metrics::{mean_curve, Summary};
use wbound::bench::{BenchConfig, Method, MethodRun, SeedRun};
use wbound::Dataset;

use crate::args::BenchArgs;

/// A figure reported per method: JSON key, table header, accessor.
type Figure = (&'static str, &'static str, fn(&MethodRun) -> f64);

/// The figures reported per method.
const FIGURES: [Figure; 5] = [
    ("roc_metric", "ROC metric", |m| m.roc_metric),
    ("auroc", "AUROC", |m| m.auroc),
    ("precision_at_k", "P@k", |m| m.precision_at_k),
    ("recall_at_5pct", "R@5%", |m| m.recall_at_5pct),
    ("recall_at_10pct", "R@10%", |m| m.recall_at_10pct),
];

/// The repository's data folder (the CLI crate lives in crates/wbound-cli).
fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

pub fn run(a: &BenchArgs) -> Result<()> {
    crate::plot::check_name(&a.plot)?;
    crate::destination::check_folder(&a.plot, "--plot")?;
    if let Some(json) = &a.json {
        crate::destination::check_folder(json, "--json")?;
    }
    let mut config = BenchConfig::new(a.dataset, a.arch);
    config.noise = a.noise;
    config.train_size = a.train_size.unwrap_or(config.train_size);
    config.hidden = a.hidden.map_or(config.hidden, |h| h as usize);
    config.steps = a.steps;
    config.early_steps = a.early_steps;
    config.train.max_epochs = a.epochs.map_or(config.train.max_epochs, |e| e as usize);
    config.train.batch_size = a.batch_size as usize;
    config.train.lr = a.lr.unwrap_or(config.train.lr);
    if !a.methods.is_empty() {
        config.methods = a.methods.clone();
    }
    if let Some(t) = a.threads {
        (config.threads, config.train.threads) = (t as usize, t as usize);
    }
    let dir = a.data_dir.clone().unwrap_or_else(default_data_dir);
    let data = config.dataset.load(&dir)?;
    for d in [&a.save_model, &a.save_checkpoints].into_iter().flatten() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }

    let mut runs = Vec::new();
    for seed in 0..a.seeds {
        eprintln!(
            "seed {seed}: training a {} on {} noisy {} samples ...",
            config.arch, config.train_size, config.dataset
        );
        let run = config.run_seed(&data, seed)?;
        eprintln!(
            "seed {seed}: {} epochs in {:.1} s (final loss {:.4}), train accuracy vs noisy labels {:.3}, \
             flipped labels memorised {:.3}; scored in {:.1} s",
            run.trained.epochs,
            run.train_seconds,
            run.trained.loss,
            run.fit.train_accuracy,
            run.fit.flipped_memorised,
            run.methods.iter().map(|m| m.seconds).sum::<f64>()
        );
        if let Some(d) = &a.save_model {
            let path = d.join(format!("{}-{}-seed{seed}.onnx", config.dataset, config.arch));
            std::fs::write(&path, &run.trained.onnx).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("seed {seed}: model saved to {}", path.display());
        }
        if let Some(d) = &a.save_checkpoints {
            let dir = save_checkpoints(d, &run)?;
            eprintln!(
                "seed {seed}: {} checkpoints and the training set saved in {}",
                run.trained.checkpoints.len(),
                dir.display()
            );
        }
        runs.push(run);
    }

    print_table(&config, &runs);
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report(&config, &runs))?;
        std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("JSON report: {}", path.display());
    }
    let curves: Vec<crate::plot::Curve> = config
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let curves: Vec<&[f64]> = runs.iter().map(|r| r.methods[i].curve.as_slice()).collect();
            let auroc = Summary::of(&per_seed(&runs, i, |m| m.auroc)).mean;
            crate::plot::Curve { name: m.name().to_string(), found: mean_curve(&curves), auroc }
        })
        .collect();
    let title = format!(
        "{} {}, {:.0}% noise, {} seed{}",
        config.dataset,
        config.arch,
        config.noise * 100.0,
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    crate::plot::detection_curves(&a.plot, &title, &curves)
        .with_context(|| format!("cannot draw the plot {}", a.plot.display()))?;
    println!("plot: {}", a.plot.display());
    Ok(())
}

/// Writes a seed's checkpoints as `DIR/seed<S>/epoch<EEE>.onnx` and its training set as
/// `train-x.npy`, `train-y.npy` (the noisy labels) and `flipped.npy`; returns the folder.
fn save_checkpoints(dir: &Path, run: &SeedRun) -> Result<PathBuf> {
    let dir = dir.join(format!("seed{}", run.seed));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (epoch, onnx) in &run.trained.checkpoints {
        let path = dir.join(format!("epoch{epoch:03}.onnx"));
        std::fs::write(&path, onnx).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let data = &run.train_set;
    let mut shape = vec![data.len() as u64];
    shape.extend(data.sample_shape().iter().map(|&d| d as u64));
    write_npy(&dir.join("train-x.npy"), &shape, data.values().iter().copied())?;
    let labels = data.labels().unwrap_or_default();
    write_npy(&dir.join("train-y.npy"), &[labels.len() as u64], labels.iter().copied())?;
    write_npy(&dir.join("flipped.npy"), &[run.noisy.len() as u64], run.noisy.iter().map(|&i| i as i64))?;
    Ok(dir)
}

/// Writes one `.npy` array.
fn write_npy<T: npyz::AutoSerialize + npyz::Serialize>(
    path: &Path,
    shape: &[u64],
    values: impl Iterator<Item = T>,
) -> Result<()> {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut w = npyz::WriteOptions::<T>::new().default_dtype().shape(shape).writer(file).begin_nd()?;
    w.extend(values)?;
    w.finish()?;
    Ok(())
}

/// One figure of one method over the seeds.
fn per_seed(runs: &[SeedRun], method: usize, figure: fn(&MethodRun) -> f64) -> Vec<f64> {
    runs.iter().map(|r| figure(&r.methods[method])).collect()
}

fn print_table(config: &BenchConfig, runs: &[SeedRun]) {
    let n_noisy = runs.first().map_or(0, |r| r.noisy.len());
    println!(
        "\nwbound bench: {} {}, {} training samples, {:.0}% noise ({n_noisy} flipped), {}",
        config.dataset,
        config.arch,
        runs.first().map_or(0, |r| r.n_train),
        config.noise * 100.0,
        match runs.len() {
            1 => "1 seed".to_string(),
            n => format!("{n} seeds; mean ± std"),
        }
    );
    let mut header = format!("{:<16}", "method");
    FIGURES.iter().for_each(|(_, h, _)| header.push_str(&format!(" {h:>15}")));
    println!("{header}");
    for (i, m) in config.methods.iter().enumerate() {
        let mut line = format!("{:<16}", m.name());
        for (_, _, f) in FIGURES {
            line.push_str(&format!(" {:>15}", figure(&per_seed(runs, i, f))));
        }
        println!("{line}");
    }
    if let Some(first) = runs.first().filter(|r| !r.suggestions.is_empty()) {
        println!("suggested label (wb-ckpt)     true label of the flipped    label kept on the clean");
        for (j, rule) in first.suggestions.iter().enumerate() {
            let flipped: Vec<f64> = runs.iter().map(|r| r.suggestions[j].flipped_true).collect();
            let clean: Vec<f64> = runs.iter().map(|r| r.suggestions[j].clean_kept).collect();
            println!("  {:<27} {:>15}    {:>15}", rule.rule.to_string(), figure(&flipped), figure(&clean));
        }
    }
}

/// A figure over the seeds: `mean ± std`, or the one value for a single seed (whose std is
/// undefined).
fn figure(values: &[f64]) -> String {
    let s = Summary::of(values);
    match values.len() {
        1 => format!("{:.3}", s.mean),
        _ => format!("{:.3} ± {:.3}", s.mean, s.std),
    }
}

fn report(config: &BenchConfig, runs: &[SeedRun]) -> Value {
    let mut methods = Map::new();
    for (i, m) in config.methods.iter().enumerate() {
        let mut figures = Map::new();
        for (key, _, f) in FIGURES {
            let values = per_seed(runs, i, f);
            let s = Summary::of(&values);
            figures.insert(key.into(), json!({"mean": s.mean, "std": s.std, "per_seed": values}));
        }
        let seconds = per_seed(runs, i, |m| m.seconds);
        figures.insert("seconds".into(), json!({"mean": Summary::of(&seconds).mean, "per_seed": seconds}));
        methods.insert(m.name().into(), Value::Object(figures));
    }
    let mut suggestions = Map::new();
    if let Some(first) = runs.first() {
        for (j, rule) in first.suggestions.iter().enumerate() {
            let figure = |f: fn(&wbound::bench::suggest::SuggestionRun) -> f64| {
                let values: Vec<f64> = runs.iter().map(|r| f(&r.suggestions[j])).collect();
                let s = Summary::of(&values);
                json!({"mean": s.mean, "std": s.std, "per_seed": values})
            };
            suggestions.insert(
                rule.rule.to_string(),
                json!({"flipped_true_label": figure(|r| r.flipped_true), "clean_label_kept": figure(|r| r.clean_kept)}),
            );
        }
    }
    let seeds: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "seed": r.seed,
                "n_train": r.n_train,
                "n_noisy": r.noisy.len(),
                "epochs": r.trained.epochs,
                "final_loss": r.trained.loss,
                "train_accuracy": r.fit.train_accuracy,
                "flipped_memorised": r.fit.flipped_memorised,
                "train_seconds": r.train_seconds,
                "checkpoint_epochs": r.trained.checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "config": {
            "dataset": config.dataset.to_string(),
            "arch": config.arch.to_string(),
            "noise": config.noise,
            "seeds": runs.len(),
            "train_size": config.train_size,
            "hidden": config.hidden,
            "max_epochs": config.train.max_epochs,
            "batch_size": config.train.batch_size,
            "learning_rate": config.train.lr,
            "deepfool_steps": config.steps,
            "early_steps": config.early_steps,
            "threads": config.threads,
            "methods": config.methods.iter().map(|m: &Method| m.name()).collect::<Vec<_>>(),
        },
        "methods": methods,
        "suggested_label": suggestions,
        "seeds": seeds,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_seed_has_no_spread() {
        assert_eq!(super::figure(&[0.8861]), "0.886");
        assert_eq!(super::figure(&[0.8, 0.9]), "0.850 ± 0.071");
    }
}
