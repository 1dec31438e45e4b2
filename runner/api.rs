//! riskpool in process: `price` a book held in memory or named by path, the
//! rows returned as columns instead of written to a file. The Python
//! package (`python/`) is its front end.
//!
//! The numbers are `riskpool price`'s, bit for bit: the same reader and
//! checks (`input`, `check`), the same request and columns
//! (`price::job::plan`), the same engine choice and fallback (`engines`)
//! and the same cells (`output::row_cells`). What differs is only what a
//! caller in a process needs: no journal (nothing is written), batches
//! sized to finish in about [`BATCH_SECONDS`] so that a cancel
//! ([`Control::cancel`]) is honoured within about a second, and the rows
//! priced before a failure handed back with it ([`Failure::partial`]).
//!
//! The frame's columns are those of `price`'s CSV output (per-asset Greeks
//! as `delta_1..n`), whatever the input: riskpool's own columns, also for
//! azfinsim trades (whose `--algorithm deltavega` gives `delta` and `vega`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use riskpool_kernels::Trade;

use crate::check;
use crate::cli::PriceArgs;
use crate::input::{error_at, ReadOptions, Source, TradeReader};
use crate::output::{check_finite, layout_greeks, row_cells, Cell, Col, Kind, Layout};

/// A batch is grown until it takes about this long: long enough that the
/// per-batch cost vanishes (a GPU wants big batches), short enough that a
/// cancel is seen soon.
pub const BATCH_SECONDS: f64 = 0.5;

/// Where the trades are.
#[derive(Clone, Debug)]
pub enum Book {
    /// A trade file, as `--input` names one.
    File(PathBuf),
    /// A book's bytes (JSON Lines, a JSON array or azfinsim CSV), named
    /// `name` in errors.
    Memory { name: PathBuf, bytes: Arc<[u8]> },
}

impl Book {
    fn source(&self) -> Source<'_> {
        match self {
            Book::File(p) => Source::File(p),
            Book::Memory { name, bytes } => Source::Memory { name, bytes },
        }
    }
}

/// What the caller and a running [`price`] share: a cancel the caller may
/// set at any time, and the progress the run reports.
#[derive(Debug, Default)]
pub struct Control {
    /// Set (by [`Control::stop`]) to stop: the run ends after the batch in
    /// flight, with [`Cancelled`], or sooner where its engine can stop
    /// within a batch.
    pub cancel: AtomicBool,
    /// Trades priced so far.
    pub done: AtomicU64,
    /// Trades to price (0 until the check has counted them).
    pub total: AtomicU64,
    /// The running engine's own stop flag, where it has one
    /// (`Engine::stop_flag`: the CPU engine's).
    engine_stop: std::sync::Mutex<Option<Arc<AtomicBool>>>,
}

impl Control {
    /// Stops the run: between batches, and within one where the engine
    /// can (the CPU engine between work items of a few thousand paths, so
    /// that even one long trade stops within a fraction of a second).
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Ok(slot) = self.engine_stop.lock() {
            if let Some(f) = slot.as_ref() {
                f.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The run goes on on `engine` (the first, or a fallback): a stop
    /// reaches it, and a stop already asked stops it at once.
    pub fn watch(&self, engine: &dyn riskpool_kernels::Engine) {
        let flag = engine.stop_flag();
        if let (Some(f), true) = (&flag, self.cancel.load(Ordering::Relaxed)) {
            f.store(true, Ordering::Relaxed);
        }
        if let Ok(mut slot) = self.engine_stop.lock() {
            *slot = flag;
        }
    }
}

/// The run was cancelled ([`Control::cancel`]).
#[derive(Debug, thiserror::Error)]
#[error("cancelled after {done} of {total} trades")]
pub struct Cancelled {
    pub done: u64,
    pub total: u64,
}

/// One column of a [`Frame`].
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// Numbers; NaN where a cell is empty (an undefined standard error,
    /// a per-asset Greek of a trade with fewer assets).
    F64(Vec<f64>),
    /// Counts (paths, steps).
    U64(Vec<u64>),
    /// Text (id, engine, device, a Greek's method).
    Text(Vec<String>),
}

impl Column {
    fn of(col: Col) -> Column {
        match col {
            Col::Id | Col::Text => Column::Text(Vec::new()),
            Col::Count => Column::U64(Vec::new()),
            Col::Value | Col::Stderr | Col::Optional | Col::Seconds => Column::F64(Vec::new()),
        }
    }

    fn push(&mut self, cell: Cell) {
        match (self, cell) {
            (Column::F64(v), Cell::Num(x)) => v.push(x),
            (Column::F64(v), _) => v.push(f64::NAN),
            (Column::U64(v), Cell::Count(n)) => v.push(n),
            (Column::U64(v), _) => v.push(0),
            (Column::Text(v), Cell::Text(s)) => v.push(s),
            (Column::Text(v), _) => v.push(String::new()),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        match self {
            Column::F64(v) => v.len(),
            Column::U64(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Priced rows, column by column, in the input's order.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// Column names, in `price`'s CSV order.
    pub names: Vec<String>,
    pub columns: Vec<Column>,
    /// The engine that priced the last row (after any fallback).
    pub engine: String,
    pub device: String,
    /// Wall seconds of the pricing (the check not included).
    pub seconds: f64,
    pub path_steps: f64,
}

impl Frame {
    fn new(layout: &Layout) -> Frame {
        let schema = layout.schema();
        Frame {
            names: schema.iter().map(|(n, _)| n.clone()).collect(),
            columns: schema.iter().map(|(_, c)| Column::of(*c)).collect(),
            ..Frame::default()
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    fn push(&mut self, cells: Vec<Cell>) {
        for (c, cell) in self.columns.iter_mut().zip(cells) {
            c.push(cell);
        }
    }
}

/// A run that failed: why, and the rows it priced before (nothing already
/// computed is lost).
#[derive(Debug)]
pub struct Failure {
    pub error: anyhow::Error,
    pub partial: Frame,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            error: e.into(),
            partial: Frame::default(),
        }
    }
}

/// Prices `book` as `riskpool price --input <book>` with `args` would (its
/// `input` and `output` are not read), returning the rows. `market`, where
/// given, is a market's JSON text held in memory, in place of
/// `args.market`'s file.
pub fn price(
    book: &Book,
    args: &PriceArgs,
    market: Option<&[u8]>,
    control: &Control,
) -> Result<Frame, Failure> {
    riskpool_kernels::env::check()?;
    if let Book::File(path) = book {
        // A FIFO or a folder would block or fail half way: the book is
        // read twice (checked, then priced).
        crate::input::require_regular_file(
            path,
            &args.engine.naming.option("trades", None),
            crate::input::READ_TWICE,
        )?;
    }
    let source = book.source();
    let window = crate::input::trade_window(args.start_trade, args.trade_window)?;
    let opts = ReadOptions {
        paths: args.paths,
        shard: args.shard.map(|s| (s.index, s.count)),
        window,
        market: match market {
            Some(text) => Some(crate::market::from_bytes(
                &args.engine.naming.option("market", None),
                text,
            )?),
            None => args
                .market
                .as_deref()
                .map(|m| crate::market::load_named(m, args.engine.naming))
                .transpose()?,
        },
        naming: args.engine.naming,
    };
    crate::price::job::check_paths_flag(args.paths, args.antithetic, args.engine.naming)?;
    crate::price::job::check_rng_flags(args.paths, args.antithetic, &args.rng, args.engine.naming)?;
    let format = source.detect()?;
    let (req, layout) = crate::price::job::plan(args, Kind::JsonLines, format)?;
    let checked = check::check_source(source, &opts, &req)?;
    if checked.count == 0 && opts.shard.is_none() && window.is_none() {
        return Err(error_at(source.name(), 1, None, "no trades in the book").into());
    }
    let layout = layout.with_assets(checked.assets);
    let greeks = layout_greeks(&layout);
    control.total.store(checked.count, Ordering::Relaxed);

    let mut engine = crate::engines::select(&args.engine)?;
    let mut frame = Frame::new(&layout);
    frame.engine = engine.name().to_string();
    frame.device = engine.device();
    let start = Instant::now();
    let mut reader = TradeReader::from_source(source, opts)?;
    let mut fallbacks = 0;
    let mut batch_size = 1usize;
    let mut pending: Vec<Trade> = Vec::new();
    let fail = |frame: &mut Frame, error: anyhow::Error| Failure {
        error,
        partial: std::mem::take(frame),
    };
    loop {
        control.watch(engine.as_ref());
        if control.cancel.load(Ordering::Relaxed) {
            let done = control.done.load(Ordering::Relaxed);
            return Err(fail(
                &mut frame,
                Cancelled {
                    done,
                    total: checked.count,
                }
                .into(),
            ));
        }
        // Fill the batch from the reader (whose blocks may be larger).
        while pending.len() < batch_size {
            match reader.next_parsed(batch_size - pending.len()) {
                Some(block) => {
                    for item in block {
                        match item {
                            Ok(t) => pending.push(t.trade),
                            Err(e) => return Err(fail(&mut frame, e.into())),
                        }
                    }
                }
                None => break,
            }
        }
        if pending.is_empty() {
            break;
        }
        let batch: Vec<Trade> = pending.drain(..pending.len().min(batch_size)).collect();
        let t0 = Instant::now();
        let results = loop {
            match engine.price(&batch, &req) {
                Ok(r) => break r,
                Err(_) if control.cancel.load(Ordering::Relaxed) => {
                    // Stopped within the batch: cancelled, not failed.
                    let done = control.done.load(Ordering::Relaxed);
                    let total = checked.count;
                    return Err(fail(&mut frame, Cancelled { done, total }.into()));
                }
                Err(e) => {
                    if let Err(e) =
                        crate::engines::fall_back(&args.engine, &mut engine, e, &mut fallbacks)
                    {
                        return Err(fail(&mut frame, e.into()));
                    }
                    frame.engine = engine.name().to_string();
                    frame.device = engine.device();
                    // The fallback takes the batch again: a stop reaches it.
                    control.watch(engine.as_ref());
                }
            }
        };
        let took = t0.elapsed().as_secs_f64();
        for (t, r) in batch.iter().zip(&results) {
            if let Err(e) = check_finite(t, r, &greeks) {
                return Err(fail(&mut frame, e));
            }
            let cells = row_cells(&layout, (&frame.engine, &frame.device), t, r);
            frame.push(cells);
            frame.path_steps += t.path_steps();
            control.done.fetch_add(1, Ordering::Relaxed);
        }
        if took < BATCH_SECONDS / 2.0 {
            batch_size = (batch_size * 2).min(args.batch_trades.max(1));
        } else if took > BATCH_SECONDS * 2.0 && batch_size > 1 {
            batch_size /= 2;
        }
    }
    if reader.content_hash() != checked.hash {
        return Err(fail(
            &mut frame,
            anyhow::anyhow!(check::changed(source.name())),
        ));
    }
    frame.seconds = start.elapsed().as_secs_f64();
    Ok(frame)
}
