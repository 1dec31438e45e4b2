//! Writing results: CSV or JSON Lines by the output file's extension, and
//! azfinsim's own result columns for azfinsim trades written to CSV.
//!
//! Rows go to the run's journal (`journal`, `<output>.partial`), made
//! durable batch by batch, and the output is rendered from it only when
//! every trade is priced, so a reader never sees half a result file; after
//! a failure or a kill the journal keeps what was finished, and a rerun
//! goes on from there.
//!
//! One definition of a row serves both directions: [`Layout::schema`] says
//! what each column holds, [`encode_csv`] and [`encode_json`] write a row,
//! and `price::rows` reads a kept row back by parsing it and writing it
//! again with the same functions, keeping it only when the bytes agree. CSV goes
//! through the `csv` crate (quotes, commas, newlines and carriage returns in
//! ids), JSON Lines through `serde_json`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use riskpool_kernels::greeks::Estimator;
use riskpool_kernels::{Greek, Trade, TradeResult};
use serde_json::json;

use crate::error::NotFinite;
use crate::journal::{Done, JournalWriter};

/// What a column holds, for writing it and for checking a kept row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    /// The trade's id (`id`, or azfinsim's `tradenum`).
    Id,
    /// A price or Greek: always a finite number.
    Value,
    /// A standard error: a finite number, or empty where it is undefined
    /// (fewer than two paths).
    Stderr,
    /// A number, or empty where the trade has none: a per-asset Greek
    /// (`delta_3`) of a trade with fewer assets, or of a one-asset trade.
    Optional,
    /// A count (paths, steps).
    Count,
    /// Free text (engine, device).
    Text,
    /// Compute seconds: differs from run to run.
    Seconds,
}

/// Which columns the rows carry.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// riskpool's columns: `id,pv,stderr,<greeks>,<greek>_stderr,`, then
    /// for CSV with multi-asset trades the per-asset Greeks
    /// `<greek>_1..<greek>_n` and their `_stderr` (delta, gamma and vega
    /// among `greeks`, `n = assets`), then `paths,steps,engine,device,seconds`.
    /// With `methods` (`--greeks-method pathwise`), `<greek>_method` after
    /// the `_stderr` columns: how each Greek was estimated.
    Standard {
        greeks: Vec<Greek>,
        assets: usize,
        methods: bool,
    },
    /// azfinsim pvonly: `tradenum,pv,pv_time,pv_stderr`.
    AzfinsimPv,
    /// azfinsim deltavega: `tradenum,delta,vega,delta_stderr,vega_stderr`.
    AzfinsimDeltaVega,
}

impl Layout {
    /// Every column's name and what it holds, in file order.
    pub fn schema(&self) -> Vec<(String, Col)> {
        let s = |v: &[(&str, Col)]| {
            v.iter()
                .map(|(c, k)| (c.to_string(), *k))
                .collect::<Vec<_>>()
        };
        match self {
            Layout::AzfinsimPv => s(&[
                ("tradenum", Col::Id),
                ("pv", Col::Value),
                ("pv_time", Col::Seconds),
                ("pv_stderr", Col::Stderr),
            ]),
            Layout::AzfinsimDeltaVega => s(&[
                ("tradenum", Col::Id),
                ("delta", Col::Value),
                ("vega", Col::Value),
                ("delta_stderr", Col::Stderr),
                ("vega_stderr", Col::Stderr),
            ]),
            Layout::Standard {
                greeks,
                assets,
                methods,
            } => {
                let mut c = s(&[("id", Col::Id), ("pv", Col::Value), ("stderr", Col::Stderr)]);
                c.extend(greeks.iter().map(|g| (g.name().to_string(), Col::Value)));
                c.extend(
                    greeks
                        .iter()
                        .map(|g| (format!("{}_stderr", g.name()), Col::Stderr)),
                );
                if *methods {
                    c.extend(
                        greeks
                            .iter()
                            .map(|g| (format!("{}_method", g.name()), Col::Text)),
                    );
                }
                let per_asset: Vec<Greek> = per_asset_greeks(greeks).collect();
                for suffix in ["", "_stderr"] {
                    for g in &per_asset {
                        c.extend(
                            (1..=*assets)
                                .map(|i| (format!("{}_{i}{suffix}", g.name()), Col::Optional)),
                        );
                    }
                }
                c.extend(s(&[
                    ("paths", Col::Count),
                    ("steps", Col::Count),
                    ("engine", Col::Text),
                    ("device", Col::Text),
                    ("seconds", Col::Seconds),
                ]));
                c
            }
        }
    }

    /// The same layout with `assets` per-asset columns for each of
    /// delta, gamma and vega asked for (riskpool's CSV layout only).
    pub fn with_assets(self, assets: usize) -> Layout {
        match self {
            Layout::Standard {
                greeks, methods, ..
            } => Layout::Standard {
                greeks,
                assets,
                methods,
            },
            other => other,
        }
    }

    pub fn columns(&self) -> Vec<String> {
        self.schema().into_iter().map(|(c, _)| c).collect()
    }
}

/// Output file kind, from the extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Csv,
    JsonLines,
}

impl Kind {
    pub fn of(path: &Path) -> Option<Kind> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Some(Kind::Csv),
            Some("jsonl") | Some("ndjson") => Some(Kind::JsonLines),
            _ => None,
        }
    }
}

/// One cell of a row, before it is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Num(f64),
    Count(u64),
    /// An undefined standard error: empty in CSV, `null` in JSON.
    Missing,
}

impl Cell {
    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(x) => format!("{x}"),
            Cell::Count(n) => n.to_string(),
            Cell::Missing => String::new(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => json!(s),
            Cell::Num(x) => json!(x),
            Cell::Count(n) => json!(n),
            Cell::Missing => serde_json::Value::Null,
        }
    }
}

/// The CSV dialect of every file riskpool writes: `,`, `"` quoting where
/// needed (commas, quotes, `\n` and `\r`), `\n` line ends.
pub fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .buffer_capacity(1 << 12)
        .from_writer(w)
}

/// The buffer a [`CsvEncoder`]'s writer appends to.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Turns records into the bytes the writer writes, reusing its buffers
/// (a `csv::Writer` a row would cost an allocation of its buffer each).
pub struct CsvEncoder {
    w: csv::Writer<Shared>,
    buf: Shared,
    out: Vec<u8>,
}

impl Default for CsvEncoder {
    fn default() -> Self {
        let buf = Shared::default();
        CsvEncoder {
            w: csv_writer(buf.clone()),
            buf,
            out: Vec::new(),
        }
    }
}

impl CsvEncoder {
    /// The bytes of one CSV record, line end included.
    pub fn encode<I, S>(&mut self, fields: I) -> Result<&[u8]>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.buf.lock().clear();
        self.w.write_record(fields)?;
        self.w.flush()?;
        self.out.clear();
        self.out.extend_from_slice(&self.buf.lock());
        Ok(&self.out)
    }
}

/// The bytes of one CSV record, line end included.
pub fn encode_csv<I, S>(fields: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    Ok(CsvEncoder::default().encode(fields)?.to_vec())
}

/// The bytes of one JSON Lines record (keys in sorted order), line end
/// included.
pub fn encode_json(schema: &[(String, Col)], cells: &[Cell]) -> Vec<u8> {
    let o: serde_json::Map<String, serde_json::Value> = schema
        .iter()
        .zip(cells)
        .map(|((name, _), c)| (name.clone(), c.json()))
        .collect();
    let mut line = serde_json::Value::Object(o).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// A multi-asset trade's row: `delta`, `gamma` and `vega` (and their
/// `_stderr`) are arrays, one entry per asset (docs/formats.md).
pub fn encode_json_per_asset(
    schema: &[(String, Col)],
    cells: &[Cell],
    r: &riskpool_kernels::TradeResult,
) -> Vec<u8> {
    let mut o: serde_json::Map<String, serde_json::Value> = schema
        .iter()
        .zip(cells)
        .map(|((name, _), c)| (name.clone(), c.json()))
        .collect();
    for g in [Greek::Delta, Greek::Gamma, Greek::Vega] {
        if !o.contains_key(g.name()) {
            continue;
        }
        let per: Vec<_> = r.per_asset.iter().map(|a| a.greek(g)).collect();
        let num = |x: f64| {
            if x.is_finite() {
                json!(x)
            } else {
                serde_json::Value::Null
            }
        };
        let values = per
            .iter()
            .map(|e| e.map_or(serde_json::Value::Null, |e| num(e.value)));
        let errors = per
            .iter()
            .map(|e| e.map_or(serde_json::Value::Null, |e| num(e.stderr)));
        o.insert(g.name().to_string(), values.collect());
        o.insert(format!("{}_stderr", g.name()), errors.collect());
    }
    let mut line = serde_json::Value::Object(o).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// Where and how results are written.
pub struct ResultWriter {
    out: JournalWriter,
    kind: Kind,
    layout: Layout,
    schema: Vec<(String, Col)>,
    engine: String,
    device: String,
    csv: CsvEncoder,
    /// The Greeks every row must carry.
    greeks: Vec<Greek>,
}

/// Why a result may not be written: a value that is not a finite number.
/// `None` when every value is fine.
/// The Greeks among `greeks` that multi-asset trades carry per asset
/// (delta, gamma, vega; rho is one number), in the order asked.
pub fn per_asset_greeks(greeks: &[Greek]) -> impl Iterator<Item = Greek> + '_ {
    greeks.iter().copied().filter(|g| *g != Greek::Rho)
}

pub fn not_finite(r: &TradeResult, greeks: &[Greek]) -> Option<String> {
    let mut bad = Vec::new();
    let mut look = |name: &str, e: riskpool_kernels::Estimate| {
        if let Some(why) = NotFinite::check(&e, r.paths) {
            bad.push(format!("{name} {why}"));
        }
    };
    look("pv", r.pv);
    let mut missing = Vec::new();
    for g in greeks {
        match r.greek(*g) {
            Some(e) => look(g.name(), e),
            None => missing.push(format!("{} missing", g.name())),
        }
    }
    for (i, a) in r.per_asset.iter().enumerate() {
        for g in per_asset_greeks(greeks) {
            if let Some(e) = a.greek(g) {
                look(&format!("{}_{}", g.name(), i + 1), e);
            }
        }
    }
    bad.extend(missing);
    (!bad.is_empty()).then(|| bad.join(", "))
}

impl ResultWriter {
    /// Writes rows to `journal` (open after its header and the rows kept).
    pub fn new(
        journal: JournalWriter,
        kind: Kind,
        layout: Layout,
        engine: &str,
        device: &str,
    ) -> ResultWriter {
        let greeks = layout_greeks(&layout);
        ResultWriter {
            out: journal,
            kind,
            schema: layout.schema(),
            layout,
            engine: engine.to_string(),
            device: device.to_string(),
            csv: CsvEncoder::default(),
            greeks,
        }
    }

    /// The engine named in later rows (after a fallback).
    pub fn set_engine(&mut self, engine: &str, device: &str) {
        self.engine = engine.to_string();
        self.device = device.to_string();
    }

    /// Rows in the journal so far (kept ones included).
    pub fn rows(&self) -> u64 {
        self.out.rows()
    }

    /// Makes every row written so far durable: a kill after this loses none.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.out.sync()
    }

    /// Writes what is buffered without making it durable (for the tests'
    /// stall points).
    pub fn flush(&mut self) {
        self.out.flush();
    }

    /// The row's cells, in the layout's column order.
    fn cells(&self, trade: &Trade, r: &TradeResult) -> Vec<Cell> {
        row_cells(&self.layout, (&self.engine, &self.device), trade, r)
    }

    /// Writes one row; a result that is not a finite number is refused
    /// (nothing is written for it).
    pub fn write(&mut self, trade: &Trade, r: &TradeResult) -> Result<()> {
        check_finite(trade, r, &self.greeks)?;
        let cells = self.cells(trade, r);
        match self.kind {
            Kind::Csv => {
                let line = self.csv.encode(cells.iter().map(Cell::csv))?;
                self.out.append(line)
            }
            Kind::JsonLines if !r.per_asset.is_empty() => {
                self.out
                    .append(&encode_json_per_asset(&self.schema, &cells, r))
            }
            Kind::JsonLines => self.out.append(&encode_json(&self.schema, &cells)),
        }
    }

    /// Ends the journal: every row durable, its end line written.
    pub fn finish(self) -> Result<Done> {
        self.out.finish()
    }
}

/// The Greeks every row of `layout` carries.
pub fn layout_greeks(layout: &Layout) -> Vec<Greek> {
    match layout {
        Layout::Standard { greeks, .. } => greeks.clone(),
        Layout::AzfinsimPv => vec![],
        Layout::AzfinsimDeltaVega => vec![Greek::Delta, Greek::Vega],
    }
}

/// Refuses a result that is not a finite number ([`NotFinite`], naming
/// the trade and the field most likely to blame): it is never written as
/// a success.
pub fn check_finite(trade: &Trade, r: &TradeResult, greeks: &[Greek]) -> Result<()> {
    if let Some(why) = not_finite(r, greeks) {
        bail!(NotFinite(format!(
            "trade `{}` did not price to a finite number ({why}){}",
            trade.id,
            likely_field(trade)
        )));
    }
    Ok(())
}

/// A row's cells in `layout`'s column order, for a result of the engine and
/// device named: what `price` writes, and what the Python package's frames
/// hold.
pub fn row_cells(
    layout: &Layout,
    (engine, device): (&str, &str),
    trade: &Trade,
    r: &TradeResult,
) -> Vec<Cell> {
    let est = |x: f64| {
        if x.is_finite() {
            Cell::Num(x)
        } else {
            Cell::Missing
        }
    };
    let greek = |g: Greek| r.greek(g).unwrap_or(r.pv);
    let seconds = if r.seconds.is_finite() {
        r.seconds
    } else {
        0.0
    };
    let id = Cell::Text(trade.id.clone());
    match layout {
        Layout::AzfinsimPv => vec![
            id,
            Cell::Num(r.pv.value),
            Cell::Num(seconds),
            est(r.pv.stderr),
        ],
        Layout::AzfinsimDeltaVega => {
            let (d, v) = (greek(Greek::Delta), greek(Greek::Vega));
            vec![
                id,
                Cell::Num(d.value),
                Cell::Num(v.value),
                est(d.stderr),
                est(v.stderr),
            ]
        }
        Layout::Standard {
            greeks,
            assets,
            methods,
        } => {
            let mut c = vec![id, Cell::Num(r.pv.value), est(r.pv.stderr)];
            c.extend(greeks.iter().map(|g| Cell::Num(greek(*g).value)));
            c.extend(greeks.iter().map(|g| est(greek(*g).stderr)));
            if *methods {
                c.extend(greeks.iter().map(|g| {
                    let e = r.estimators[*g as usize].unwrap_or(Estimator::Bump);
                    Cell::Text(e.name().to_string())
                }));
            }
            let per_asset: Vec<Greek> = per_asset_greeks(greeks).collect();
            let entry = |g: Greek, i: usize| r.per_asset.get(i).and_then(|a| a.greek(g));
            for g in &per_asset {
                c.extend(
                    (0..*assets)
                        .map(|i| entry(*g, i).map_or(Cell::Missing, |e| Cell::Num(e.value))),
                );
            }
            for g in &per_asset {
                c.extend(
                    (0..*assets).map(|i| entry(*g, i).map_or(Cell::Missing, |e| est(e.stderr))),
                );
            }
            c.push(Cell::Count(r.paths));
            c.push(Cell::Count(trade.steps as u64));
            c.push(Cell::Text(engine.to_string()));
            c.push(Cell::Text(device.to_string()));
            c.push(Cell::Num(if r.seconds.is_finite() {
                r.seconds
            } else {
                0.0
            }));
            c
        }
    }
}

/// The trade's numeric terms as `(field, value)`, in the input's names: a
/// one-asset trade's read from its `Debug` form, so every model and payoff
/// is covered without a list to keep; a several-asset trade's from its
/// assets and payoff (its one-asset fields hold names only).
fn numeric_fields(trade: &Trade) -> Vec<(String, f64)> {
    let mut out = vec![("maturity".to_string(), trade.maturity)];
    if let Some(m) = trade.extension.as_ref().and_then(|e| e.multi.as_ref()) {
        multi_fields(m, &mut out);
        return out;
    }
    // A dated trade on its own grid: its model is the market's (the
    // trade's `model` holds names only).
    let parts = if let Some(d) = &trade.dated {
        market_fields(d, &mut out);
        vec![("payoff.", format!("{:?}", trade.payoff))]
    } else {
        vec![
            ("model.", format!("{:?}", trade.model)),
            ("payoff.", format!("{:?}", trade.payoff)),
        ]
    };
    for (prefix, text) in parts {
        for piece in text.split([',', '{', '(', '[']) {
            let Some((name, value)) = piece.split_once(':') else {
                continue;
            };
            let name = name.trim();
            let value = value.trim().trim_end_matches(['}', ')', ']']).trim();
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
                if let Ok(x) = value.parse::<f64>() {
                    out.push((format!("{prefix}{name}"), x));
                }
            }
        }
    }
    out
}

/// A dated trade's market terms, as the market file names them
/// (`--market underlyings.SPX.vol.vols[1][2]`).
fn market_fields(d: &riskpool_kernels::market::path::DatedPath, out: &mut Vec<(String, f64)>) {
    use riskpool_kernels::market::Vol;
    for a in &d.assets {
        let Some(u) = d.market.underlyings.get(&a.name) else {
            continue;
        };
        let f = |x: &str| format!("--market underlyings.{}.{x}", a.name);
        out.push((f("spot"), u.spot));
        match &u.vol {
            Vol::Flat(v) => out.push((f("vol.flat"), *v)),
            Vol::Surface { vols, .. } => {
                for (i, row) in vols.iter().enumerate() {
                    for (j, v) in row.iter().enumerate() {
                        out.push((f(&format!("vol.vols[{i}][{j}]")), *v));
                    }
                }
            }
        }
        if let Some(h) = &u.heston {
            for (name, x) in [
                ("v0", h.v0),
                ("kappa", h.kappa),
                ("theta", h.theta),
                ("xi", h.xi),
            ] {
                out.push((f(&format!("heston.{name}")), x));
            }
        }
        for (i, (_, amount)) in u.dividends.iter().enumerate() {
            out.push((f(&format!("dividends[{i}].amount")), *amount));
        }
    }
}

/// A several-asset trade's numeric terms, as `model.assets[i].vol`.
fn multi_fields(m: &riskpool_kernels::multi::MultiAsset, out: &mut Vec<(String, f64)>) {
    use riskpool_kernels::multi::{MultiModel, MultiPayoff};
    let mut push = |name: String, x: f64| out.push((name, x));
    push("model.rate".into(), m.model.rate());
    let asset = |i: usize, f: &str| format!("model.assets[{i}].{f}");
    match &m.model {
        MultiModel::GbmMulti { assets, .. } => {
            for (i, a) in assets.iter().enumerate() {
                for (f, x) in [("spot", a.spot), ("vol", a.vol), ("dividend", a.dividend)] {
                    push(asset(i, f), x);
                }
            }
        }
        MultiModel::HestonMulti { assets, .. } => {
            for (i, a) in assets.iter().enumerate() {
                for (f, x) in [
                    ("spot", a.spot),
                    ("dividend", a.dividend),
                    ("v0", a.v0),
                    ("kappa", a.kappa),
                    ("theta", a.theta),
                    ("xi", a.xi),
                    ("rho", a.rho),
                ] {
                    push(asset(i, f), x);
                }
            }
        }
    }
    match &m.payoff {
        MultiPayoff::Basket {
            strike, weights, ..
        } => {
            push("payoff.strike".into(), *strike);
            for (i, w) in weights.iter().enumerate() {
                push(format!("payoff.weights[{i}]"), *w);
            }
        }
        MultiPayoff::Rainbow { strike, .. } => push("payoff.strike".into(), *strike),
    }
}

/// The trade's numeric terms in the input's own names: an azfinsim
/// trade's by its file's columns ([`numeric_fields`] otherwise).
pub(crate) fn input_fields(trade: &Trade) -> Vec<(String, f64)> {
    let azfinsim = matches!(trade.model, riskpool_kernels::model::ModelSpec::SvFx(_))
        && trade.id.parse::<u64>() == Ok(trade.stream);
    numeric_fields(trade)
        .into_iter()
        .map(|(f, x)| {
            if azfinsim {
                (riskpool_kernels::azfinsim::column_of(&f).to_string(), x)
            } else {
                (f, x)
            }
        })
        .collect()
}

/// ": likely field `f` = x" for the term furthest from 1 in magnitude (the
/// usual cause of an overflow or underflow), in the input's own names.
pub(crate) fn likely_field(trade: &Trade) -> String {
    input_fields(trade)
        .into_iter()
        .filter(|(_, x)| *x != 0.0)
        .map(|(f, x)| (f, x, x.abs().log10().abs()))
        .filter(|(_, _, m)| *m >= 2.0 || m.is_nan())
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(f, x, _)| format!("; likely field `{f}` = {x:e}, out of the model's working range"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_ids_are_quoted_and_read_back_whole() {
        for id in [
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\rhere",
            "héllo ✓",
            " pad ",
        ] {
            let bytes = encode_csv([id, "1.5"]).unwrap();
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(&bytes[..]);
            let rec = r.records().next().unwrap().unwrap();
            assert_eq!(&rec[0], id, "{bytes:?}");
            if id.contains('\r') {
                assert!(bytes.starts_with(b"\""), "{bytes:?}");
            }
        }
    }
}
