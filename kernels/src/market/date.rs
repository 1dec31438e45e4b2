//! Calendar dates of a market file and of dated trades: ISO `YYYY-MM-DD`
//! (exactly ten characters), and Act/365F year fractions between them.

use chrono::NaiveDate;

/// A calendar date.
pub type Date = NaiveDate;

/// Parses `YYYY-MM-DD`, or says why not.
pub fn parse(text: &str) -> Result<Date, String> {
    let bad = || format!("{text:?} is not a date (YYYY-MM-DD)");
    // chrono takes unpadded months and days; the contract does not.
    if text.len() != 10 || text.as_bytes()[4] != b'-' || text.as_bytes()[7] != b'-' {
        return Err(bad());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())
}

/// Act/365F: the days from `from` to `to` over 365.
pub fn year_fraction(from: Date, to: Date) -> f64 {
    (to - from).num_days() as f64 / 365.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly_and_count_act_365f() {
        let d = parse("2026-12-04").unwrap();
        assert_eq!(year_fraction(d, parse("2027-12-04").unwrap()), 1.0);
        assert_eq!(
            year_fraction(d, parse("2028-12-04").unwrap()),
            731.0 / 365.0
        );
        for bad in [
            "2026-2-04",
            "2026-02-30",
            "04/12/2026",
            "2026-12-04T00:00",
            "",
            "2026-13-01",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
