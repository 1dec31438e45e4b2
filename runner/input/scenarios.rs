//! Scenario files (docs/formats.md, "Scenario files"): CSV with the header
//! `scenario,underlying,spot,vol,rate`, one row per scenario and underlying
//! it moves.
//!
//! `spot` is a relative shift, `vol` and `rate` absolute shifts; an empty
//! cell is no move of that part (0). Scenarios are numbered in the order
//! they first appear. Every error names the file, the line and the field.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use riskpool_kernels::scenario::MarketMove;

use super::{error_at, file_error, InputError};

/// The header a scenario file must have, in this order.
pub const HEADER: [&str; 5] = ["scenario", "underlying", "spot", "vol", "rate"];

/// A scenario file, read and checked.
#[derive(Clone, Debug)]
pub struct Scenarios {
    pub path: PathBuf,
    /// Scenario names, in order of first appearance.
    pub names: Vec<String>,
    /// Per underlying: its move in each scenario (`MarketMove::default()`
    /// where the file has no row), and the line of each row (0 for none).
    pub moves: HashMap<String, Moves>,
    /// The xxh3 of the file's bytes, as 16 hex digits.
    pub hash: String,
}

/// One underlying's moves, indexed by scenario.
#[derive(Clone, Debug)]
pub struct Moves {
    pub by_scenario: Vec<MarketMove>,
    /// The file line of each scenario's row, 0 where there is none.
    pub lines: Vec<u64>,
}

impl Scenarios {
    /// The move of `underlying` in scenario `s` (no move when the file has
    /// no row for it), and the line of that row (0 for none).
    pub fn get(&self, underlying: &str, s: usize) -> (MarketMove, u64) {
        self.moves
            .get(underlying)
            .map_or((MarketMove::default(), 0), |m| {
                (m.by_scenario[s], m.lines[s])
            })
    }
}

/// Reads and checks the scenario file at `path`.
pub fn read(path: &Path) -> Result<Scenarios, InputError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| file_error(path, format!("not UTF-8 text: {e}")))?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(file_error(path, "the file is empty: no scenarios"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let line_of = |r: &csv::StringRecord| r.position().map_or(1, |p| p.line());
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(csv_error(path, e)),
        None => return Err(file_error(path, "the file is empty: no scenarios")),
    };
    let got: Vec<&str> = header.iter().map(str::trim).collect();
    if got != HEADER {
        return Err(error_at(
            path,
            line_of(&header),
            None,
            format!(
                "wrong header `{}`; expected `{}`",
                got.join(","),
                HEADER.join(",")
            ),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // (scenario, underlying, move, line), in file order.
    let mut rows: Vec<(usize, String, MarketMove, u64)> = Vec::new();
    let mut seen: HashMap<(usize, String), u64> = HashMap::new();
    for record in records {
        let r = record.map_err(|e| csv_error(path, e))?;
        let line = line_of(&r);
        if r.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if r.len() != HEADER.len() {
            return Err(error_at(
                path,
                line,
                None,
                format!(
                    "{} fields, expected {} ({})",
                    r.len(),
                    HEADER.len(),
                    HEADER.join(",")
                ),
            ));
        }
        let name = |i: usize| -> Result<String, InputError> {
            let v = r[i].trim();
            if v.is_empty() {
                Err(error_at(path, line, Some(HEADER[i]), "must not be empty"))
            } else {
                Ok(v.to_string())
            }
        };
        let num = |i: usize| -> Result<f64, InputError> {
            let v = r[i].trim();
            if v.is_empty() {
                return Ok(0.0);
            }
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                Ok(_) => Err(error_at(
                    path,
                    line,
                    Some(HEADER[i]),
                    format!("not a finite number: `{v}`"),
                )),
                Err(_) => Err(error_at(
                    path,
                    line,
                    Some(HEADER[i]),
                    format!("not a number: `{v}`"),
                )),
            }
        };
        let scenario = name(0)?;
        let underlying = name(1)?;
        let mv = MarketMove {
            spot: num(2)?,
            vol: num(3)?,
            rate: num(4)?,
        };
        if mv.spot <= -1.0 {
            return Err(error_at(
                path,
                line,
                Some("spot"),
                format!(
                    "a relative shift of {} takes every spot to {} or below; it must stay above 0",
                    mv.spot,
                    1.0 + mv.spot
                ),
            ));
        }
        let s = *index.entry(scenario.clone()).or_insert_with(|| {
            names.push(scenario.clone());
            names.len() - 1
        });
        if let Some(first) = seen.insert((s, underlying.clone()), line) {
            return Err(error_at(
                path,
                line,
                Some("underlying"),
                format!("scenario `{scenario}` moves `{underlying}` twice (first on line {first})"),
            ));
        }
        rows.push((s, underlying, mv, line));
    }
    if names.is_empty() {
        return Err(error_at(
            path,
            1,
            None,
            "no scenarios: the file has only its header",
        ));
    }
    let n = names.len();
    let mut moves: HashMap<String, Moves> = HashMap::new();
    for (s, underlying, mv, line) in rows {
        let m = moves.entry(underlying).or_insert_with(|| Moves {
            by_scenario: vec![MarketMove::default(); n],
            lines: vec![0; n],
        });
        m.by_scenario[s] = mv;
        m.lines[s] = line;
    }
    Ok(Scenarios {
        path: path.to_path_buf(),
        names,
        moves,
        hash,
    })
}

fn csv_error(path: &Path, e: csv::Error) -> InputError {
    let line = e.position().map_or(1, |p| p.line());
    error_at(path, line, None, format!("bad CSV: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Scenarios, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        std::fs::write(&p, text).unwrap();
        read(&p)
    }

    #[test]
    fn reads_moves_in_order_of_first_appearance() {
        let s = read_text(
            "scenario,underlying,spot,vol,rate\nb,SPX,-0.05,,\na,SPX,,0.02,0.01\nb,EUR,0.1,0,0\n",
        )
        .unwrap();
        assert_eq!(s.names, ["b", "a"]);
        let (m, line) = s.get("SPX", 1);
        assert_eq!((m.spot, m.vol, m.rate, line), (0.0, 0.02, 0.01, 3));
        assert_eq!(s.get("SPX", 0).0.spot, -0.05);
        // No row: no move.
        assert!(s.get("EUR", 1).0.is_none());
        assert!(s.get("JPY", 0).0.is_none());
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            ("", None, None, "empty"),
            (
                "scenario,underlying,spot,vol,rate\n",
                Some(1),
                None,
                "only its header",
            ),
            (
                "scenario,underlying,spot,vol\n",
                Some(1),
                None,
                "wrong header",
            ),
            (
                "scenario,underlying,spot,vol,rate\na,X,abc,,\n",
                Some(2),
                Some("spot"),
                "not a number",
            ),
            (
                "scenario,underlying,spot,vol,rate\na,X,,NaN,\n",
                Some(2),
                Some("vol"),
                "finite",
            ),
            (
                "scenario,underlying,spot,vol,rate\na,X,,,inf\n",
                Some(2),
                Some("rate"),
                "finite",
            ),
            (
                "scenario,underlying,spot,vol,rate\na,X,1,,\nb,X,,,\na,X,,,\n",
                Some(4),
                Some("underlying"),
                "line 2",
            ),
            (
                "scenario,underlying,spot,vol,rate\n,X,1,,\n",
                Some(2),
                Some("scenario"),
                "empty",
            ),
            (
                "scenario,underlying,spot,vol,rate\na,X,-1,,\n",
                Some(2),
                Some("spot"),
                "above 0",
            ),
            (
                "scenario,underlying,spot,vol,rate\na,X,1\n",
                Some(2),
                None,
                "fields",
            ),
        ];
        for (text, line, field, want) in cases {
            let e = read_text(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert_eq!(e.field.as_deref(), field, "{text:?}: {e}");
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
    }
}
