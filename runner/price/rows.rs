//! What a `price` journal holds (the protocol is `journal`'s): its header,
//! and which rows of an interrupted run a rerun keeps. A row is kept when
//! it is the input's trade at that place (id and steps), written by this
//! run's engine and device, its numbers finite, and its bytes exactly what
//! the writer writes for the cells it holds (parsed with the `csv` crate or
//! `serde_json`, written again with `output`'s own encoders).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::check::Checked;
use crate::durable::{partial_path, summary_path, sync_dir, tmp_path, Signature};
use crate::input::{ReadTrade, TradeReader};
use crate::journal::{Header, Record, Rows};
use crate::output::{encode_json, Cell, Col, CsvEncoder, Kind, Layout};

/// The first line of a `price` journal.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceHeader {
    /// Marks the file and its version.
    pub riskpool_price_journal: u32,
    pub engine: String,
    pub device: String,
    pub signature: Value,
}

impl PriceHeader {
    pub fn new(sig: &Signature, engine: &str, device: &str) -> PriceHeader {
        PriceHeader {
            riskpool_price_journal: 1,
            engine: engine.into(),
            device: device.into(),
            signature: sig.0.clone(),
        }
    }
}

impl Header for PriceHeader {
    fn engine(&self) -> (&str, &str) {
        (&self.engine, &self.device)
    }
}

/// Checks an earlier run's rows against the input's trades, in order: a
/// row kept takes its trade from the reader, which then goes on with the
/// first trade to price.
pub struct PriceRows<'a> {
    kind: Kind,
    schema: Vec<(String, Col)>,
    engine: (&'a str, &'a str),
    reader: &'a mut TradeReader,
    checked: &'a Checked,
    kept: u64,
    csv: CsvEncoder,
}

impl<'a> PriceRows<'a> {
    pub fn new(
        kind: Kind,
        layout: &Layout,
        engine: (&'a str, &'a str),
        reader: &'a mut TradeReader,
        checked: &'a Checked,
    ) -> PriceRows<'a> {
        PriceRows {
            kind,
            schema: layout.schema(),
            engine,
            reader,
            checked,
            kept: 0,
            csv: CsvEncoder::default(),
        }
    }

    /// Whether `cells` are this run's row for the input's next trade; if
    /// so the trade is taken.
    fn matches(&mut self, cells: Vec<Cell>) -> bool {
        let mut id = None;
        let mut steps = None;
        for ((name, col), cell) in self.schema.iter().zip(cells) {
            match (col, cell) {
                (Col::Id, Cell::Text(s)) => id = Some(s),
                (Col::Count, Cell::Count(n)) if name == "steps" => steps = Some(n),
                // Rows of another engine (one a fallback took over) are not kept.
                (Col::Text, Cell::Text(s)) if name == "engine" && s != self.engine.0 => {
                    return false
                }
                (Col::Text, Cell::Text(s)) if name == "device" && s != self.engine.1 => {
                    return false
                }
                _ => {}
            }
        }
        let Some(id) = id else { return false };
        let (checked, index) = (self.checked, self.kept);
        let is_next = |t: &ReadTrade| {
            t.trade.id == id
                && steps.map_or(true, |s| s == t.trade.steps as u64)
                && checked.same_text(index, t)
        };
        match self.reader.peek() {
            Some(Ok(t)) if is_next(t) => {
                self.reader.next();
                self.kept += 1;
                true
            }
            _ => false,
        }
    }
}

impl Rows for PriceRows<'_> {
    fn csv(&self) -> bool {
        self.kind == Kind::Csv
    }

    fn keep(&mut self, record: Record<'_>) -> bool {
        let cells = match record {
            Record::Csv { fields, raw } => {
                if fields.len() != self.schema.len() {
                    return false;
                }
                let Some(cells) = self
                    .schema
                    .iter()
                    .zip(fields.iter())
                    .map(|((_, col), f)| csv_cell(*col, f))
                    .collect::<Option<Vec<_>>>()
                else {
                    return false;
                };
                if !self
                    .csv
                    .encode(fields.iter())
                    .is_ok_and(|again| again == raw)
                {
                    return false;
                }
                cells
            }
            Record::Line(raw) => {
                let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(raw) else {
                    return false;
                };
                if o.len() != self.schema.len() {
                    return false;
                }
                let Some(cells) = self
                    .schema
                    .iter()
                    .map(|(name, col)| json_cell(*col, o.get(name)?))
                    .collect::<Option<Vec<_>>>()
                else {
                    return false;
                };
                if encode_json(&self.schema, &cells) != raw {
                    return false;
                }
                cells
            }
        };
        self.matches(cells)
    }
}

/// A field's cell if it is what column kind `col` holds, written as the
/// writer writes it.
fn csv_cell(col: Col, field: &[u8]) -> Option<Cell> {
    let text = std::str::from_utf8(field).ok()?;
    let num = || {
        let x: f64 = text.parse().ok()?;
        (x.is_finite() && format!("{x}") == text).then_some(Cell::Num(x))
    };
    match col {
        Col::Id | Col::Text => Some(Cell::Text(text.to_string())),
        Col::Value | Col::Seconds => num(),
        Col::Stderr | Col::Optional if text.is_empty() => Some(Cell::Missing),
        Col::Stderr | Col::Optional => num(),
        Col::Count => {
            let n: u64 = text.parse().ok()?;
            (n.to_string() == text).then_some(Cell::Count(n))
        }
    }
}

fn json_cell(col: Col, v: &Value) -> Option<Cell> {
    match (col, v) {
        (Col::Id | Col::Text, Value::String(s)) => Some(Cell::Text(s.clone())),
        (Col::Stderr | Col::Optional, Value::Null) => Some(Cell::Missing),
        (Col::Value | Col::Stderr | Col::Optional | Col::Seconds, Value::Number(n))
            if n.is_f64() =>
        {
            n.as_f64().filter(|x| x.is_finite()).map(Cell::Num)
        }
        (Col::Count, Value::Number(n)) => n.as_u64().map(Cell::Count),
        _ => None,
    }
}

/// Removes what an interrupted run left beside a complete output (its
/// journal and temporary files): called with the lock held, once the
/// output is known to be complete.
pub fn remove_leftovers(output: &Path) {
    for f in [
        partial_path(output),
        tmp_path(output),
        tmp_path(&summary_path(output)),
    ] {
        if std::fs::symlink_metadata(&f).is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(&f);
        }
    }
    sync_dir(output);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_csv_reader_ends_a_record_after_its_line_end() {
        let bytes = b"a,b\n\"x\ny\",2\n\"c\rd\",3\n";
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(&bytes[..]);
        let mut rec = csv::ByteRecord::new();
        let mut ends = vec![];
        while rdr.read_byte_record(&mut rec).unwrap() {
            ends.push(rdr.position().byte());
        }
        assert_eq!(ends, vec![4, 12, 20]);
    }
}
