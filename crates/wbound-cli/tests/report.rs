//! `wbound report`: the HTML page parsed as a browser would (scraper's html5ever), checked against
//! `top-k` and the input files: the thumbnails (decodable PNGs of the samples' size), the files'
//! paths, the labels and predictions of the top rows, the table, the per-class counts, the
//! histogram; from a fresh run, from a `score` CSV (with a suggested_label column), and on the
//! embedded MNIST with a model saved by `bench`. The page must not load anything.
// See: issue 13.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use scraper::{ElementRef, Html, Selector};

mod common;
use common::{digits_folder, fixture, wbound};

fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

fn text(e: &ElementRef) -> String {
    e.text().collect::<String>().trim().to_string()
}

/// The text of `css` inside `e`.
fn inner(e: &ElementRef, css: &str) -> String {
    e.select(&Selector::parse(css).unwrap()).next().map(|c| text(&c)).unwrap_or_default()
}

/// `top-k` rows as (index, path) — the ranking the report must show.
fn top_k(model: &Path, inputs: &Path, k: usize, extra: &[&str]) -> Vec<(usize, Option<String>)> {
    let out = wbound()
        .args(["top-k", "-k", &k.to_string(), "--scale", "1/16", "--model"])
        .arg(model)
        .arg("--inputs")
        .arg(inputs)
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    let has_path = lines.next().unwrap().ends_with("path");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].parse().unwrap(), has_path.then(|| f.last().unwrap().to_string()))
        })
        .collect()
}

/// The card's thumbnail decoded: its size, and that it is not blank.
fn thumbnail(card: &ElementRef) -> (u32, u32) {
    let img = card.select(&Selector::parse("img").unwrap()).next().expect("a thumbnail");
    let src = img.value().attr("src").unwrap();
    let data = src.strip_prefix("data:image/png;base64,").expect("an inline PNG");
    let png = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    let pic = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_rgb8();
    let levels: std::collections::BTreeSet<u8> = pic.pixels().map(|p| p.0[0]).collect();
    assert!(levels.len() > 2, "a blank thumbnail");
    (pic.width(), pic.height())
}

/// Nothing outside the file: no src/href to another file or host, no external script or style.
fn assert_self_contained(html: &str, doc: &Html) {
    for e in select(doc, "[src], [href], link, script[src]") {
        let url = e.value().attr("src").or(e.value().attr("href")).unwrap_or("");
        assert!(url.starts_with("data:") || url.starts_with('#'), "loads {url}");
    }
    assert!(!html.contains("url(") && !html.contains("@import"), "the style loads something");
}

#[test]
fn report_on_an_image_folder_shows_the_top_rows_with_thumbnails_paths_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (root, files) = digits_folder(dir.path(), 40, 8);
    let model = fixture("cnn/model.onnx");
    let html_path = dir.path().join("r.html");
    let out = wbound()
        .args(["report", "--top", "12", "--scale", "1/16", "--model"])
        .arg(&model)
        .arg("--inputs")
        .arg(&root)
        .arg("--out")
        .arg(&html_path)
        .assert()
        .success()
        .get_output()
        .clone();
    let msg = String::from_utf8(out.stderr).unwrap();
    assert!(msg.contains("the top 12 of 40 samples"), "{msg}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    let doc = Html::parse_document(&html);
    assert_self_contained(&html, &doc);

    let expected = top_k(&model, &root, 12, &[]);
    let cards = select(&doc, ".card");
    assert_eq!(cards.len(), 12);
    let rows = select(&doc, "#suspects tbody tr");
    assert_eq!(rows.len(), 12);
    let header: Vec<String> = select(&doc, "#suspects th").iter().map(text).collect();
    assert_eq!(header, ["rank", "index", "path", "label", "prediction", "score", "status"]);
    for (rank, ((card, row), (index, path))) in cards.iter().zip(&rows).zip(&expected).enumerate() {
        // The top-k order, the file of each sample, and its label: the folder it is in.
        assert_eq!(inner(card, ".index"), index.to_string(), "rank {rank}");
        let path = path.as_ref().unwrap();
        assert_eq!(&inner(card, ".path"), path);
        assert_eq!(files[*index].0, *path);
        let label = files[*index].1.to_string();
        assert_eq!(inner(card, ".label"), format!("{label} (class{label})"));
        assert_eq!(thumbnail(card), (64, 64));
        let cells: Vec<String> = row.select(&Selector::parse("td").unwrap()).map(|c| text(&c)).collect();
        assert_eq!(cells[..3], [(rank + 1).to_string(), index.to_string(), path.clone()]);
        assert_eq!(cells[3], inner(card, ".label"));
        assert_eq!(cells[4], inner(card, ".prediction"));
        // Disagreements are marked, on the card and in the table.
        let disagrees = cells[3] != cells[4];
        assert_eq!(card.value().classes().any(|c| c == "bad"), disagrees);
        assert_eq!(row.value().attr("class") == Some("bad"), disagrees);
        assert!(cells[5].contains('e'), "significant digits: {}", cells[5]);
    }
    // The file with a comma in its name is carried whole.
    assert!(html.contains("002,copy.png"));
    // Per-class counts add up to the samples; the histogram has bars for all 40 scores.
    let labelled: usize =
        select(&doc, "#classes tbody tr").iter().map(|r| inner(r, "td:nth-child(2)").parse::<usize>().unwrap()).sum();
    assert_eq!(labelled, 40);
    let counted: usize = select(&doc, "#histogram rect.bar")
        .iter()
        .map(|b| b.value().attr("data-count").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, 40);
    let summary = text(&select(&doc, "#summary")[0]);
    assert!(
        summary.contains("samples40") && summary.contains("rankingranked by the prediction-referenced"),
        "{summary}"
    );
    assert!(summary.contains("predicted as labelled"), "{summary}");

    // A second run refuses to overwrite it without --force.
    let again = wbound()
        .args(["report", "--scale", "1/16", "--model"])
        .arg(&model)
        .arg("--inputs")
        .arg(&root)
        .arg("--out")
        .arg(&html_path)
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8(again.stderr).unwrap().contains("--force"));
}

#[test]
fn report_from_a_scores_csv_shows_its_rows_and_suggested_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = digits_folder(dir.path(), 30, 8);
    let model = fixture("cnn/model.onnx");
    let csv = dir.path().join("s.csv");
    wbound()
        .args(["score", "--quiet", "--scale", "1/16", "--model"])
        .arg(&model)
        .arg("--inputs")
        .arg(&root)
        .arg("--out")
        .arg(&csv)
        .assert()
        .success();
    let report = |scores: &Path, out: &Path| {
        wbound()
            .args(["report", "--quiet", "--top", "8", "--scale", "1/16", "--model"])
            .arg(&model)
            .arg("--inputs")
            .arg(&root)
            .arg("--scores")
            .arg(scores)
            .arg("--out")
            .arg(out)
            .assert()
    };
    let from_csv = dir.path().join("a.html");
    report(&csv, &from_csv).success();
    let fresh = dir.path().join("b.html");
    wbound()
        .args(["report", "--quiet", "--top", "8", "--scale", "1/16", "--model"])
        .arg(&model)
        .arg("--inputs")
        .arg(&root)
        .arg("--out")
        .arg(&fresh)
        .assert()
        .success();
    let table = |p: &Path| {
        let doc = Html::parse_document(&std::fs::read_to_string(p).unwrap());
        select(&doc, "#suspects tbody tr").iter().map(text).collect::<Vec<_>>()
    };
    assert_eq!(table(&from_csv), table(&fresh));

    // A suggested_label column (as checkpoint runs write) is shown; the path stays last.
    let text_csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text_csv.lines();
    let header = lines.next().unwrap().replace(",path", ",suggested_label,path");
    let mut with = vec![header];
    for l in lines {
        let cells: Vec<&str> = l.splitn(8, ',').collect();
        let index: usize = cells[0].parse().unwrap();
        with.push(format!("{},{},{}", cells[..7].join(","), index % 10, cells[7]));
    }
    let suggested = dir.path().join("suggested.csv");
    std::fs::write(&suggested, with.join("\n") + "\n").unwrap();
    let out = dir.path().join("c.html");
    report(&suggested, &out).success();
    let doc = Html::parse_document(&std::fs::read_to_string(&out).unwrap());
    let header: Vec<String> = select(&doc, "#suspects th").iter().map(text).collect();
    assert!(header.contains(&"suggested".to_string()), "{header:?}");
    for card in select(&doc, ".card") {
        let index: usize = inner(&card, ".index").parse().unwrap();
        assert!(inner(&card, ".suggested").starts_with(&format!("{} ", index % 10)));
    }

    // Scores of another data set are refused, naming the file and line.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, text_csv.replacen("\n0,", "\n99,", 1)).unwrap();
    let err =
        String::from_utf8(report(&other, &dir.path().join("d.html")).code(1).get_output().stderr.clone()).unwrap();
    assert!(err.contains("other.csv line 2") && err.contains("99"), "{err}");
    assert!(!dir.path().join("d.html").exists());
}

/// The acceptance case: MNIST (IDX, labels from the file beside it) with a model saved by
/// `bench`; the top rows' labels are the t10k labels of their indices.
#[test]
fn report_on_embedded_mnist_with_a_bench_model() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    wbound()
        .args(["bench", "--train-size", "300", "--epochs", "3", "--methods", "wb", "--threads", "2", "--plot"])
        .arg(dir.path().join("b.png"))
        .arg("--save-model")
        .arg(&models)
        .assert()
        .success();
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-t10k/t10k-images-idx3-ubyte.gz");
    let html_path = dir.path().join("mnist.html");
    wbound()
        .args(["report", "--quiet", "--top", "16", "--shard", "0/50", "--model"])
        .arg(models.join("mnist-mlp-seed0.onnx"))
        .arg("--inputs")
        .arg(&images)
        .arg("--out")
        .arg(&html_path)
        .assert()
        .success();
    let html = std::fs::read_to_string(&html_path).unwrap();
    let doc = Html::parse_document(&html);
    assert_self_contained(&html, &doc);
    let labels = {
        let mut gz = gunzip(&images.with_file_name("t10k-labels-idx1-ubyte.gz"));
        gz.drain(..8);
        gz
    };
    let cards = select(&doc, ".card");
    assert_eq!(cards.len(), 16);
    for card in &cards {
        let index: usize = inner(card, ".index").parse().unwrap();
        assert!(index < 200, "shard 0/50 holds samples 0..200: {index}");
        assert_eq!(inner(card, ".label"), labels[index].to_string());
        assert_eq!(thumbnail(card), (84, 84));
        assert!(inner(card, ".path").is_empty(), "IDX samples have no files");
    }
    let summary = text(&select(&doc, "#summary")[0]);
    assert!(summary.contains("200 of the 10000 in the inputs"), "{summary}");
}

/// The bytes of a gzip file.
fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()), &mut out)
        .unwrap();
    out
}

/// Checkpoints (`--model A B C …`, as `bench --save-checkpoints` writes them): the report ranks by
/// their mean label-referenced score and shows each sample's suggested label, as `score` writes it.
#[test]
fn report_on_checkpoints_shows_their_suggested_labels() {
    let dir = tempfile::tempdir().unwrap();
    wbound()
        .args(["bench", "--dataset", "digits", "--train-size", "200", "--epochs", "6", "--methods", "random"])
        .args(["--threads", "2", "--plot"])
        .arg(dir.path().join("b.png"))
        .arg("--save-checkpoints")
        .arg(dir.path())
        .assert()
        .success();
    let seed = dir.path().join("seed0");
    let mut models: Vec<PathBuf> = std::fs::read_dir(&seed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    let data = |c: &mut assert_cmd::Command| {
        c.arg("--model")
            .args(&models)
            .arg("--inputs")
            .arg(seed.join("train-x.npy"))
            .arg("--labels")
            .arg(seed.join("train-y.npy"));
    };
    let csv = dir.path().join("s.csv");
    let mut score = wbound();
    score.args(["score", "--quiet", "--out"]).arg(&csv);
    data(&mut score);
    score.assert().success();
    let html_path = dir.path().join("r.html");
    let mut report = wbound();
    report.args(["report", "--quiet", "--top", "10", "--out"]).arg(&html_path);
    data(&mut report);
    report.assert().success();
    let text_csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text_csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let doc = Html::parse_document(&std::fs::read_to_string(&html_path).unwrap());
    let head: Vec<String> = select(&doc, "#suspects th").iter().map(text).collect();
    assert_eq!(head, ["rank", "index", "label", "prediction", "suggested", "score", "status"]);
    let table = select(&doc, "#suspects tbody tr");
    assert_eq!(table.len(), 10);
    let mut best: Vec<f64> = rows.iter().map(|r| r[col("score")].parse::<f64>().unwrap()).collect();
    best.sort_by(|a, b| b.total_cmp(a));
    for (rank, tr) in table.iter().enumerate() {
        let cells: Vec<String> = tr.select(&Selector::parse("td").unwrap()).map(|c| text(&c)).collect();
        let index: usize = cells[1].parse().unwrap();
        let row = &rows[index];
        assert_eq!(cells[2], row[col("label")]);
        assert_eq!(cells[3], row[col("prediction")]);
        assert_eq!(cells[4], row[col("suggested_label")]);
        assert_eq!(row[col("score")].parse::<f64>().unwrap(), best[rank], "rank {rank}");
    }
    let summary = text(&select(&doc, "#summary")[0]);
    assert!(summary.contains("averaged over"), "{summary}");
}
