//! Writing results: CSV or JSON Lines by the output file's extension, and
//! azfinsim's own result columns for azfinsim trades written to CSV.
//!
//! Rows go to `<output>.partial`, made durable batch by batch, and the file
//! is renamed into place only when every trade is priced, so a reader never
//! sees half a result file; after a failure or a kill the partial file keeps
//! what was finished, and a rerun goes on from there (`resume`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use riskpool_kernels::{Greek, Trade, TradeResult};
use serde_json::json;

/// Which columns the rows carry.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// riskpool's columns: `id,pv,stderr,<greeks>,<greek>_stderr,paths,steps,engine,device,seconds`.
    Standard { greeks: Vec<Greek> },
    /// azfinsim pvonly: `tradenum,pv,pv_time,pv_stderr`.
    AzfinsimPv,
    /// azfinsim deltavega: `tradenum,delta,vega,delta_stderr,vega_stderr`.
    AzfinsimDeltaVega,
}

impl Layout {
    pub fn columns(&self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        match self {
            Layout::AzfinsimPv => s(&["tradenum", "pv", "pv_time", "pv_stderr"]),
            Layout::AzfinsimDeltaVega => {
                s(&["tradenum", "delta", "vega", "delta_stderr", "vega_stderr"])
            }
            Layout::Standard { greeks } => {
                let mut c = s(&["id", "pv", "stderr"]);
                c.extend(greeks.iter().map(|g| g.name().to_string()));
                c.extend(greeks.iter().map(|g| format!("{}_stderr", g.name())));
                c.extend(s(&["paths", "steps", "engine", "device", "seconds"]));
                c
            }
        }
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
            Some("jsonl") | Some("ndjson") | Some("json") => Some(Kind::JsonLines),
            _ => None,
        }
    }
}

/// Where and how results are written.
pub struct ResultWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<File>,
    kind: Kind,
    layout: Layout,
    engine: String,
    device: String,
}

/// The file rows are written to while a run is under way.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn json_num(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        serde_json::Value::Null
    }
}

impl ResultWriter {
    /// Starts `<output>.partial` afresh (with the CSV header), or, given
    /// `resume`, appends to what an interrupted run left there.
    pub fn create(
        path: &Path,
        kind: Kind,
        layout: Layout,
        engine: &str,
        device: &str,
        resume: Option<File>,
    ) -> Result<ResultWriter> {
        let partial = partial_path(path);
        let fresh = resume.is_none();
        let f = match resume {
            Some(f) => f,
            None => File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?,
        };
        let mut w = ResultWriter {
            path: path.to_path_buf(),
            partial,
            out: BufWriter::with_capacity(1 << 20, f),
            kind,
            layout,
            engine: engine.to_string(),
            device: device.to_string(),
        };
        if fresh && kind == Kind::Csv {
            let header = w.layout.columns().join(",");
            writeln!(w.out, "{header}").context("cannot write the header")?;
        }
        Ok(w)
    }

    /// The engine named in later rows (after a fallback).
    pub fn set_engine(&mut self, engine: &str, device: &str) {
        self.engine = engine.to_string();
        self.device = device.to_string();
    }

    /// Makes every row written so far durable: a kill after this loses none.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.partial.display()))?;
        self.out
            .get_ref()
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.partial.display()))
    }

    pub fn write(&mut self, trade: &Trade, r: &TradeResult) -> Result<()> {
        let greek = |g: Greek| {
            r.greek(g)
                .map(|e| (e.value, e.stderr))
                .unwrap_or((f64::NAN, f64::NAN))
        };
        let line = match (&self.layout, self.kind) {
            (Layout::AzfinsimPv, Kind::Csv) => {
                format!(
                    "{},{},{},{}",
                    trade.id,
                    num(r.pv.value),
                    num(r.seconds),
                    num(r.pv.stderr)
                )
            }
            (Layout::AzfinsimDeltaVega, Kind::Csv) => {
                let (d, ds) = greek(Greek::Delta);
                let (v, vs) = greek(Greek::Vega);
                format!("{},{},{},{},{}", trade.id, num(d), num(v), num(ds), num(vs))
            }
            (Layout::Standard { greeks }, Kind::Csv) => {
                let mut c = vec![csv_field(&trade.id), num(r.pv.value), num(r.pv.stderr)];
                c.extend(greeks.iter().map(|g| num(greek(*g).0)));
                c.extend(greeks.iter().map(|g| num(greek(*g).1)));
                c.push(r.paths.to_string());
                c.push(trade.steps.to_string());
                c.push(csv_field(&self.engine));
                c.push(csv_field(&self.device));
                c.push(num(r.seconds));
                c.join(",")
            }
            (layout, Kind::JsonLines) => {
                let mut o = serde_json::Map::new();
                match layout {
                    Layout::Standard { .. } => o.insert("id".into(), json!(trade.id)),
                    _ => o.insert("tradenum".into(), json!(trade.stream)),
                };
                o.insert("pv".into(), json_num(r.pv.value));
                o.insert("stderr".into(), json_num(r.pv.stderr));
                for g in Greek::ALL {
                    if let Some(e) = r.greek(g) {
                        o.insert(g.name().into(), json_num(e.value));
                        o.insert(format!("{}_stderr", g.name()), json_num(e.stderr));
                    }
                }
                o.insert("paths".into(), json!(r.paths));
                o.insert("steps".into(), json!(trade.steps));
                o.insert("engine".into(), json!(self.engine));
                o.insert("device".into(), json!(self.device));
                o.insert("seconds".into(), json_num(r.seconds));
                serde_json::Value::Object(o).to_string()
            }
        };
        writeln!(self.out, "{line}")
            .with_context(|| format!("cannot write to {}", self.partial.display()))
    }

    /// Makes the rows durable, writes the summary, then renames the partial
    /// file into place (in that order, so a kill in between still resumes).
    pub fn finish(mut self, summary_path: &Path, summary: &str) -> Result<()> {
        self.checkpoint()?;
        crate::resume::write_atomically(summary_path, summary)?;
        let ResultWriter {
            path, partial, out, ..
        } = self;
        drop(out);
        std::fs::rename(&partial, &path).with_context(|| {
            format!("cannot rename {} to {}", partial.display(), path.display())
        })?;
        let _ = std::fs::remove_file(crate::resume::meta_path(&path));
        Ok(())
    }
}
