//! `wbound score`: scores every sample and writes one row per sample, resumably.
//!
//! Rows go first to `FILE.partial` (CSV, flushed after every batch), with the run's settings in
//! `FILE.partial.run`; `--resume` drops a torn last line, skips the rows already there and appends
//! the rest. When the last row is written the partial file becomes `FILE` (converted to JSON lines
//! or `.npy` if asked), so `FILE` only ever holds a complete result, byte-identical to an
//! uninterrupted run. The settings stay beside it as `FILE.run`, so that `--resume` on a finished
//! file can tell whether it was made with the same settings.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};
use wbound::{Model, Reference, Status, WeightsBoundaryCalculator};

use crate::args::{RunArgs, ScoreArgs};
use crate::input::{self, Input, Slice};
use crate::interrupt::{self, Interrupted};
use crate::output::{beside, finalize, with_path, OutFormat};
use crate::scorer::{Models, RowBatch, Scorer};

use crate::{memory, progress, usage};

/// The calculator the run's settings describe; Ctrl-C stops it between samples from now on.
pub fn calculator<'m>(run: &RunArgs, model: &'m Model) -> WeightsBoundaryCalculator<'m> {
    interrupt::install();
    let calc = WeightsBoundaryCalculator::new(model)
        .step_nbr(run.steps)
        .norm(run.norm)
        .eps(run.eps)
        .params(run.params.clone())
        .batch_size(run.batch_size as usize)
        .max_memory(run.max_memory.map_or_else(memory::default_limit, |l| l.0))
        .skip_invalid(run.skip_invalid)
        .cancel_flag(&interrupt::STOP);
    match run.threads {
        Some(t) => calc.threads(t as usize),
        None => calc,
    }
}

pub fn run(a: &ScoreArgs) -> Result<()> {
    let out = a.out.as_deref().filter(|p| p.as_os_str() != "-");
    if let Some(path) = out {
        OutFormat::of(path)?;
        crate::destination::check_folder(path, "--out")?;
    }
    let models = Models::load(&a.run)?;
    crate::weights_note::print(models.model(), &a.run.params);
    let input = input::load(&a.data, models.model())?;
    let reference = models.reference(&a.run, input.labels.is_some())?;
    // The library checks the settings and the data when the run starts, before anything is written.
    let scorer = Scorer::new(calculator(&a.run, models.model()), &models, &a.run, reference);
    let run = Run { scorer: &scorer, input: &input, quiet: a.run.quiet, has_labels: input.labels.is_some() };
    match out {
        None => {
            let slice = Slice::of(&input, input.range.clone());
            let batches = scorer.compute(&slice).map_err(input::about_inputs(&a.data))?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            writeln!(out, "{}", with_path(scorer.header(), input.paths.is_some()))?;
            let tally = run.rows(Some(batches), 0, &mut out, None)?;
            run.summary(&tally, None);
            Ok(())
        }
        Some(path) => to_file(a, &run, &fingerprint(a, reference), path),
    }
}

/// What writing a run's rows needs.
struct Run<'a> {
    scorer: &'a Scorer<'a>,
    input: &'a Input,
    quiet: bool,
    has_labels: bool,
}

/// The statuses of a run's rows, for its summary line.
#[derive(Default)]
struct Tally {
    /// How many rows of each status, the whole output's (rows of an interrupted run included).
    statuses: Vec<(String, usize)>,
    /// Rows scored by this process, and in how many seconds.
    scored: usize,
    secs: f64,
    /// Rows that an interrupted run had written.
    earlier: usize,
}

impl Tally {
    fn add(&mut self, status: &str, n: usize) {
        match self.statuses.iter_mut().find(|(st, _)| st == status) {
            Some((_, c)) => *c += n,
            None => self.statuses.push((status.to_string(), n)),
        }
    }
}

/// Warnings on stderr for samples without a score: the first few, then a count.
#[derive(Default)]
struct Warnings {
    count: usize,
}

impl Warnings {
    /// Warnings shown one by one.
    const SHOWN: usize = 10;

    fn note(&mut self, index: usize, status: Status, bar: &indicatif::ProgressBar) {
        let what = match status {
            Status::NonFinite => "non-finite logits or gradients: status non_finite, score NaN",
            Status::InvalidInput => "the sample holds NaN or ∞: not scored, status invalid_input, score NaN",
            _ => return,
        };
        self.count += 1;
        if self.count <= Self::SHOWN {
            bar.suspend(|| eprintln!("warning: sample {index}: {what}"));
        }
    }

    fn finish(&self) {
        if self.count > Self::SHOWN {
            eprintln!("warning: {} samples in all have no score (NaN); see their status", self.count);
        }
    }
}

/// Writes the rows of `batches` — the input's samples from `done` on (relative to its range);
/// `None` when none are left — flushing after every batch. `partial` is the file the rows go to,
/// for the message of an interrupted run.
impl Run<'_> {
    fn rows(
        &self,
        batches: Option<Box<dyn Iterator<Item = wbound::Result<RowBatch>> + '_>>,
        done: usize,
        out: &mut dyn Write,
        partial: Option<&Path>,
    ) -> Result<Tally> {
        let (input, quiet) = (self.input, self.quiet);
        let start = input.range.start + done;
        let bar = progress::bar(input.range.len(), done, quiet);
        let clock = std::time::Instant::now();
        let mut tally = Tally::default();
        let mut warnings = Warnings::default();
        let mut written = done;
        if let Some(batches) = batches {
            for batch in batches {
                let batch = match batch {
                    Err(wbound::Error::Cancelled) => {
                        out.flush()?;
                        bar.finish_and_clear();
                        let total = input.range.len();
                        return Err(anyhow::Error::new(Interrupted(match partial {
                            Some(p) => format!(
                                "interrupted: {written} of {total} samples are in {}; run the same command with \
                                 --resume to finish",
                                p.display()
                            ),
                            None => format!("interrupted after {written} of {total} samples"),
                        })));
                    }
                    batch => batch?,
                };
                let (first, rows) = batch;
                for (i, row) in rows.iter().enumerate() {
                    let index = start + first + i;
                    self.scorer.write(out, index, row, input.path(index))?;
                    let status = row.status();
                    warnings.note(index, status, &bar);
                    tally.add(status.as_str(), 1);
                }
                out.flush()?;
                written += rows.len();
                bar.inc(rows.len() as u64);
            }
        }
        bar.finish_and_clear();
        warnings.finish();
        tally.scored = written - done;
        tally.secs = clock.elapsed().as_secs_f64();
        Ok(tally)
    }

    /// The one-line summary on stderr: the whole output's rows and statuses, how many were scored
    /// now and how fast, what ranks them, and the file (`None`: standard output).
    fn summary(&self, tally: &Tally, file: Option<&Path>) {
        if self.quiet {
            return;
        }
        let mut statuses = tally.statuses.clone();
        statuses.sort();
        let counts: Vec<String> = statuses.iter().map(|(st, c)| format!("{c} {st}")).collect();
        let total = tally.scored + tally.earlier;
        let rate = crate::numbers::rate(tally.scored as f64 / tally.secs.max(1e-9));
        let now = match tally.earlier {
            0 => format!("scored {total} samples in {:.1} s ({rate} samples/s)", tally.secs),
            e if tally.scored == 0 => format!("{total} samples ({e} from the interrupted run, none left to score)"),
            e => format!(
                "{total} samples ({e} from the interrupted run, {} scored now in {:.1} s, {rate} samples/s)",
                tally.scored, tally.secs
            ),
        };
        let into = file.map_or(String::new(), |f| format!(" -> {}", f.display()));
        eprintln!("{now}: {}; {}{into}", counts.join(", "), self.scorer.describe(self.has_labels));
        if statuses.iter().any(|(st, _)| matches!(st.as_str(), "stuck" | "non_finite" | "invalid_input")) {
            eprintln!(
                "note: 'stuck' rows have distance inf (no weight change moves the logits), 'non_finite' and \
                 'invalid_input' rows NaN"
            );
        }
    }
}

/// What makes a run's rows: a resumed run must have been started with the same.
fn fingerprint(a: &ScoreArgs, reference: Reference) -> String {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let files = |ps: &[std::path::PathBuf]| {
        ps.iter().map(|p| format!("{} ({} bytes)", p.display(), size(p))).collect::<Vec<_>>().join(", ")
    };
    let (r, d) = (&a.run, &a.data);
    format!(
        "model={}\nweights={}\ninputs={} ({} bytes)\nsteps={} early_steps={:?} per_checkpoint={} norm={} eps={} params={} reference={:?} skip_invalid={}\nformat={:?} key={:?} label_column={:?} labels={:?} scale={:?} mean={:?} std={:?} resize={:?} layout={:?} shard={:?}\n",
        files(&r.model),
        files(&r.weights),
        d.inputs.display(),
        size(&d.inputs),
        r.steps,
        r.early_steps,
        r.per_checkpoint,
        r.norm,
        r.eps,
        r.params,
        reference,
        r.skip_invalid,
        d.format,
        d.key,
        d.label_column,
        d.labels,
        d.scale,
        d.mean,
        d.std,
        d.resize,
        d.layout,
        d.shard
    )
}

fn to_file(a: &ScoreArgs, run: &Run, settings: &str, path: &Path) -> Result<()> {
    let input = run.input;
    let header = with_path(run.scorer.header(), input.paths.is_some());
    let format = OutFormat::of(path)?;
    let partial = beside(path, ".partial");
    let stamp = beside(path, ".partial.run");
    let kept = beside(path, ".run");
    let resuming = a.resume && partial.exists();
    if path.exists() && !a.force {
        if a.resume && !partial.exists() {
            return finished(path, &kept, settings);
        }
        return Err(usage(format!("{} exists; pass --force to overwrite it", path.display())));
    }
    if partial.exists() && !a.resume && !a.force {
        return Err(usage(format!(
            "an interrupted run left {}; pass --resume to continue it or --force to start over",
            partial.display()
        )));
    }
    let recovered = if resuming {
        if std::fs::read_to_string(&stamp).unwrap_or_default() != settings {
            return Err(usage(format!(
                "{} was started with other settings (see {}); rerun with those, or pass --force to start over",
                partial.display(),
                stamp.display()
            )));
        }
        Some(recover(&partial, &header)?)
    } else {
        None
    };
    let done = recovered.as_ref().map_or(0, |r| r.rows);
    if done > input.range.len() {
        return Err(usage(format!("{} holds more rows ({done}) than there are samples to score", partial.display())));
    }
    // The run's checks (inputs, memory) pass before a new partial file is created.
    let slice = Slice::of(input, input.range.start + done..input.range.end);
    let batches = match slice.range.is_empty() {
        true => None,
        false => Some(run.scorer.compute(&slice).map_err(input::about_inputs(&a.data))?),
    };
    let (file, earlier) = match recovered {
        Some(r) => (r.file, r.statuses),
        None => {
            let mut file = File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
            writeln!(file, "{header}")?;
            std::fs::write(&stamp, settings).with_context(|| format!("cannot write {}", stamp.display()))?;
            (file, Vec::new())
        }
    };
    let mut out = BufWriter::new(file);
    let mut tally = run.rows(batches, done, &mut out, Some(&partial))?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    finalize(&partial, path, format)?;
    std::fs::rename(&stamp, &kept).with_context(|| format!("cannot move {} to {}", stamp.display(), kept.display()))?;
    tally.earlier = done;
    for (status, n) in earlier {
        tally.add(&status, n);
    }
    run.summary(&tally, Some(path));
    Ok(())
}

/// `--resume` on a finished `path`: nothing to do if it was made with these `settings` (recorded
/// in `kept`, `FILE.run`), refused otherwise — its rows would silently be the old settings'.
fn finished(path: &Path, kept: &Path, settings: &str) -> Result<()> {
    match std::fs::read_to_string(kept) {
        Ok(recorded) if recorded == settings => {
            eprintln!("{} is already complete, with these settings: nothing to resume", path.display());
            Ok(())
        }
        Ok(_) => Err(usage(format!(
            "{} is complete but was made with other settings (see {}); rerun with those, or pass --force to \
             score it again with these",
            path.display(),
            kept.display()
        ))),
        Err(_) => Err(usage(format!(
            "{} is complete but its settings are not recorded ({} is missing), so --resume cannot tell whether \
             they are these; pass --force to score it again",
            path.display(),
            kept.display()
        ))),
    }
}

/// An interrupted run's partial CSV, open for appending.
struct Recovered {
    file: File,
    /// Its complete rows.
    rows: usize,
    /// How many of them have each status.
    statuses: Vec<(String, usize)>,
}

/// Opens an interrupted run's partial CSV for appending: drops a torn last line (a kill in the
/// middle of a write) and counts its complete rows by status; its first line must be `header`.
fn recover(partial: &Path, header: &str) -> Result<Recovered> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(partial)
        .with_context(|| format!("cannot open {}", partial.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text).with_context(|| format!("{} is not a wbound CSV", partial.display()))?;
    let keep = text.rfind('\n').map_or(0, |i| i + 1);
    let complete = &text[..keep];
    let mut lines = complete.lines();
    if lines.next() != Some(header) {
        return Err(usage(format!(
            "{} does not start with this run's CSV header; pass --force to start over",
            partial.display()
        )));
    }
    let column = header.split(',').position(|c| c == "status").unwrap_or(4);
    let mut statuses: Vec<(String, usize)> = Vec::new();
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let status = line.split(',').nth(column).unwrap_or_default();
        match statuses.iter_mut().find(|(st, _)| st == status) {
            Some((_, n)) => *n += 1,
            None => statuses.push((status.to_string(), 1)),
        }
    }
    file.set_len(keep as u64)?;
    file.seek(SeekFrom::End(0))?;
    Ok(Recovered { file, rows, statuses })
}
