//! Text as pixels from the TrueType font shipped with the tool (DejaVu Sans,
//! `assets/DejaVuSans.ttf`, licence in `assets/DejaVu-LICENSE.txt`), rasterised with anti-aliasing
//! by `ab_glyph`, so that the PNG grid and plots never depend on installed fonts. (The plots
//! register the same bytes with plotters; see [`crate::plot`].)

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

/// The font file's bytes, built into the binary.
pub const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The shipped font.
pub fn font() -> FontRef<'static> {
    FontRef::try_from_slice(FONT_BYTES).expect("the shipped font is a valid TrueType file (checked by a test)")
}

/// The advance width of `text` at `size` (the line height in pixels, ab_glyph's `PxScale`), in
/// pixels.
pub fn width(text: &str, size: f32) -> f32 {
    let font = font();
    let font = font.as_scaled(PxScale::from(size));
    let mut x = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            x += font.kern(p, id);
        }
        x += font.h_advance(id);
        prev = Some(id);
    }
    x
}

/// The height of a line of text at `size`, in pixels (ascent to descent: `size` itself).
pub fn line_height(size: f32) -> f32 {
    let font = font();
    let font = font.as_scaled(PxScale::from(size));
    font.ascent() - font.descent()
}

/// Draws `text` with its top-left corner at (`x`, `y`), lines `size` pixels high, in `color` blended
/// over the image by each pixel's coverage; whatever falls outside the image is dropped.
pub fn draw(img: &mut RgbImage, x: f32, y: f32, size: f32, text: &str, color: Rgb<u8>) {
    let font = font();
    let scaled = font.as_scaled(PxScale::from(size));
    let baseline = y + scaled.ascent();
    let mut caret = x;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(PxScale::from(size), point(caret, baseline));
        caret += scaled.h_advance(id);
        prev = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if px < 0 || py < 0 || px >= i64::from(img.width()) || py >= i64::from(img.height()) {
                return;
            }
            let under = img.get_pixel_mut(px as u32, py as u32);
            let a = coverage.clamp(0.0, 1.0);
            for ch in 0..3 {
                under.0[ch] = (f32::from(color.0[ch]) * a + f32::from(under.0[ch]) * (1.0 - a)).round() as u8;
            }
        });
    }
}

/// `text` cut from the left, with a leading `…`, to fit `max` pixels at `size` (a long path keeps
/// its file name).
pub fn fit_left(text: &str, size: f32, max: f32) -> String {
    if width(text, size) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for start in 1..chars.len() {
        let cut: String = std::iter::once('…').chain(chars[start..].iter().copied()).collect();
        if width(&cut, size) <= max {
            return cut;
        }
    }
    "…".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_antialiased_truetype_and_measured() {
        let mut img = RgbImage::from_pixel(120, 30, Rgb([255, 255, 255]));
        draw(&mut img, 2.0, 2.0, 16.0, "AUROC 0.9", Rgb([0, 0, 0]));
        let levels: std::collections::BTreeSet<u8> = img.pixels().map(|p| p.0[0]).collect();
        // A bitmap font sets pixels on or off; a rasterised outline has the grey levels between.
        assert!(levels.len() > 20, "{} grey levels", levels.len());
        assert!(levels.contains(&0) || levels.iter().next().is_some_and(|&l| l < 40));
        let inked: Vec<u32> = img.enumerate_pixels().filter(|p| p.2 .0[0] < 128).map(|p| p.0).collect();
        let right = inked.iter().max().copied().unwrap_or(0) as f32;
        assert!((right - (2.0 + width("AUROC 0.9", 16.0))).abs() < 3.0, "{right}");
        assert!(width("ii", 16.0) < width("WW", 16.0));
        assert!((line_height(16.0) - 16.0).abs() < 0.5, "{}", line_height(16.0));
    }

    #[test]
    fn long_text_is_cut_from_the_left() {
        let long = "a/very/long/folder/name/that/goes/on/cat_0001.png";
        let cut = fit_left(long, 11.0, 100.0);
        assert!(cut.starts_with('…') && cut.ends_with("cat_0001.png") && width(&cut, 11.0) <= 100.0, "{cut}");
        assert_eq!(fit_left("cat.png", 11.0, 80.0), "cat.png");
    }
}
