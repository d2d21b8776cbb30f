//! The benchmark plot: mean detection curves (fraction of flipped samples found vs fraction of
//! the data inspected), one per method with its AUROC in the legend, and the random diagonal —
//! drawn with plotters as PNG or SVG by the file's extension.
//!
//! Text uses the TrueType font shipped with the tool ([`crate::glyphs::FONT_BYTES`]), registered
//! with plotters, so the PNG never depends on installed fonts; the SVG writes its text as
//! `<text>` elements. Methods whose curves are identical (`wb` and `wb-label` when the model
//! fits every label) share one line and one legend entry; curves that differ only slightly stay
//! visible because each one is drawn thinner than the one before it.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const SIZE: (u32, u32) = (1000, 600);
/// Plot area: left, top, right, bottom edges in pixels.
const AREA: (i32, i32, i32, i32) = (80, 50, 640, 530);
const FONT: &str = "sans-serif";
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One method's mean detection curve.
pub struct Curve {
    pub name: String,
    /// The fraction of flipped samples found after each inspected sample.
    pub found: Vec<f64>,
    /// The method's mean AUROC, shown in the legend.
    pub auroc: f64,
}

/// Curves that are equal, value for value, drawn once: the names joined by ` = `.
struct Line<'a> {
    names: Vec<&'a str>,
    found: &'a [f64],
    auroc: f64,
}

fn merge(curves: &[Curve]) -> Vec<Line<'_>> {
    let mut lines: Vec<Line> = Vec::new();
    for c in curves {
        match lines.iter_mut().find(|l| l.found == c.found.as_slice()) {
            Some(l) => l.names.push(&c.name),
            None => lines.push(Line { names: vec![&c.name], found: &c.found, auroc: c.auroc }),
        }
    }
    lines
}

impl Line<'_> {
    fn legend(&self) -> String {
        format!("{}  (AUROC {:.3})", self.names.join(" = "), self.auroc)
    }
}

/// Registers the shipped font with plotters under [`FONT`] (once per process).
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are checked to be a valid font by a test of `glyphs`.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, crate::glyphs::FONT_BYTES);
    });
}

/// Draws `curves` to `path` (.png or .svg) under `title`.
pub fn detection_curves(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    register_font();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            draw(&root, title, curves)?;
            root.present().map_err(|e| anyhow!("{e}"))
        }
        Some("png") => {
            let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
                draw(&root, title, curves)?;
                root.present().map_err(|e| anyhow!("{e}"))?;
            }
            image::save_buffer(path, &buf, SIZE.0, SIZE.1, image::ColorType::Rgb8)
                .with_context(|| format!("cannot write {}", path.display()))
        }
        _ => bail!("the plot file must end in .png or .svg, not {}", path.display()),
    }
}

/// Checks the plot's file name before any work.
pub fn check_name(path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png" | "svg") => Ok(()),
        _ => Err(crate::usage(format!("--plot {}: the file name must end in .png or .svg", path.display()))),
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, curves: &[Curve]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    let (l, t, r, b) = AREA;
    let px = |x: f64, y: f64| (l + ((r - l) as f64 * x).round() as i32, b - ((b - t) as f64 * y).round() as i32);
    let font = |size: u32| (FONT, size).into_font().color(&BLACK);
    root.fill(&WHITE).map_err(err)?;
    let grey = RGBColor(220, 220, 220);
    for i in 0..=5 {
        let v = f64::from(i) / 5.0;
        root.draw(&PathElement::new(vec![px(v, 0.0), px(v, 1.0)], grey)).map_err(err)?;
        root.draw(&PathElement::new(vec![px(0.0, v), px(1.0, v)], grey)).map_err(err)?;
        let label = format!("{v:.1}");
        let (x, y) = px(v, 0.0);
        let below = font(14).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(label.clone(), (x, y + 6), below)).map_err(err)?;
        let (x, y) = px(0.0, v);
        let left = font(14).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(label, (x - 6, y), left)).map_err(err)?;
    }
    root.draw(&Rectangle::new([(l, t), (r, b)], BLACK)).map_err(err)?;
    let dashed: Vec<(i32, i32)> = (0..=20).map(|i| px(f64::from(i) / 20.0, f64::from(i) / 20.0)).collect();
    for seg in dashed.chunks(2) {
        root.draw(&PathElement::new(seg.to_vec(), BLACK.mix(0.5))).map_err(err)?;
    }
    let lines = merge(curves);
    for (i, line) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let n = line.found.len().max(1) as f64;
        // At most ~1000 points: one per pixel column is plenty.
        let step = (line.found.len() / 1000).max(1);
        let points: Vec<(i32, i32)> = std::iter::once(px(0.0, 0.0))
            .chain(line.found.iter().enumerate().step_by(step).map(|(j, &y)| px((j + 1) as f64 / n, y)))
            .chain(line.found.last().map(|&y| px(1.0, y)))
            .collect();
        // Each line thinner than the one before, so one that runs along another still shows.
        let width = 2 + (lines.len() - 1 - i).min(4) as u32;
        root.draw(&PathElement::new(points, color.stroke_width(width))).map_err(err)?;
        let y = t + 12 + 28 * i as i32;
        root.draw(&PathElement::new(vec![(r + 20, y), (r + 50, y)], color.stroke_width(4))).map_err(err)?;
        let style = font(16).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(line.legend(), (r + 58, y), style)).map_err(err)?;
    }
    let y = t + 12 + 28 * lines.len() as i32;
    root.draw(&PathElement::new(vec![(r + 20, y), (r + 50, y)], BLACK.mix(0.5))).map_err(err)?;
    let style = font(16).pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new("random (diagonal)", (r + 58, y), style)).map_err(err)?;
    root.draw(&Text::new(title.to_string(), (l, 14), font(20))).map_err(err)?;
    let x_label = font(15).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new("fraction of the data inspected (by descending score)", ((l + r) / 2, b + 30), x_label))
        .map_err(err)?;
    let y_label = font(15).pos(Pos::new(HPos::Center, VPos::Bottom)).transform(FontTransform::Rotate270);
    root.draw(&Text::new("fraction of the flipped samples found", (l - 46, (t + b) / 2), y_label)).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curves() -> Vec<Curve> {
        let same = vec![0.5, 0.9, 1.0];
        vec![
            Curve { name: "wb".into(), found: same.clone(), auroc: 0.8861 },
            Curve { name: "wb-label".into(), found: same, auroc: 0.8861 },
            Curve { name: "loss".into(), found: vec![0.4, 0.8, 1.0], auroc: 0.8 },
        ]
    }

    #[test]
    fn identical_curves_share_one_legend_entry_with_the_auroc() {
        let curves = curves();
        let lines = merge(&curves);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].legend(), "wb = wb-label  (AUROC 0.886)");
        assert_eq!(lines[1].legend(), "loss  (AUROC 0.800)");
    }

    #[test]
    fn the_svg_writes_its_text_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        detection_curves(&path, "digits mlp, 10% noise, 1 seed", &curves()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| t.split_once('>').unwrap().1.split("</text>").next().unwrap().trim())
            .collect();
        assert!(texts.contains(&"wb = wb-label  (AUROC 0.886)"), "{texts:?}");
        assert!(texts.contains(&"digits mlp, 10% noise, 1 seed") && texts.contains(&"0.4"), "{texts:?}");
        // The old bitmap text drew every font pixel as a rectangle (2,708 of them).
        assert!(svg.matches("<rect").count() < 10, "{}", svg.matches("<rect").count());
    }

    #[test]
    fn the_png_text_is_antialiased() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        detection_curves(&path, "title", &curves()).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // The legend's text, right of the plot area: black text on white has the greys between.
        let (x0, y0) = (AREA.2 as u32 + 58, AREA.1 as u32);
        let greys: std::collections::BTreeSet<u8> = (x0..SIZE.0)
            .flat_map(|x| (y0..y0 + 80).map(move |y| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y).0)
            .filter(|p| p[0] == p[1] && p[1] == p[2])
            .map(|p| p[0])
            .collect();
        assert!(greys.len() > 20, "{} grey levels", greys.len());
    }
}
