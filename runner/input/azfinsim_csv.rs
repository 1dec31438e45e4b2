//! azfinsim's trade CSV (docs/azfinsim.md): a fixed header and fourteen
//! plain fields per row.

use std::path::Path;

use riskpool_kernels::azfinsim::{AzfinsimTrade, HEADER};
use riskpool_kernels::Trade;

use super::{error_at, InputError};

pub fn check_header(path: &Path, line: &str) -> Result<(), InputError> {
    let got: Vec<&str> = line.split(',').map(str::trim).collect();
    if got != HEADER {
        let detail = match got.iter().zip(HEADER.iter()).position(|(g, w)| g != w) {
            Some(i) => format!("column {} is `{}`, expected `{}`", i + 1, got[i], HEADER[i]),
            None => format!("{} columns, expected {}", got.len(), HEADER.len()),
        };
        return Err(error_at(
            path,
            1,
            None,
            format!(
                "wrong azfinsim header ({detail}); expected `{}`",
                HEADER.join(",")
            ),
        ));
    }
    Ok(())
}

pub fn parse_row(path: &Path, line: u64, text: &str) -> Result<Trade, InputError> {
    // Fields into a fixed array: a million-row file parses without a
    // vector per row.
    let mut f = [""; HEADER.len()];
    let mut n = 0;
    let mut raw_tradenum = "";
    for field in text.split(',') {
        if n == 0 {
            raw_tradenum = field;
        }
        if let Some(slot) = f.get_mut(n) {
            *slot = field.trim();
        }
        n += 1;
    }
    if n != HEADER.len() {
        let what = if n < HEADER.len() {
            "truncated line"
        } else {
            "too many fields"
        };
        return Err(error_at(
            path,
            line,
            None,
            format!(
                "{what}: {} fields, expected {} ({})",
                n,
                HEADER.len(),
                HEADER.join(",")
            ),
        ));
    }
    let num = |i: usize| -> Result<f64, InputError> {
        f[i].parse::<f64>().map_err(|_| {
            error_at(
                path,
                line,
                Some(HEADER[i]),
                format!("not a number: `{}`", f[i]),
            )
        })
    };
    let int = |i: usize| -> Result<u64, InputError> {
        f[i].parse::<u64>().map_err(|_| {
            error_at(
                path,
                line,
                Some(HEADER[i]),
                format!("not a non-negative integer: `{}`", f[i]),
            )
        })
    };
    let t_steps = int(6)?;
    let t = AzfinsimTrade {
        tradenum: super::parse_tradenum(raw_tradenum).ok_or_else(|| {
            error_at(
                path,
                line,
                Some(HEADER[0]),
                format!("not a trade number (digits only, no sign or spaces): `{raw_tradenum}`"),
            )
        })?,
        fx1: num(1)?,
        start_date: f[2].to_string(),
        end_date: f[3].to_string(),
        drift: num(4)?,
        maturity: num(5)?,
        t_steps: u32::try_from(t_steps)
            .map_err(|_| error_at(path, line, Some("t_steps"), format!("too large: {t_steps}")))?,
        trials: int(7)?,
        ro: num(8)?,
        v: num(9)?,
        sigma1: num(10)?,
        warrants_no: num(11)?,
        notional_per_warr: num(12)?,
        strike: num(13)?,
    };
    Ok(t.to_trade())
}
