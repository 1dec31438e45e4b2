//! SVG building blocks: a linear scale safe on any input, "nice" axis
//! ticks, coordinates that are always finite, and label truncation.

use std::fmt::Write;

/// A linear map from data values to SVG units. A degenerate domain (one
/// value, or not finite) is widened so nothing divides by zero, and values
/// outside the domain are clamped to the range.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    pub fn new((lo, hi): (f64, f64), (from, to): (f64, f64)) -> Scale {
        let (lo, hi) = widen(lo, hi);
        Scale { lo, hi, from, to }
    }

    /// Where `x` lands (the range's start for a value that is not finite).
    pub fn at(&self, x: f64) -> f64 {
        // Divide by the domain's magnitude first: hi - lo can overflow
        // for values near f64::MAX.
        let m = self.lo.abs().max(self.hi.abs());
        let t = (x / m - self.lo / m) / (self.hi / m - self.lo / m);
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.from + t * (self.to - self.from)
    }
}

/// `(lo, hi)` made a proper interval: finite, `lo < hi`.
pub fn widen(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => (lo.min(hi), lo.max(hi)),
        (true, false) => (lo, lo),
        (false, true) => (hi, hi),
        (false, false) => (0.0, 0.0),
    };
    if hi > lo && (hi - lo) > lo.abs().max(hi.abs()) * 1e-12 {
        return (lo, hi);
    }
    let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
    (lo - pad, hi + pad)
}

/// Ticks of 1, 2 or 5 times a power of ten covering `[lo, hi]` in about
/// `n` steps: the ticks (first <= lo, last >= hi) and the step.
pub fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = widen(lo, hi);
    let n = n.max(1) as f64;
    let raw = (hi / n - lo / n).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    // The candidate whose step count is nearest n.
    let steps = |s: f64| ((hi / s - lo / s) - n).abs();
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .filter(|s| s.is_finite() && *s > 0.0)
        .min_by(|a, b| steps(*a).total_cmp(&steps(*b)))
        .unwrap_or(raw);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    if !(first.is_finite() && last.is_finite()) || last - first > 100.0 {
        return (vec![lo, hi], hi - lo);
    }
    let ticks = (0..=(last - first) as usize)
        .map(|i| (first + i as f64) * step)
        .collect();
    (ticks, step)
}

/// A coordinate as written into the SVG: one decimal, and never NaN or
/// infinite (0 instead, which the scales never need).
pub fn num(x: f64) -> String {
    if x.is_finite() {
        let r = (x * 10.0).round() / 10.0;
        if r == r.trunc() {
            format!("{}", r as i64)
        } else {
            format!("{r:.1}")
        }
    } else {
        "0".into()
    }
}

/// `s` cut to `max` characters with an ellipsis: chart labels have a
/// fixed room; the full text goes into the element's `<title>`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Roughly how wide `s` is at font size `size`, to lay labels out
/// without overlap (wide scripts count double).
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 1.0 } else { 0.6 })
        .sum::<f64>()
        * size
}

/// An `<svg>` opening tag: fluid (its width follows the page), sized by
/// its viewBox, with a title for screen readers.
pub fn open(out: &mut String, id: &str, w: f64, h: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {} {}" role="img" aria-label="{}">"#,
        num(w),
        num(h),
        super::html::escape(label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_ticks_stay_finite_on_degenerate_input() {
        for (lo, hi) in [
            (0.0, 0.0),
            (5.0, 5.0),
            (-1e308, 1e308),
            (f64::NAN, 1.0),
            (f64::NEG_INFINITY, f64::INFINITY),
            (1e-300, 2e-300),
        ] {
            let s = Scale::new((lo, hi), (10.0, 410.0));
            for x in [lo, hi, 0.0, f64::NAN, f64::INFINITY, -1e308] {
                let y = s.at(x);
                assert!(
                    y.is_finite() && (10.0..=410.0).contains(&y),
                    "{lo} {hi} {x} -> {y}"
                );
            }
            let (t, step) = ticks(lo, hi, 5);
            assert!(!t.is_empty() && t.len() <= 102, "{lo} {hi}: {t:?}");
            assert!(t.iter().all(|v| v.is_finite()) && step.is_finite() && step > 0.0);
        }
        let (t, step) = ticks(-3.2, 7.9, 5);
        assert_eq!(step, 2.0);
        assert_eq!(t.first(), Some(&-4.0));
        assert_eq!(t.last(), Some(&8.0));
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(-0.04), "0");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
