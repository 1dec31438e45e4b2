//! azfinsim's trades (docs/azfinsim.md): the CSV record, its mapping to a
//! riskpool [`Trade`] (`sv_fx` model, `fx_warrant` payoff), and a seeded
//! generator with azfinsim's distributions.

use crate::instrument::Trade;
use crate::model::{ModelSpec, SvFx};
use crate::payoff::{FxWarrant, PayoffSpec};
use rand::distr::{Distribution, Uniform};

use crate::rng::PhiloxRng;

/// The header of an azfinsim trade file, column for column.
pub const HEADER: [&str; 14] = [
    "tradenum",
    "fx1",
    "start_date",
    "end_date",
    "drift",
    "maturity",
    "t_steps",
    "trials",
    "ro",
    "v",
    "sigma1",
    "warrantsNo",
    "notionalPerWarr",
    "strike",
];

/// One row of an azfinsim trade file.
#[derive(Clone, Debug, PartialEq)]
pub struct AzfinsimTrade {
    pub tradenum: u64,
    pub fx1: f64,
    pub start_date: String,
    pub end_date: String,
    pub drift: f64,
    pub maturity: f64,
    pub t_steps: u32,
    pub trials: u64,
    pub ro: f64,
    pub v: f64,
    pub sigma1: f64,
    pub warrants_no: f64,
    pub notional_per_warr: f64,
    pub strike: f64,
}

/// The azfinsim column that a riskpool trade field comes from, so errors
/// name what the user wrote.
pub fn column_of(field: &str) -> &str {
    match field {
        "model.spot" => "fx1",
        "model.drift" => "drift",
        "model.sigma" => "sigma1",
        "model.volvol" => "v",
        "model.rho" => "ro",
        "payoff.strike" => "strike",
        "payoff.warrants" => "warrantsNo",
        "payoff.notional_per_warrant" => "notionalPerWarr",
        "steps" => "t_steps",
        "paths" => "trials",
        other => other,
    }
}

impl AzfinsimTrade {
    /// The riskpool trade: stream id = `tradenum`.
    pub fn to_trade(&self) -> Trade {
        Trade {
            rng: None,
            id: self.tradenum.to_string(),
            stream: self.tradenum,
            model: ModelSpec::SvFx(SvFx {
                spot: self.fx1,
                drift: self.drift,
                sigma: self.sigma1,
                volvol: self.v,
                rho: self.ro,
            }),
            payoff: PayoffSpec::FxWarrant(FxWarrant {
                strike: self.strike,
                warrants: self.warrants_no,
                notional_per_warrant: self.notional_per_warr,
            }),
            maturity: self.maturity,
            steps: self.t_steps,
            paths: self.trials,
            extension: None,
            dated: None,
        }
    }

    /// The CSV row (no newline), floats in shortest round-trip form.
    pub fn to_csv_row(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.tradenum,
            self.fx1,
            self.start_date,
            self.end_date,
            self.drift,
            self.maturity,
            self.t_steps,
            self.trials,
            self.ro,
            self.v,
            self.sigma1,
            self.warrants_no,
            self.notional_per_warr,
            self.strike
        )
    }

    /// Trade `tradenum` of the generator seeded with `seed`, with azfinsim's
    /// distributions. Each trade depends only on `(seed, tradenum)`, so any
    /// range can be generated independently (`--start-trade`).
    pub fn generate(seed: u64, tradenum: u64) -> AzfinsimTrade {
        // The trade's own Philox stream under a key of its own, so generated
        // terms never share draws with pricing, and any shard or window
        // generates the same trade: counter (draw, "trad", tradenum).
        let mut rng = PhiloxRng::for_path(seed ^ 0x6765_6e65_7261_7465, tradenum, 0x7472_6164);
        // azfinsim's distributions: uniform on each range.
        let mut uniform = |lo: f64, hi: f64| -> f64 {
            // The ranges are constants, low below high: never an error.
            Uniform::new(lo, hi).map_or(lo, |d| d.sample(&mut rng))
        };
        let fx1 = uniform(0.8285, 0.9485);
        let drift = uniform(-0.1, 0.1);
        let sigma1 = 0.0808844481978 + uniform(-0.015, 0.015);
        let warrants = uniform(30_000.0, 60_000.0).floor().min(59_999.0);
        let notional = uniform(950.0, 1050.0);
        let strike = uniform(0.70, 0.82);
        AzfinsimTrade {
            tradenum,
            fx1,
            start_date: "2017-12-29".into(),
            end_date: "2018-08-28".into(),
            drift,
            maturity: 0.2,
            t_steps: 172,
            trials: 10_000,
            ro: 3.8413221829e-05,
            v: 0.00154807378604,
            sigma1,
            warrants_no: warrants,
            notional_per_warr: notional,
            strike,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_trades_follow_azfinsim_ranges() {
        for n in 0..5000 {
            let t = AzfinsimTrade::generate(1, n);
            assert!((0.8285..0.9485).contains(&t.fx1));
            assert!((-0.1..0.1).contains(&t.drift));
            assert!((0.0808844481978 - 0.015..0.0808844481978 + 0.015).contains(&t.sigma1));
            assert!((30_000.0..60_000.0).contains(&t.warrants_no) && t.warrants_no.fract() == 0.0);
            assert!((950.0..1050.0).contains(&t.notional_per_warr));
            assert!((0.70..0.82).contains(&t.strike));
            t.to_trade().validate().expect("generated trades are valid");
        }
        assert_eq!(AzfinsimTrade::generate(1, 7), AzfinsimTrade::generate(1, 7));
        assert_ne!(AzfinsimTrade::generate(1, 7), AzfinsimTrade::generate(2, 7));
    }
}
