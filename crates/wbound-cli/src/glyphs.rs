//! Text as pixels, from the public-domain 8×8 bitmap font of `font8x8`, so that the PNG grid and
//! the benchmark plot never depend on installed fonts.

use font8x8::legacy::BASIC_LEGACY;

/// The `(x, y)` offsets of the set pixels of `text` drawn left to right, 8 pixels per character
/// (characters outside ASCII are drawn as `?`).
pub fn pixels(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    text.chars().enumerate().flat_map(|(i, c)| {
        let glyph = BASIC_LEGACY.get(c as usize).copied().unwrap_or(BASIC_LEGACY[b'?' as usize]);
        (0..8).flat_map(move |row| {
            (0..8).filter(move |col| glyph[row] & (1 << col) != 0).map(move |col| (i * 8 + col, row))
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn glyphs_are_placed_per_character() {
        let one: Vec<_> = super::pixels("|").collect();
        let two: Vec<_> = super::pixels("||").collect();
        assert!(!one.is_empty() && one.iter().all(|&(x, y)| x < 8 && y < 8));
        assert_eq!(two.len(), 2 * one.len());
        assert!(two[one.len()..].iter().all(|&(x, _)| (8..16).contains(&x)));
        assert_eq!(super::pixels(" ").count(), 0);
    }
}
