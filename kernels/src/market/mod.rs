//! A market file (`--market`): a valuation date, discount curves by
//! currency, and per underlying its spot, currency, dividends (a yield
//! curve, cash amounts), volatility (flat, or a surface of implied Black
//! volatilities) and Heston parameters, with the spot correlations of
//! pairs of underlyings. Read from JSON and checked whole, every error
//! naming its field (`underlyings.SPX.vol.vols[1][2]`); dated trades are
//! priced through it ([`dated`]).
//!
//! Year fractions are Act/365F from the valuation date ([`date`]); curves
//! are zero curves, log-linear in the discount factor ([`curve`]).

pub mod curve;
pub mod date;
pub mod dated;
pub mod local_vol;
pub mod path;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::Heston;
pub use curve::ZeroCurve;
pub use date::Date;

/// A market file that cannot be used: the field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct MarketError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> MarketError {
    MarketError {
        field: field.into(),
        message: message.into(),
    }
}

/// The market, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Market {
    pub valuation_date: Date,
    pub curves: BTreeMap<String, ZeroCurve>,
    pub underlyings: BTreeMap<String, Underlying>,
    /// `(a, b, rho)` with `a < b`; pairs not listed are 0.
    pub correlations: Vec<(String, String, f64)>,
    /// Local-volatility grids built so far (shared by the market's clones).
    pub grids: std::sync::Arc<local_vol::GridCache>,
}

/// One underlying's market.
#[derive(Clone, Debug, PartialEq)]
pub struct Underlying {
    pub spot: f64,
    pub currency: String,
    pub dividend_yield: Option<ZeroCurve>,
    /// Cash dividends: ex-date (year fraction) and amount, in date order.
    pub dividends: Vec<(f64, f64)>,
    pub vol: Vol,
    pub heston: Option<HestonParams>,
}

/// An underlying's volatility.
#[derive(Clone, Debug, PartialEq)]
pub enum Vol {
    Flat(f64),
    /// Implied Black volatilities: `vols[i][j]` at expiry `expiries[i]`
    /// (year fractions, increasing) and strike `strikes[j]` (increasing).
    Surface {
        expiries: Vec<f64>,
        strikes: Vec<f64>,
        vols: Vec<Vec<f64>>,
    },
}

/// An underlying's Heston parameters (its spot, rate and dividend come
/// from the market).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HestonParams {
    pub v0: f64,
    pub kappa: f64,
    pub theta: f64,
    pub xi: f64,
    pub rho: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarketFile {
    valuation_date: String,
    #[serde(default)]
    curves: BTreeMap<String, CurveFile>,
    underlyings: BTreeMap<String, UnderlyingFile>,
    #[serde(default)]
    correlations: Vec<CorrelationFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurveFile {
    dates: Vec<String>,
    zero_rates: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnderlyingFile {
    spot: f64,
    currency: String,
    dividend_yield: Option<CurveFile>,
    #[serde(default)]
    dividends: Vec<DividendFile>,
    vol: VolFile,
    heston: Option<HestonParams>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DividendFile {
    ex_date: String,
    amount: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum VolFile {
    Flat {
        flat: f64,
    },
    Surface {
        expiries: Vec<String>,
        strikes: Vec<f64>,
        vols: Vec<Vec<f64>>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrelationFile {
    a: String,
    b: String,
    rho: f64,
}

/// The most a zero rate may be either way (100% a year): beyond it a
/// discount factor over a long trade under- or overflows.
pub const MAX_RATE: f64 = 1.0;

impl Market {
    /// Reads and checks a market file's JSON.
    pub fn from_json(text: &str) -> Result<Market, MarketError> {
        let file: MarketFile = serde_json::from_str(text).map_err(|e| {
            bad(
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        let valuation_date =
            date::parse(&file.valuation_date).map_err(|m| bad("valuation_date", m))?;
        let mut curves = BTreeMap::new();
        for (ccy, c) in &file.curves {
            curves.insert(
                ccy.clone(),
                curve_of(valuation_date, c, &format!("curves.{ccy}"))?,
            );
        }
        if file.underlyings.is_empty() {
            return Err(bad("underlyings", "no underlying: give at least one"));
        }
        let mut underlyings = BTreeMap::new();
        for (name, u) in &file.underlyings {
            let at = |f: &str| format!("underlyings.{name}.{f}");
            finite_positive(&at("spot"), u.spot)?;
            if !curves.contains_key(&u.currency) {
                return Err(bad(
                    at("currency"),
                    format!(
                        "{:?} has no curve in `curves` (there: {})",
                        u.currency,
                        names(curves.keys())
                    ),
                ));
            }
            let dividend_yield = u
                .dividend_yield
                .as_ref()
                .map(|c| curve_of(valuation_date, c, &at("dividend_yield")))
                .transpose()?;
            let mut dividends = Vec::with_capacity(u.dividends.len());
            for (i, d) in u.dividends.iter().enumerate() {
                let f = at(&format!("dividends[{i}]"));
                let t = future(valuation_date, &d.ex_date, &format!("{f}.ex_date"))?;
                if !(d.amount.is_finite() && d.amount >= 0.0) {
                    return Err(bad(
                        format!("{f}.amount"),
                        format!("{} is not a finite amount >= 0", d.amount),
                    ));
                }
                if dividends.last().is_some_and(|&(p, _)| t <= p) {
                    return Err(bad(
                        format!("{f}.ex_date"),
                        "ex-dates must be in increasing order, each once",
                    ));
                }
                dividends.push((t, d.amount));
            }
            let vol = match &u.vol {
                VolFile::Flat { flat } => {
                    finite_positive(&at("vol.flat"), *flat)?;
                    Vol::Flat(*flat)
                }
                VolFile::Surface {
                    expiries,
                    strikes,
                    vols,
                } => surface_of(valuation_date, expiries, strikes, vols, &at("vol"))?,
            };
            if let Some(h) = &u.heston {
                Heston {
                    spot: u.spot,
                    rate: 0.0,
                    dividend: 0.0,
                    v0: h.v0,
                    kappa: h.kappa,
                    theta: h.theta,
                    xi: h.xi,
                    rho: h.rho,
                }
                .validate()
                .map_err(|e| bad(at("heston"), e.to_string()))?;
            }
            underlyings.insert(
                name.clone(),
                Underlying {
                    spot: u.spot,
                    currency: u.currency.clone(),
                    dividend_yield,
                    dividends,
                    vol,
                    heston: u.heston,
                },
            );
        }
        let mut correlations: Vec<(String, String, f64)> = Vec::new();
        for (i, c) in file.correlations.iter().enumerate() {
            let f = format!("correlations[{i}]");
            for (k, n) in [("a", &c.a), ("b", &c.b)] {
                if !underlyings.contains_key(n) {
                    return Err(bad(format!("{f}.{k}"), format!("{n:?} is no underlying")));
                }
            }
            if c.a == c.b {
                return Err(bad(f, "a pair needs two underlyings"));
            }
            if !(c.rho.is_finite() && (-1.0..=1.0).contains(&c.rho)) {
                return Err(bad(
                    format!("{f}.rho"),
                    format!("{} is not a correlation in [-1, 1]", c.rho),
                ));
            }
            let (a, b) = if c.a < c.b {
                (c.a.clone(), c.b.clone())
            } else {
                (c.b.clone(), c.a.clone())
            };
            if correlations.iter().any(|(x, y, _)| *x == a && *y == b) {
                return Err(bad(f, format!("the pair {a}/{b} is given twice")));
            }
            correlations.push((a, b, c.rho));
        }
        let market = Market {
            valuation_date,
            curves,
            underlyings,
            correlations,
            grids: Default::default(),
        };
        for name in market.underlyings.keys() {
            market.check_calendar(name)?;
        }
        // Every surface's local volatility, built (and checked positive
        // and finite) once, here: a surface that admits none is refused
        // with the market, whether or not a trade names it, and the grids
        // are ready for every trade on them.
        // (An underlying with cash dividends has no local volatility yet:
        // a trade on its surface is refused, `path::resolve_path`.)
        for (name, u) in &market.underlyings {
            if matches!(u.vol, Vol::Surface { .. }) && u.dividends.is_empty() {
                market.grids.get(name, [0; 3], || {
                    local_vol::LocalVolGrid::build(&market, name, u)
                })?;
            }
        }
        Ok(market)
    }

    /// The correlation of two underlyings' spots (0 where not given).
    pub fn correlation(&self, a: &str, b: &str) -> f64 {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        self.correlations
            .iter()
            .find(|(x, y, _)| x == a && y == b)
            .map_or(0.0, |c| c.2)
    }

    /// The date `t` years (Act/365F) after the valuation date, for messages.
    pub fn date_of(&self, t: f64) -> String {
        let days = (t * 365.0).round() as i64;
        (self.valuation_date + chrono::Duration::days(days)).to_string()
    }

    /// The year fraction of `text` from the valuation date, after it.
    pub fn time_of(&self, text: &str, field: &str) -> Result<f64, MarketError> {
        future(self.valuation_date, text, field)
    }

    /// An underlying's discount curve (its currency's).
    pub fn discount_curve(&self, u: &Underlying) -> &ZeroCurve {
        // Checked when the market was read.
        &self.curves[&u.currency]
    }

    /// The forward `F(t)` of an underlying: the spot less the present
    /// value of the cash dividends paid by `t`, grown at the discount
    /// curve's rate less the dividend yield's.
    pub fn forward(&self, u: &Underlying, t: f64) -> f64 {
        let r = self.discount_curve(u);
        let q = q_at(u, t);
        let cash: f64 = u
            .dividends
            .iter()
            .filter(|(te, _)| *te <= t)
            .map(|(te, d)| d * (q_at(u, *te) - r.log_discount(*te)).exp())
            .sum();
        (u.spot - cash) * (r.log_discount(t) - q).exp()
    }

    /// Total implied variance of a surface's expiry row `i` at
    /// log-forward-moneyness `y = ln(K / F(T_i))`: linear in `y` between
    /// the row's strikes, flat beyond them.
    fn row_variance(&self, u: &Underlying, i: usize, y: f64) -> f64 {
        let Vol::Surface {
            expiries,
            strikes,
            vols,
        } = &u.vol
        else {
            return 0.0;
        };
        let f = self.forward(u, expiries[i]);
        let tv = |j: usize| vols[i][j] * vols[i][j] * expiries[i];
        let y_of = |j: usize| (strikes[j] / f).ln();
        let n = strikes.len();
        if y <= y_of(0) {
            return tv(0);
        }
        if y >= y_of(n - 1) {
            return tv(n - 1);
        }
        let j = (1..n).find(|&j| y <= y_of(j)).unwrap_or(n - 1);
        let a = (y - y_of(j - 1)) / (y_of(j) - y_of(j - 1));
        tv(j - 1) * (1.0 - a) + tv(j) * a
    }

    /// The implied Black volatility of an underlying at strike `k` and
    /// time `t`: its flat vol, or on a surface, total variance read at the
    /// forward moneyness `K / F(t)` on each expiry row ([`row_variance`]),
    /// linear in time between expiries, at the first (last) expiry's
    /// volatility before (after) them.
    ///
    /// [`row_variance`]: Market::row_variance
    pub fn implied_vol(&self, u: &Underlying, k: f64, t: f64) -> f64 {
        let expiries = match &u.vol {
            Vol::Flat(v) => return *v,
            Vol::Surface { expiries, .. } => expiries,
        };
        let y = (k / self.forward(u, t)).ln();
        let n = expiries.len();
        let w = if t <= expiries[0] {
            self.row_variance(u, 0, y) * t / expiries[0]
        } else if t >= expiries[n - 1] {
            self.row_variance(u, n - 1, y) * t / expiries[n - 1]
        } else {
            let i = (1..n).find(|&i| t <= expiries[i]).unwrap_or(n - 1);
            let a = (t - expiries[i - 1]) / (expiries[i] - expiries[i - 1]);
            self.row_variance(u, i - 1, y) * (1.0 - a) + self.row_variance(u, i, y) * a
        };
        (w / t).sqrt()
    }

    /// Total implied variance on a surface is non-decreasing in expiry at
    /// every pillar's forward moneyness `K / F(T)` (read on each other
    /// expiry by linear interpolation of total variance in log-moneyness,
    /// flat beyond the strikes): else calendar arbitrage, naming the
    /// expiry and strike.
    fn check_calendar(&self, name: &str) -> Result<(), MarketError> {
        let u = &self.underlyings[name];
        let Vol::Surface {
            expiries, strikes, ..
        } = &u.vol
        else {
            return Ok(());
        };
        let w = |i: usize, y: f64| self.row_variance(u, i, y);
        for i in 1..expiries.len() {
            let f = self.forward(u, expiries[i]);
            for (j, k) in strikes.iter().enumerate() {
                let y = (k / f).ln();
                let (earlier, here) = (w(i - 1, y), w(i, y));
                if here < earlier * (1.0 - 1e-12) {
                    return Err(bad(
                        format!("underlyings.{name}.vol.vols[{i}][{j}]"),
                        format!(
                            "calendar arbitrage: total variance {here:.6} at expiry {} (strike {k}, forward moneyness {:.4}) is below {earlier:.6} at the expiry before",
                            i, k / f
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `-ln` of the dividend-yield discount to `t` (0 without a curve).
fn q_at(u: &Underlying, t: f64) -> f64 {
    u.dividend_yield
        .as_ref()
        .map_or(0.0, |c| c.log_discount(t.max(0.0)))
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = keys.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn finite_positive(field: &str, x: f64) -> Result<(), MarketError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(bad(field, format!("{x} is not a finite number > 0")))
    }
}

/// The year fraction of a date after the valuation date.
fn future(valuation: Date, text: &str, field: &str) -> Result<f64, MarketError> {
    let d = date::parse(text).map_err(|m| bad(field, m))?;
    if d <= valuation {
        return Err(bad(
            field,
            format!("{d} is not after the valuation date {valuation}"),
        ));
    }
    Ok(date::year_fraction(valuation, d))
}

fn curve_of(valuation: Date, c: &CurveFile, field: &str) -> Result<ZeroCurve, MarketError> {
    if c.dates.is_empty() || c.dates.len() != c.zero_rates.len() {
        return Err(bad(
            field,
            format!(
                "{} dates and {} zero_rates: give as many of each, at least one",
                c.dates.len(),
                c.zero_rates.len()
            ),
        ));
    }
    let mut times: Vec<f64> = Vec::with_capacity(c.dates.len());
    for (i, d) in c.dates.iter().enumerate() {
        let t = future(valuation, d, &format!("{field}.dates[{i}]"))?;
        if times.last().is_some_and(|&p| t <= p) {
            return Err(bad(
                format!("{field}.dates[{i}]"),
                "dates must be in increasing order, each once",
            ));
        }
        times.push(t);
    }
    for (i, r) in c.zero_rates.iter().enumerate() {
        if !(r.is_finite() && r.abs() <= MAX_RATE) {
            return Err(bad(
                format!("{field}.zero_rates[{i}]"),
                format!("{r} is not a zero rate in [-{MAX_RATE}, {MAX_RATE}]"),
            ));
        }
    }
    Ok(ZeroCurve::new(times, c.zero_rates.clone()))
}

fn surface_of(
    valuation: Date,
    expiries: &[String],
    strikes: &[f64],
    vols: &[Vec<f64>],
    field: &str,
) -> Result<Vol, MarketError> {
    if expiries.is_empty() || strikes.is_empty() {
        return Err(bad(
            field,
            "a surface needs at least one expiry and one strike",
        ));
    }
    let mut times: Vec<f64> = Vec::with_capacity(expiries.len());
    for (i, d) in expiries.iter().enumerate() {
        let t = future(valuation, d, &format!("{field}.expiries[{i}]"))?;
        if times.last().is_some_and(|&p| t <= p) {
            return Err(bad(
                format!("{field}.expiries[{i}]"),
                "expiries must be in increasing order, each once",
            ));
        }
        times.push(t);
    }
    for (j, k) in strikes.iter().enumerate() {
        finite_positive(&format!("{field}.strikes[{j}]"), *k)?;
        if j > 0 && *k <= strikes[j - 1] {
            return Err(bad(
                format!("{field}.strikes[{j}]"),
                "strikes must be in increasing order, each once",
            ));
        }
    }
    if vols.len() != expiries.len() {
        return Err(bad(
            format!("{field}.vols"),
            format!(
                "{} rows for {} expiries: one row per expiry",
                vols.len(),
                expiries.len()
            ),
        ));
    }
    for (i, row) in vols.iter().enumerate() {
        if row.len() != strikes.len() {
            return Err(bad(
                format!("{field}.vols[{i}]"),
                format!(
                    "{} vols for {} strikes: one per strike",
                    row.len(),
                    strikes.len()
                ),
            ));
        }
        for (j, v) in row.iter().enumerate() {
            finite_positive(&format!("{field}.vols[{i}][{j}]"), *v)?;
        }
    }
    Ok(Vol::Surface {
        expiries: times,
        strikes: strikes.to_vec(),
        vols: vols.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's example market, cash dividend left out where a
    /// surface is given.
    pub(crate) const EXAMPLE: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04", "2031-12-04"], "zero_rates": [0.041, 0.038, 0.035]}},
 "underlyings": {
   "SPX": {"spot": 6000, "currency": "USD",
           "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.013]},
           "vol": {"expiries": ["2027-03-04", "2027-12-04"], "strikes": [4800, 6000, 7200],
                   "vols": [[0.24, 0.19, 0.16], [0.23, 0.20, 0.175]]},
           "heston": {"v0": 0.04, "kappa": 1.5, "theta": 0.045, "xi": 0.5, "rho": -0.7}},
   "EURUSD": {"spot": 1.08, "currency": "USD", "vol": {"flat": 0.08},
              "dividends": [{"ex_date": "2027-03-19", "amount": 0.01}]}},
 "correlations": [{"a": "SPX", "b": "EURUSD", "rho": -0.2}]}"#;

    fn edited(from: &str, to: &str) -> Result<Market, MarketError> {
        assert!(EXAMPLE.contains(from), "{from}");
        Market::from_json(&EXAMPLE.replacen(from, to, 1))
    }

    #[test]
    fn the_example_reads() {
        let m = Market::from_json(EXAMPLE).unwrap();
        assert_eq!(m.underlyings.len(), 2);
        assert_eq!(m.correlations, vec![("EURUSD".into(), "SPX".into(), -0.2)]);
        let spx = &m.underlyings["SPX"];
        // F(1y) = S DFq / DF: 6000 e^{0.038 - 0.013}.
        let f = m.forward(spx, 1.0);
        assert!((f - 6000.0 * (0.025f64).exp()).abs() < 1e-9, "{f}");
    }

    #[test]
    fn every_rule_names_its_field() {
        let cases = [
            (
                r#""valuation_date": "2026-12-04""#,
                r#""valuation_date": "2026-12-4""#,
                "valuation_date",
            ),
            (
                r#""2027-03-04", "2027-12-04", "2031-12-04""#,
                r#""2027-12-04", "2027-03-04", "2031-12-04""#,
                "curves.USD.dates[1]",
            ),
            (
                r#""zero_rates": [0.041, 0.038, 0.035]"#,
                r#""zero_rates": [0.041, 0.038]"#,
                "curves.USD",
            ),
            (
                r#""zero_rates": [0.041, 0.038, 0.035]"#,
                r#""zero_rates": [0.041, 3.8, 0.035]"#,
                "curves.USD.zero_rates[1]",
            ),
            (
                r#""2027-03-04", "2027-12-04", "2031-12-04""#,
                r#""2026-12-04", "2027-12-04", "2031-12-04""#,
                "curves.USD.dates[0]",
            ),
            (
                r#""spot": 6000"#,
                r#""spot": -6000"#,
                "underlyings.SPX.spot",
            ),
            (
                r#""spot": 1.08, "currency": "USD""#,
                r#""spot": 1.08, "currency": "EUR""#,
                "underlyings.EURUSD.currency",
            ),
            (
                r#""vols": [[0.24, 0.19, 0.16], [0.23, 0.20, 0.175]]"#,
                r#""vols": [[0.24, 0.19, 0.16], [0.23, 0.20]]"#,
                "underlyings.SPX.vol.vols[1]",
            ),
            (
                r#""vols": [[0.24, 0.19, 0.16], [0.23, 0.20, 0.175]]"#,
                r#""vols": [[0.24, 0.19, 0.16], [0.23, 0.0, 0.175]]"#,
                "underlyings.SPX.vol.vols[1][1]",
            ),
            (
                r#""strikes": [4800, 6000, 7200]"#,
                r#""strikes": [4800, 4800, 7200]"#,
                "underlyings.SPX.vol.strikes[1]",
            ),
            // Total variance at the 1y expiry below the 3m one's.
            (
                r#""vols": [[0.24, 0.19, 0.16], [0.23, 0.20, 0.175]]"#,
                r#""vols": [[0.24, 0.19, 0.16], [0.23, 0.09, 0.175]]"#,
                "underlyings.SPX.vol.vols[1][1]",
            ),
            (
                r#""amount": 0.01"#,
                r#""amount": -0.01"#,
                "underlyings.EURUSD.dividends[0].amount",
            ),
            (
                r#""ex_date": "2027-03-19""#,
                r#""ex_date": "2026-03-19""#,
                "underlyings.EURUSD.dividends[0].ex_date",
            ),
            (r#""xi": 0.5"#, r#""xi": -0.5"#, "underlyings.SPX.heston"),
            (
                r#""b": "EURUSD", "rho": -0.2"#,
                r#""b": "EURUSD", "rho": -1.2"#,
                "correlations[0].rho",
            ),
            (r#""b": "EURUSD""#, r#""b": "GBP""#, "correlations[0].b"),
            (r#""b": "EURUSD""#, r#""b": "SPX""#, "correlations[0]"),
            (
                r#""vol": {"flat": 0.08}"#,
                r#""vol": {"flat": 0.08}, "colour": 1"#,
                "line 9",
            ),
        ];
        for (from, to, field) in cases {
            let e = edited(from, to).expect_err(to);
            assert!(e.field.starts_with(field), "{to}: {e}");
        }
    }

    /// The issue's own market: cash dividends beside a surface are read
    /// (a trade on that surface is refused, `path::resolve_path`; a
    /// `heston` trade takes them).
    #[test]
    fn cash_dividends_beside_a_surface_are_read() {
        let text = EXAMPLE.replacen(
            r#""heston": {"#,
            r#""dividends": [{"ex_date": "2027-03-19", "amount": 18.5}], "heston": {"#,
            1,
        );
        let m = Market::from_json(&text).unwrap();
        assert_eq!(m.underlyings["SPX"].dividends.len(), 1);
    }
}
