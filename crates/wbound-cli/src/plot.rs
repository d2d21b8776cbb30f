//! The benchmark plot: mean detection curves (fraction of flipped samples found vs fraction of
//! the data inspected), one per method, with the random diagonal — drawn with plotters as PNG
//! or SVG by the file's extension.
//!
//! plotters needs a system font to draw text, which a fresh machine may lack; the labels here
//! are drawn from the built-in 8×8 bitmap font of `font8x8` instead (as filled squares), so the
//! plot never depends on installed fonts.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

const SIZE: (u32, u32) = (1000, 600);
/// Plot area: left, top, right, bottom edges in pixels.
const AREA: (i32, i32, i32, i32) = (80, 50, 660, 530);
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

/// Draws `curves` (name, fraction found after each inspected sample) to `path` (.png or .svg).
pub fn detection_curves(path: &Path, title: &str, curves: &[(String, Vec<f64>)]) -> Result<()> {
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

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, curves: &[(String, Vec<f64>)]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    let (l, t, r, b) = AREA;
    let px = |x: f64, y: f64| (l + ((r - l) as f64 * x).round() as i32, b - ((b - t) as f64 * y).round() as i32);
    root.fill(&WHITE).map_err(err)?;
    let grey = RGBColor(220, 220, 220);
    for i in 0..=5 {
        let v = f64::from(i) / 5.0;
        root.draw(&PathElement::new(vec![px(v, 0.0), px(v, 1.0)], grey)).map_err(err)?;
        root.draw(&PathElement::new(vec![px(0.0, v), px(1.0, v)], grey)).map_err(err)?;
        let label = format!("{v:.1}");
        let (x, y) = px(v, 0.0);
        text(root, &label, x - 12, y + 8, 1, &BLACK).map_err(err)?;
        let (x, y) = px(0.0, v);
        text(root, &label, x - 34, y - 4, 1, &BLACK).map_err(err)?;
    }
    root.draw(&Rectangle::new([(l, t), (r, b)], BLACK)).map_err(err)?;
    let dashed: Vec<(i32, i32)> = (0..=20).map(|i| px(f64::from(i) / 20.0, f64::from(i) / 20.0)).collect();
    for seg in dashed.chunks(2) {
        root.draw(&PathElement::new(seg.to_vec(), BLACK.mix(0.5))).map_err(err)?;
    }
    for (i, (name, curve)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let n = curve.len().max(1) as f64;
        // At most ~1000 points: one per pixel column is plenty.
        let step = (curve.len() / 1000).max(1);
        let points: Vec<(i32, i32)> = std::iter::once(px(0.0, 0.0))
            .chain(curve.iter().enumerate().step_by(step).map(|(j, &y)| px((j + 1) as f64 / n, y)))
            .chain(curve.last().map(|&y| px(1.0, y)))
            .collect();
        root.draw(&PathElement::new(points, color.stroke_width(2))).map_err(err)?;
        let y = t + 10 + 26 * i as i32;
        root.draw(&PathElement::new(vec![(r + 20, y + 7), (r + 50, y + 7)], color.stroke_width(3))).map_err(err)?;
        text(root, name, r + 58, y, 2, &BLACK).map_err(err)?;
    }
    let y = t + 10 + 26 * curves.len() as i32;
    root.draw(&PathElement::new(vec![(r + 20, y + 7), (r + 50, y + 7)], BLACK.mix(0.5))).map_err(err)?;
    text(root, "diagonal", r + 58, y, 2, &BLACK).map_err(err)?;
    text(root, title, l, 16, 2, &BLACK).map_err(err)?;
    text(root, "fraction of the data inspected (by descending score)", l + 80, b + 30, 1, &BLACK).map_err(err)?;
    text(root, "flipped found", 8, t - 20, 1, &BLACK).map_err(err)?;
    Ok(())
}

/// Draws ASCII `s` with its top-left corner at (x, y), each font pixel a `scale × scale` square.
fn text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &str,
    x: i32,
    y: i32,
    scale: i32,
    color: &RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (dx, dy) in crate::glyphs::pixels(s) {
        let (px, py) = (x + dx as i32 * scale, y + dy as i32 * scale);
        if scale == 1 {
            root.draw_pixel((px, py), color)?;
        } else {
            root.draw(&Rectangle::new([(px, py), (px + scale - 1, py + scale - 1)], color.filled()))?;
        }
    }
    Ok(())
}
