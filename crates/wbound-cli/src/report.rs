//! `wbound report`: one self-contained HTML page about the suspects — a summary (samples,
//! statuses, the reference class, label agreement), the top N as thumbnails (image inputs) with
//! index, file, given label, prediction, suggested label, score and status, a sortable and
//! filterable table of the same N, per-class counts and a histogram of the scores.
//!
//! The scores come from a run made here (the `score` settings: one model, or several checkpoints,
//! whose suggested labels are shown) or from a `wbound score` CSV (`--scores`). The page needs nothing else: thumbnails are PNG data URIs, the histogram is
//! inline SVG, and the style and the few lines of script that sort and filter are inline. It is
//! written as [`page`] text, so tests can parse it. What is computed lives in [`Report`]; this
//! module only reads, ranks and writes.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use base64::Engine as _;
use wbound::{Dataset, Order};

use crate::args::ReportArgs;
use crate::input::{self, Input, Slice};
use crate::numbers::sig3;
use crate::output::write_atomic;
use crate::ranked::{self, read_scores, Row};
use crate::scorer::{Models, Scorer};
use crate::{destination, grid, progress, score, usage};

pub fn run(a: &ReportArgs) -> Result<()> {
    let html = a.out.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "html" | "htm"));
    if !html {
        return Err(usage(format!("--out {}: the report's file name must end in .html", a.out.display())));
    }
    destination::check(&a.out, "--out", a.force)?;
    if let Some(scores) = &a.scores {
        std::fs::metadata(scores).with_context(|| format!("--scores {}: cannot read it", scores.display()))?;
    }
    let models = Models::load(&a.run)?;
    crate::weights_note::print(models.model(), &a.run.params);
    let input = input::load(&a.data, models.model())?;
    let (rows, suggested, source, reference) = match &a.scores {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let (rows, suggested) = read_scores(&text, path, &input)?;
            let reference = match a.run.reference {
                Some(r) => format!("by the score column (scored with --reference {r})"),
                None => "by the score column (its reference class is not recorded in the file; --reference names it)"
                    .to_string(),
            };
            (rows, suggested, format!("{} (a wbound score CSV)", path.display()), reference)
        }
        None => {
            let reference = models.reference(&a.run, input.labels.is_some())?;
            let scorer = Scorer::new(score::calculator(&a.run, models.model()), &models, &a.run, reference);
            let rows = score_all(a, &scorer, &input)?;
            let suggested = matches!(scorer, Scorer::Checkpoints { .. });
            (rows, suggested, "scored for this report".to_string(), scorer.describe(input.labels.is_some()))
        }
    };
    let report = Report::new(rows, a.top as usize, &input, models.model().num_classes(), suggested);
    let model = a.run.model.iter().map(|m| m.display().to_string()).collect::<Vec<_>>().join(", ");
    let settings = Settings {
        model,
        inputs: a.data.inputs.display().to_string(),
        source,
        reference,
        run: match &a.scores {
            None => format!("steps {}, norm {}, params {}, eps {}", a.run.steps, a.run.norm, a.run.params, a.run.eps),
            Some(_) => "those of the run that wrote the scores (a CSV does not record them)".to_string(),
        },
    };
    let text = page(&report, &settings, &input)?;
    write_atomic(&a.out, |out| Ok(out.write_all(text.as_bytes())?))?;
    if !a.run.quiet {
        eprintln!(
            "wrote {}: the top {} of {} samples, {} of them with a label other than the prediction",
            a.out.display(),
            report.top.len(),
            report.rows.len(),
            report.top.iter().filter(|r| report.disagrees(r)).count()
        );
    }
    Ok(())
}

/// Scores the input's samples (its shard) with `scorer`.
fn score_all(a: &ReportArgs, scorer: &Scorer, input: &Input) -> Result<Vec<Row>> {
    let slice = Slice::of(input, input.range.clone());
    let batches = scorer.compute(&slice).map_err(input::about_inputs(&a.data))?;
    let bar = progress::bar(slice.range.len(), 0, a.run.quiet);
    let mut rows = Vec::with_capacity(slice.range.len());
    for batch in batches {
        let (first, batch) = batch?;
        for (i, row) in batch.iter().enumerate() {
            let index = input.range.start + first + i;
            rows.push(Row::of(index, row));
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// What the page shows, computed from the rows.
pub struct Report {
    /// Every row, in input order.
    pub rows: Vec<Row>,
    /// The top N rows, most suspicious first.
    pub top: Vec<Row>,
    /// The labels of the whole input (global indices), if any.
    labels: Option<Vec<i64>>,
    num_classes: usize,
    /// Whether the scores carry suggested labels.
    pub suggested: bool,
}

/// Per class: samples labelled with it, predicted as it, labelled with it but predicted as
/// another, and labelled with it among the top N.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClassCounts {
    pub labelled: usize,
    pub predicted: usize,
    pub disagreeing: usize,
    pub in_top: usize,
}

impl Report {
    pub fn new(mut rows: Vec<Row>, top: usize, input: &Input, num_classes: usize, suggested: bool) -> Report {
        rows.sort_by_key(|r| r.index);
        let ranked = rows.clone();
        let ranked = ranked::top(ranked, top, Order::Descending);
        Report { rows, top: ranked, labels: input.labels.clone(), num_classes, suggested }
    }

    pub fn label(&self, r: &Row) -> Option<i64> {
        self.labels.as_ref().map(|l| l[r.index])
    }

    /// Whether a row's given label and prediction differ.
    pub fn disagrees(&self, r: &Row) -> bool {
        matches!((self.label(r), r.prediction), (Some(l), Some(p)) if l != p)
    }

    /// Rows with a label and a prediction, and how many of them agree.
    pub fn agreement(&self) -> Option<(usize, usize)> {
        self.labels.as_ref()?;
        let judged: Vec<&Row> = self.rows.iter().filter(|r| r.prediction.is_some()).collect();
        Some((judged.iter().filter(|r| !self.disagrees(r)).count(), judged.len()))
    }

    /// The statuses and their counts, by name.
    pub fn statuses(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for r in &self.rows {
            match out.iter_mut().find(|(s, _)| *s == r.status) {
                Some((_, n)) => *n += 1,
                None => out.push((r.status.clone(), 1)),
            }
        }
        out.sort();
        out
    }

    /// Counts per class `0..num_classes` (more if a label or prediction is larger).
    pub fn class_counts(&self) -> Vec<ClassCounts> {
        let top_labels = self.labels.as_ref().map_or(0, |l| l.iter().copied().max().unwrap_or(0) as usize + 1);
        let top_pred = self.rows.iter().filter_map(|r| r.prediction).max().map_or(0, |p| p as usize + 1);
        let mut counts = vec![ClassCounts::default(); self.num_classes.max(top_labels).max(top_pred)];
        let class = |c: i64| usize::try_from(c).ok();
        for r in &self.rows {
            if let Some(p) = r.prediction.and_then(class) {
                counts[p].predicted += 1;
            }
            if let Some(l) = self.label(r).and_then(class) {
                counts[l].labelled += 1;
                counts[l].disagreeing += usize::from(self.disagrees(r));
            }
        }
        for r in &self.top {
            if let Some(l) = self.label(r).and_then(class) {
                counts[l].in_top += 1;
            }
        }
        counts
    }
}

/// What the summary says about where the scores come from.
pub struct Settings {
    pub model: String,
    pub inputs: String,
    pub source: String,
    pub reference: String,
    pub run: String,
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A sample's picture as a `data:image/png;base64,…` URI.
fn thumbnail(input: &Input, index: usize, g: input::Geometry) -> Result<String> {
    let mut sample = Vec::new();
    input.data.read(index, 1, &mut sample)?;
    let img = grid::pixels(&sample, g, grid::scale_for(g));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png)))
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{background:#f4f4f4;position:sticky;top:0}td.t,th.t{text-align:left}
#suspects th{cursor:pointer;user-select:none}#suspects th:hover{background:#e6e6e6}
.summary td:first-child{text-align:left;color:#555}.summary td{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:3px solid #fff;outline:1px solid #ddd;padding:4px;width:150px;font-size:12px;line-height:1.35}
.card img{display:block;margin:0 auto 4px;image-rendering:pixelated;max-width:140px}
.card.bad,tr.bad td{border-color:#d62728}.card.bad{outline-color:#d62728}tr.bad{background:#fdecea}
.bad .lp{color:#d62728;font-weight:600}.path{color:#555;word-break:break-all}
.key{color:#555;font-size:13px}input[type=search]{padding:4px;width:22em}
";

/// Sorts the suspects table by a clicked column (numbers by value), and filters its rows (and the
/// thumbnails) by text and by disagreement.
const SCRIPT: &str = "
const table=document.getElementById('suspects');
let sortCol=-1,asc=true;
function key(td){const v=td.dataset.v;return v===undefined?td.textContent:parseFloat(v);}
table.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
  asc=sortCol===i?!asc:true;sortCol=i;const body=table.tBodies[0];
  const rows=[...body.rows];rows.sort((a,b)=>{const x=key(a.cells[i]),y=key(b.cells[i]);
    const c=(typeof x==='number'&&typeof y==='number')?(isNaN(x)-isNaN(y)||x-y):String(x).localeCompare(String(y));
    return asc?c:-c;});
  rows.forEach(r=>body.appendChild(r));
  table.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',asc?'ascending':'descending');}));
function filter(){const q=document.getElementById('q').value.toLowerCase();
  const only=document.getElementById('bad').checked;
  const keep=el=>(!only||el.classList.contains('bad'))&&el.textContent.toLowerCase().includes(q);
  table.tBodies[0].querySelectorAll('tr').forEach(r=>r.hidden=!keep(r));
  document.querySelectorAll('.card').forEach(c=>c.hidden=!keep(c));}
document.getElementById('q').addEventListener('input',filter);
document.getElementById('bad').addEventListener('change',filter);
";

/// The whole page.
pub fn page(report: &Report, settings: &Settings, input: &Input) -> Result<String> {
    let mut h = String::new();
    let name = |c: i64| escape(&input.class_name(c));
    let opt = |c: Option<i64>| c.map_or("–".to_string(), name);
    writeln!(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(h, "<title>wbound report: {}</title>", escape(&settings.inputs))?;
    writeln!(h, "<style>{STYLE}</style></head><body>")?;
    writeln!(h, "<h1>Suspects by the weights-boundary score</h1>")?;
    writeln!(
        h,
        "<p class=\"key\">Higher score = a smaller weight change moves the model's prediction: more suspicious, often \
         mislabeled. <b>y</b> = given label, <b>p</b> = prediction; a red frame marks a sample whose label and \
         prediction disagree.</p>"
    )?;

    // Summary.
    writeln!(h, "<h2>Summary</h2><table class=\"summary\" id=\"summary\">")?;
    let statuses: Vec<String> = report.statuses().iter().map(|(s, n)| format!("{n} {}", escape(s))).collect();
    let agreement = match report.agreement() {
        Some((agree, n)) => format!(
            "{agree} of {n} ({:.1}%) predicted as labelled; {} disagree",
            100.0 * agree as f64 / n.max(1) as f64,
            n - agree
        ),
        None => "no labels (pass --labels)".into(),
    };
    let total = input.data.len();
    let samples = match report.rows.len() {
        n if n == total => format!("{n}"),
        n => format!("{n} of the {total} in the inputs"),
    };
    for (k, v) in [
        ("samples", samples),
        ("statuses", statuses.join(", ")),
        ("ranking", escape(&settings.reference)),
        ("label agreement", agreement),
        ("scores", escape(&settings.source)),
        ("model", escape(&settings.model)),
        ("inputs", escape(&settings.inputs)),
        ("settings", escape(&settings.run)),
        ("wbound", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        writeln!(h, "<tr><td>{k}</td><td>{v}</td></tr>")?;
    }
    writeln!(h, "</table>")?;

    // Thumbnails.
    let n = report.top.len();
    writeln!(h, "<h2>The {n} most suspicious samples</h2>")?;
    writeln!(
        h,
        "<p><input type=\"search\" id=\"q\" placeholder=\"filter: index, file, class, status…\"> \
         <label><input type=\"checkbox\" id=\"bad\"> only label ≠ prediction</label></p>"
    )?;
    if let Some(g) = input.image {
        writeln!(h, "<div class=\"cards\" id=\"cards\">")?;
        for (rank, r) in report.top.iter().enumerate() {
            let bad = if report.disagrees(r) { " bad" } else { "" };
            write!(h, "<div class=\"card{bad}\" data-index=\"{}\">", r.index)?;
            write!(h, "<img alt=\"sample {}\" src=\"{}\">", r.index, thumbnail(input, r.index, g)?)?;
            write!(h, "<div>#{} · index <b class=\"index\">{}</b></div>", rank + 1, r.index)?;
            if let Some(p) = input.path(r.index) {
                write!(h, "<div class=\"path\" title=\"{0}\">{0}</div>", escape(p))?;
            }
            write!(
                h,
                "<div class=\"lp\">y <span class=\"label\">{}</span> · p <span class=\"prediction\">{}</span>{}</div>",
                opt(report.label(r)),
                opt(r.prediction),
                if bad.is_empty() { "" } else { " ≠" }
            )?;
            if report.suggested {
                write!(h, "<div>suggested <span class=\"suggested\">{}</span></div>", opt(r.suggested))?;
            }
            writeln!(
                h,
                "<div>score <span class=\"score\">{}</span> · {}</div></div>",
                sig3(r.score),
                escape(&r.status)
            )?;
        }
        writeln!(h, "</div>")?;
    }

    // The table of the same rows.
    writeln!(h, "<h2>Table of the {n} (click a column to sort)</h2><table id=\"suspects\"><thead><tr>")?;
    let mut head = vec!["rank", "index"];
    if input.paths.is_some() {
        head.push("path");
    }
    head.extend(["label", "prediction"]);
    if report.suggested {
        head.push("suggested");
    }
    head.extend(["score", "status"]);
    for c in &head {
        let class =
            if matches!(*c, "path" | "status" | "label" | "prediction" | "suggested") { " class=\"t\"" } else { "" };
        write!(h, "<th{class}>{c}</th>")?;
    }
    writeln!(h, "</tr></thead><tbody>")?;
    let class_cell = |c: Option<i64>| match c {
        Some(c) => format!("<td class=\"t\" data-v=\"{c}\">{}</td>", name(c)),
        None => "<td class=\"t\" data-v=\"NaN\">–</td>".to_string(),
    };
    for (rank, r) in report.top.iter().enumerate() {
        let bad = if report.disagrees(r) { " class=\"bad\"" } else { "" };
        write!(h, "<tr{bad}><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td>", rank + 1, rank + 1, r.index, r.index)?;
        if input.paths.is_some() {
            write!(h, "<td class=\"t\">{}</td>", input.path(r.index).map_or(String::new(), escape))?;
        }
        write!(h, "{}{}", class_cell(report.label(r)), class_cell(r.prediction))?;
        if report.suggested {
            write!(h, "{}", class_cell(r.suggested))?;
        }
        writeln!(
            h,
            "<td data-v=\"{}\">{}</td><td class=\"t\">{}</td></tr>",
            r.score,
            sig3(r.score),
            escape(&r.status)
        )?;
    }
    writeln!(h, "</tbody></table>")?;

    // Per-class counts.
    writeln!(h, "<h2>Per class</h2><table id=\"classes\"><thead><tr><th class=\"t\">class</th><th>labelled</th>")?;
    writeln!(
        h,
        "<th>predicted</th><th>labelled, predicted otherwise</th><th>among the top {n}</th></tr></thead><tbody>"
    )?;
    for (c, k) in report.class_counts().iter().enumerate() {
        let label = |v: usize| if report.labels.is_some() { v.to_string() } else { "–".into() };
        writeln!(
            h,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            name(c as i64),
            label(k.labelled),
            k.predicted,
            label(k.disagreeing),
            label(k.in_top)
        )?;
    }
    writeln!(h, "</tbody></table>")?;

    // Histogram.
    writeln!(h, "<h2>Scores</h2>")?;
    h.push_str(&histogram(report));
    writeln!(h, "<script>{SCRIPT}</script></body></html>")?;
    Ok(h)
}

/// The histogram of the scores as inline SVG: counts over log10 |score| (the scores span many
/// orders of magnitude), negative scores (the model predicts the reference class) and positive
/// ones (it does not, with `--reference label`) in two colours, the top N's threshold marked.
pub fn histogram(report: &Report) -> String {
    const BINS: usize = 40;
    const W: f64 = 760.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 50.0;
    const BOTTOM: f64 = 40.0;
    let logs: Vec<(f64, bool)> = report
        .rows
        .iter()
        .filter(|r| r.score.is_finite() && r.score != 0.0)
        .map(|r| (r.score.abs().log10(), r.score > 0.0))
        .collect();
    let left_out = report.rows.len() - logs.len();
    if logs.is_empty() {
        return "<p id=\"histogram\">No finite non-zero scores to draw.</p>\n".into();
    }
    let lo = logs.iter().map(|l| l.0).fold(f64::INFINITY, f64::min).floor();
    let hi = logs.iter().map(|l| l.0).fold(f64::NEG_INFINITY, f64::max).ceil().max(lo + 1.0);
    let bin = |v: f64| (((v - lo) / (hi - lo) * BINS as f64) as usize).min(BINS - 1);
    let mut counts = vec![[0usize; 2]; BINS];
    for &(v, pos) in &logs {
        counts[bin(v)][usize::from(pos)] += 1;
    }
    let peak = counts.iter().map(|c| c[0].max(c[1])).max().unwrap_or(1).max(1) as f64;
    let bw = W / BINS as f64;
    let x = |v: f64| LEFT + (v - lo) / (hi - lo) * W;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg id=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-size=\"12\" \
         font-family=\"sans-serif\">",
        LEFT + W + 20.0,
        H + BOTTOM + 30.0
    );
    for (i, c) in counts.iter().enumerate() {
        for (k, color) in [(0, "#1f77b4"), (1, "#ff7f0e")] {
            if c[k] > 0 {
                let bh = c[k] as f64 / peak * H;
                let _ = writeln!(
                    s,
                    "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\" \
                     fill-opacity=\"0.75\" data-count=\"{}\"><title>{} samples</title></rect>",
                    LEFT + i as f64 * bw + 1.0,
                    H - bh + 10.0,
                    bw - 2.0,
                    c[k],
                    c[k]
                );
            }
        }
    }
    let _ = writeln!(s, "<line x1=\"{LEFT}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#333\"/>", H + 10.0, LEFT + W);
    for e in (lo as i64)..=(hi as i64) {
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">1e{e}</text>", x(e as f64), H + 26.0);
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">|score| = weight distance (log scale; left = more suspicious \
         for negative scores)</text>",
        LEFT + W / 2.0,
        H + 44.0
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"14\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\
         <text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">samples</text>",
        LEFT - 4.0,
        peak as usize,
        LEFT - 4.0,
        H + 10.0,
        H / 2.0 + 10.0
    );
    if let Some(last) = report.top.last().filter(|r| r.score.is_finite() && r.score != 0.0) {
        let tx = x(last.score.abs().log10());
        // The label on the side of the line with room for it.
        let (lx, anchor) = if tx > LEFT + W / 2.0 { (tx - 4.0, "end") } else { (tx + 4.0, "start") };
        let _ = writeln!(
            s,
            "<line x1=\"{tx:.1}\" y1=\"10\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{lx:.1}\" y=\"22\" fill=\"#d62728\" text-anchor=\"{anchor}\">the top {}: score ≥ {}</text>",
            H + 10.0,
            report.top.len(),
            sig3(last.score)
        );
    }
    let _ = writeln!(s, "</svg>");
    let positive = logs.iter().filter(|l| l.1).count();
    let _ = writeln!(
        s,
        "<p class=\"key\"><span style=\"color:#1f77b4\">■</span> score &lt; 0 ({} samples){}{}</p>",
        logs.len() - positive,
        if positive > 0 {
            format!(
                " · <span style=\"color:#ff7f0e\">■</span> score &gt; 0, the model does not predict the label ({positive})"
            )
        } else {
            String::new()
        },
        if left_out > 0 {
            format!(" · {left_out} samples with a zero or non-finite score are not drawn")
        } else {
            String::new()
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: usize, score: f64) -> Row {
        Row { index, score, status: "crossed".into(), prediction: Some(0), suggested: None }
    }

    #[test]
    fn ranking_is_top_k_s() {
        let rows = vec![row(0, -2.0), row(1, f64::NAN), row(2, -1.0), row(3, -1.0), row(4, 0.5)];
        let order: Vec<usize> = ranked::top(rows, 5, Order::Descending).iter().map(|r| r.index).collect();
        assert_eq!(order, [4, 2, 3, 0, 1]);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }
}
