//! The PNG grid of `top-k`: one tile per sample (the image, contrast-stretched and enlarged),
//! with its index, given label (`y`), prediction (`p`), score and file under it; a red frame marks
//! a tile whose label and prediction disagree, and a key above the tiles says so. Text is drawn
//! with the shipped TrueType font ([`crate::glyphs`]). [`pixels`] also renders one tile's image
//! for the HTML report.

use std::path::Path;

use anyhow::Result;
use image::{Rgb, RgbImage};

use crate::glyphs;
use crate::input::Geometry;

/// How the grid was laid out.
#[derive(Debug, Clone, Copy)]
pub struct GridLayout {
    pub cols: usize,
    pub rows: usize,
    pub tile_w: usize,
    pub tile_h: usize,
}

/// What is written under a tile.
#[derive(Debug, Clone)]
pub struct Caption {
    pub index: usize,
    pub label: Option<i64>,
    /// The prediction; none for a sample that was not scored.
    pub prediction: Option<i64>,
    pub score: f64,
    /// The sample's file, for image folders.
    pub path: Option<String>,
}

impl Caption {
    /// Whether the given label and the prediction differ.
    pub fn disagrees(&self) -> bool {
        matches!((self.label, self.prediction), (Some(l), Some(p)) if l != p)
    }

    fn lines(&self) -> Vec<String> {
        let y = self.label.map_or("?".into(), |l| l.to_string());
        let p = self.prediction.map_or("?".into(), |p| p.to_string());
        let mut lines = vec![
            format!("#{}  y {y}  p {p}{}", self.index, if self.disagrees() { "  ≠" } else { "" }),
            crate::numbers::sig3(self.score),
        ];
        lines.extend(self.path.clone());
        lines
    }
}

const PAD: usize = 6;
/// Frame around a tile's image, red when label and prediction disagree.
const FRAME: usize = 3;
const TEXT: f32 = 12.0;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const RED: Rgb<u8> = Rgb([214, 39, 40]);
/// The key drawn above the tiles.
const KEY: [&str; 3] =
    ["#index  y label  p prediction", "score: higher = more suspicious", "red frame, ≠: y and p disagree"];

/// Checks the file name before any work: the grid is a PNG.
pub fn check_name(path: &Path) -> Result<()> {
    let png = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !png {
        return Err(crate::usage(format!("--grid {}: the file name must end in .png", path.display())));
    }
    Ok(())
}

/// Sample `sample` (`g`'s shape, values of any range) as an RGB image enlarged `scale` times,
/// contrast-stretched to its own minimum and maximum.
pub fn pixels(sample: &[f32], g: Geometry, scale: usize) -> RgbImage {
    let (lo, hi) = sample.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let level = |v: f32| if hi > lo { ((v - lo) / (hi - lo) * 255.0).round() as u8 } else { 128 };
    let at = |c: usize, y: usize, x: usize| {
        let c = c.min(g.c - 1);
        if g.channels_last {
            sample[(y * g.w + x) * g.c + c]
        } else {
            sample[(c * g.h + y) * g.w + x]
        }
    };
    RgbImage::from_fn((g.w * scale) as u32, (g.h * scale) as u32, |x, y| {
        let (sy, sx) = (y as usize / scale, x as usize / scale);
        Rgb([level(at(0, sy, sx)), level(at(1, sy, sx)), level(at(2, sy, sx))])
    })
}

/// The enlargement that makes an image of `g` about 64 pixels on its longer side (at least 1).
pub fn scale_for(g: Geometry) -> usize {
    64usize.div_ceil(g.h.max(g.w)).max(1)
}

/// Draws `captions.len()` tiles from `samples` (row-major, one sample after another) to `path`.
pub fn write(path: &Path, samples: &[f32], g: Geometry, captions: &[Caption]) -> Result<GridLayout> {
    let k = captions.len();
    let scale = scale_for(g);
    let line = glyphs::line_height(TEXT).ceil() as usize;
    let texts: Vec<Vec<String>> = captions.iter().map(Caption::lines).collect();
    // Paths may be long: they get at most 200 pixels, cut from the left to fit.
    let image_w = g.w * scale + 2 * FRAME;
    let text_w = |l: &String| glyphs::width(l, TEXT).ceil() as usize;
    let widest = texts.iter().flat_map(|t| t.iter().take(2)).map(text_w).max().unwrap_or(0);
    let path_w = texts.iter().filter_map(|t| t.get(2)).map(text_w).max().unwrap_or(0).min(200);
    let tile_w = image_w.max(widest).max(path_w) + 2 * PAD;
    let lines = texts.iter().map(Vec::len).max().unwrap_or(0);
    let tile_h = g.h * scale + 2 * FRAME + lines * line + 3 * PAD;
    let key_w = KEY.iter().map(|l| glyphs::width(l, TEXT).ceil() as usize).max().unwrap_or(0) + 2 * PAD;
    let cols = (k as f64).sqrt().ceil().max(1.0) as usize;
    let rows = k.div_ceil(cols);
    let top = KEY.len() * line + 2 * PAD;
    let width = (cols * tile_w).max(key_w);
    let mut img = RgbImage::from_pixel(width as u32, (top + rows * tile_h) as u32, WHITE);
    for (l, text) in KEY.iter().enumerate() {
        glyphs::draw(&mut img, PAD as f32, (PAD + l * line) as f32, TEXT, text, if l == 2 { RED } else { BLACK });
    }
    let len = g.c * g.h * g.w;
    for (t, (caption, text)) in captions.iter().zip(&texts).enumerate() {
        let (x0, y0) = ((t % cols) * tile_w + PAD, top + (t / cols) * tile_h + PAD);
        let frame = if caption.disagrees() { RED } else { WHITE };
        let (fw, fh) = (g.w * scale + 2 * FRAME, g.h * scale + 2 * FRAME);
        for y in 0..fh {
            for x in 0..fw {
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, frame);
            }
        }
        let tile = pixels(&samples[t * len..(t + 1) * len], g, scale);
        image::imageops::replace(&mut img, &tile, (x0 + FRAME) as i64, (y0 + FRAME) as i64);
        let text_y = y0 + fh + PAD / 2;
        for (l, s) in text.iter().enumerate() {
            let s = if l == 2 { glyphs::fit_left(s, TEXT, (tile_w - 2 * PAD) as f32) } else { s.clone() };
            let color = if l == 0 && caption.disagrees() { RED } else { BLACK };
            glyphs::draw(&mut img, x0 as f32, (text_y + l * line) as f32, TEXT, &s, color);
        }
    }
    img.save(path)?;
    Ok(GridLayout { cols, rows, tile_w, tile_h })
}
