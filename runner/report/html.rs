//! Text for the page: HTML escaping and the way numbers are written.

/// `s` made safe inside HTML text and quoted attributes. Trade ids and
/// file names can hold anything (`<script>`, quotes, `&`); control
/// characters other than whitespace, which HTML forbids, become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // As references: a parser turns a raw CR (or CR LF) into LF,
            // so an id holding one would read back as another id.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `x` exactly, for a `data-value` attribute: Rust's shortest round-trip
/// form, so a reader parses back the same `f64` ("NaN", "inf" as such).
pub fn exact(x: f64) -> String {
    format!("{x:?}")
}

/// A money figure for people: thousands grouped, two decimals; three
/// significant digits below 1; scientific from 1e15 or under 1e-4;
/// "n/a" when not a finite number.
pub fn money(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    let sign = if x < 0.0 { "-" } else { "" };
    if a == 0.0 {
        return "0.00".into();
    }
    if !(1e-4..1e15).contains(&a) {
        return format!("{sign}{a:.3e}");
    }
    if a < 1.0 {
        let decimals = (2 - a.log10().floor() as i32).clamp(2, 8) as usize;
        return format!("{sign}{a:.decimals$}");
    }
    let fixed = format!("{a:.2}");
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    format!("{sign}{}.{frac}", group(int))
}

/// A figure for a chart label, where room is short: as [`money`] below a
/// million, else three significant digits with M, B or T (scientific from
/// 1e15).
pub fn compact(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a < 1e6 {
        return money(x);
    }
    if a >= 1e15 {
        return format!("{x:.2e}");
    }
    let (div, suffix) = match a {
        a if a >= 1e12 => (1e12, "T"),
        a if a >= 1e9 => (1e9, "B"),
        _ => (1e6, "M"),
    };
    let decimals = (2 - (a / div).log10().floor() as i32).clamp(0, 2) as usize;
    format!("{:.decimals$}{suffix}", x / div)
}

/// A count with thousands grouped.
pub fn count(n: usize) -> String {
    group(&n.to_string())
}

/// `digits` with a comma every three from the right.
fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        // (`is_multiple_of` is newer than the workspace's rust-version.)
        let left = (digits.len() - i) % 3;
        if i > 0 && left == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A confidence level as people write it: 0.99 -> "99%", 0.975 -> "97.5%".
pub fn percent(level: f64) -> String {
    format!("{}%", level_digits(level))
}

/// The DOM id of a figure at a level: ("var", 0.99) -> "var-99",
/// ("es", 0.975) -> "es-97_5" (no dot, so CSS selectors need no escape).
pub fn level_id(what: &str, level: f64) -> String {
    format!("{what}-{}", level_digits(level).replace('.', "_"))
}

fn level_digits(level: f64) -> String {
    // Round away the binary noise of level * 100 (0.975 * 100 = 97.49999..).
    let p = (level * 100.0 * 1e6).round() / 1e6;
    if p.is_finite() {
        format!("{p}")
    } else {
        "nan".into()
    }
}

/// An axis tick: as many decimals as the step needs, with k/M/B/T when
/// the axis reaches `reach` in magnitude, scientific beyond 1e15.
pub fn tick(v: f64, step: f64, reach: f64) -> String {
    if !v.is_finite() || !step.is_finite() {
        return String::new();
    }
    if v == 0.0 {
        return "0".into();
    }
    if reach >= 1e15 {
        return format!("{v:.1e}");
    }
    let (div, suffix) = match reach {
        r if r >= 1e12 => (1e12, "T"),
        r if r >= 1e9 => (1e9, "B"),
        r if r >= 1e6 => (1e6, "M"),
        r if r >= 1e4 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let s = step / div;
    let decimals = if s >= 1.0 || s <= 0.0 {
        0
    } else {
        ((-s.log10()).ceil() as usize).min(8)
    };
    let text = format!("{:.decimals$}", v / div);
    // "-0" and "-0.0" read as zero.
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        return format!("{}{suffix}", text.trim_start_matches('-'));
    }
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_keeps_unicode() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("日本語 é"), "日本語 é");
        assert_eq!(escape("a\u{0}b\u{7}c\td"), "a\u{FFFD}b\u{FFFD}c\td");
        // A parser would read a raw CR back as LF: references keep it.
        assert_eq!(escape("cr\rlf\n"), "cr&#13;lf&#10;");
    }

    #[test]
    fn numbers_read_well_and_never_say_nan() {
        assert_eq!(money(1234567.891), "1,234,567.89");
        assert_eq!(money(-12.3456), "-12.35");
        assert_eq!(money(0.0), "0.00");
        assert_eq!(money(0.0123456), "0.0123");
        assert_eq!(money(0.5), "0.500");
        assert_eq!(money(999.999), "1,000.00");
        assert_eq!(money(-3e20), "-3.000e20");
        assert_eq!(money(f64::NAN), "n/a");
        assert_eq!(compact(-13_180_320.0), "-13.2M");
        assert_eq!(compact(5e13), "50.0T");
        assert_eq!(compact(2.5e9), "2.50B");
        assert_eq!(compact(-999.5), "-999.50");
        assert_eq!(compact(7e18), "7.00e18");
        assert_eq!(count(1234), "1,234");
        assert_eq!(count(12), "12");
        assert_eq!(percent(0.975), "97.5%");
        assert_eq!(level_id("var", 0.99), "var-99");
        assert_eq!(level_id("es", 0.975), "es-97_5");
        assert_eq!(tick(-0.0, 0.5, 2.0), "0");
        assert_eq!(tick(0.0, 5_000.0, 15_000.0), "0");
        assert_eq!(tick(-1e-17, 0.2, 1.0), "0.0");
        assert_eq!(tick(25_000.0, 5_000.0, 30_000.0), "25k");
        assert_eq!(tick(2.5e6, 5e5, 3e6), "2.5M");
        assert_eq!(tick(0.25, 0.05, 1.0), "0.25");
        assert_eq!(exact(-0.1), "-0.1");
        assert_eq!(exact(3.0), "3.0");
    }
}
