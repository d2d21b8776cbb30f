//! Numbers as people read them: scores with three significant digits in one fixed-width form
//! (`-7.46e-07`), rates rounded. Files keep the exact values; this is only for tables, captions
//! and the report.

/// A score (or any real) with three significant digits, always in the same scientific form, so a
/// column of them lines up: `-7.46e-07`, `1.20e+01`, `0.00e+00`; `NaN`, `inf`, `-inf` as such.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let text = format!("{x:.2e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// A rate rounded for a progress line: whole numbers from 10 up, one decimal below.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        "-".into()
    } else if per_sec >= 10.0 {
        format!("{per_sec:.0}")
    } else {
        format!("{per_sec:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_have_three_significant_digits_in_one_width() {
        assert_eq!(sig3(-0.0000007463747400954438), "-7.46e-07");
        assert_eq!(sig3(12.0), "1.20e+01");
        assert_eq!(sig3(-0.5), "-5.00e-01");
        assert_eq!(sig3(0.0), "0.00e+00");
        assert_eq!(sig3(3.2e-120), "3.20e-120");
        assert_eq!(sig3(f64::NAN), "NaN");
        assert_eq!(sig3(f64::NEG_INFINITY), "-inf");
        assert_eq!(sig3(-1.5e-9).len(), sig3(-2.0e-3).len());
    }

    #[test]
    fn rates_are_rounded() {
        assert_eq!(rate(401.5139), "402");
        assert_eq!(rate(2.345), "2.3");
        assert_eq!(rate(f64::INFINITY), "-");
    }
}
