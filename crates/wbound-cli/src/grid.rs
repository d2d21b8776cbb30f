//! The PNG grid of `top-k`: one tile per sample (the image, contrast-stretched and enlarged),
//! with caption lines under it (see [`crate::glyphs`]).

use std::path::Path;

use anyhow::Result;
use image::{Rgb, RgbImage};

use crate::input::Geometry;

/// How the grid was laid out.
#[derive(Debug, Clone, Copy)]
pub struct GridLayout {
    pub cols: usize,
    pub rows: usize,
    pub tile_w: usize,
    pub tile_h: usize,
}

const PAD: usize = 4;
const LINE: usize = 10;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// Draws `captions.len()` tiles from `samples` (row-major, one sample after another) to `path`.
pub fn write(path: &Path, samples: &[f32], g: Geometry, captions: &[Vec<String>]) -> Result<GridLayout> {
    let k = captions.len();
    let scale = 64usize.div_ceil(g.h.max(g.w)).max(1);
    let text_w = captions.iter().flatten().map(|l| l.chars().count() * 8).max().unwrap_or(0);
    let lines = captions.iter().map(Vec::len).max().unwrap_or(0);
    let tile_w = (g.w * scale).max(text_w) + 2 * PAD;
    let tile_h = g.h * scale + lines * LINE + 3 * PAD;
    let cols = (k as f64).sqrt().ceil().max(1.0) as usize;
    let rows = k.div_ceil(cols);
    let mut img = RgbImage::from_pixel((cols * tile_w) as u32, (rows * tile_h) as u32, WHITE);
    let len = g.c * g.h * g.w;
    for (t, caption) in captions.iter().enumerate() {
        let (x0, y0) = ((t % cols) * tile_w + PAD, (t / cols) * tile_h + PAD);
        let sample = &samples[t * len..(t + 1) * len];
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
        for y in 0..g.h * scale {
            for x in 0..g.w * scale {
                let (sy, sx) = (y / scale, x / scale);
                let px = Rgb([level(at(0, sy, sx)), level(at(1, sy, sx)), level(at(2, sy, sx))]);
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, px);
            }
        }
        for (l, text) in caption.iter().enumerate() {
            draw_text(&mut img, x0, y0 + g.h * scale + PAD + l * LINE, text);
        }
    }
    img.save(path)?;
    Ok(GridLayout { cols, rows, tile_w, tile_h })
}

fn draw_text(img: &mut RgbImage, x0: usize, y0: usize, text: &str) {
    for (dx, dy) in crate::glyphs::pixels(text) {
        let (x, y) = ((x0 + dx) as u32, (y0 + dy) as u32);
        if x < img.width() && y < img.height() {
            img.put_pixel(x, y, Rgb([0, 0, 0]));
        }
    }
}
