//! Pass 2 of `riskpool price` as three overlapping stages: a reader thread
//! parses the next batch, the calling thread prices one on the engine, and
//! a writer thread writes and syncs the one before.
//!
//! Why: on a GPU node the engine would otherwise sit idle while the host
//! parses 4,096 trades and waits for `fdatasync`, which for azfinsim-size
//! trades takes about as long as the pricing itself. The order of rows and
//! the durability contract are unchanged: batches reach the writer in input
//! order, and every batch the engine finished is made durable before an
//! error is reported, so a failure loses nothing already computed.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use riskpool_kernels::{env, Engine, EngineError, Pending, PricingRequest, Trade, TradeResult};

use crate::check::Checked;
use crate::cli::EngineArgs;
use crate::engines;
use crate::error::NotFinite;
use crate::input::TradeReader;
use crate::log::Progress;
use crate::output::ResultWriter;

/// A priced batch on its way to the writer, with the engine that priced it.
struct Priced {
    trades: Vec<Trade>,
    results: Vec<TradeResult>,
    engine: &'static str,
    device: String,
}

/// What the writer made durable.
struct Written {
    writer: ResultWriter,
    trades: u64,
    path_steps: f64,
}

/// What pass 2 did.
pub struct Passed {
    pub writer: ResultWriter,
    /// The content hash of the input as pass 2 read it (`None` if the
    /// reader stopped before the end).
    pub input_hash: Option<String>,
    pub engine: Box<dyn Engine>,
    pub trades: u64,
    pub path_steps: f64,
    /// Wall seconds the calling thread spent inside `Engine::price`.
    pub engine_seconds: f64,
}

/// Everything pass 2 needs besides the engine and the writer.
pub struct PricingPass<'a> {
    pub reader: TradeReader,
    pub batch_trades: usize,
    pub request: &'a PricingRequest,
    pub engine_args: &'a EngineArgs,
    pub progress: &'a Progress,
    /// Trades priced by an earlier, interrupted run (for progress).
    pub already: u64,
    /// The partial output file, named in errors.
    pub partial: &'a Path,
    pub start: Instant,
    /// What pass 1 checked: each trade's text must be the same.
    pub checked: &'a Checked,
}

/// Prices every batch the reader yields. On any failure, the batches
/// priced before it are durable in the partial file when this returns.
pub fn run(pass: PricingPass, engine: Box<dyn Engine>, writer: ResultWriter) -> Result<Passed> {
    let PricingPass {
        reader,
        batch_trades,
        request,
        engine_args,
        progress,
        already,
        partial,
        start,
        checked,
    } = pass;
    thread::scope(|s| {
        // One batch waits in each channel: the reader is at most two
        // batches ahead, the engine holds its batches in flight (one or
        // two) and the writer one behind, so memory stays bounded.
        let (batch_tx, batch_rx) = sync_channel(1);
        let (priced_tx, priced_rx) = sync_channel(1);
        let read = thread::Builder::new()
            .name("riskpool-read".into())
            .spawn_scoped(s, move || {
                read_batches(reader, batch_trades, (checked, already), batch_tx)
            })
            .context("cannot start the reader thread")?;
        let write = thread::Builder::new()
            .name("riskpool-write".into())
            .spawn_scoped(s, move || {
                write_batches(writer, priced_rx, partial, progress, already, start)
            })
            .context("cannot start the writer thread")?;

        let mut engine = engine;
        let mut engine_seconds = 0.0;
        let priced = price_batches(
            &mut engine,
            engine_args,
            request,
            batch_rx,
            priced_tx,
            &mut engine_seconds,
        );
        // The channels are closed now: the reader stops at its next send
        // and the writer after draining what it was handed.
        let written = write
            .join()
            .map_err(|_| anyhow!("the writer thread panicked"))?;
        let input_hash = read.join().ok().flatten();
        let kept = |e: anyhow::Error, n: u64| {
            e.context(format!(
                "{n} trades priced before the failure are kept in {}",
                partial.display()
            ))
        };
        match (priced, written) {
            (Ok(()), Ok(w)) => Ok(Passed {
                writer: w.writer,
                input_hash,
                engine,
                trades: w.trades,
                path_steps: w.path_steps,
                engine_seconds,
            }),
            // The writer's own failure is the cause of any later one.
            (_, Err(e)) => Err(e),
            // Every batch the writer took is already synced.
            (Err(e), Ok(w)) => Err(kept(e, w.trades)),
        }
    })
}

/// The reader stage: batches of up to `batch_trades` trades, in order; an
/// error ends the stream. Returns the hash of the whole input once it was
/// read to its end.
fn read_batches(
    mut reader: TradeReader,
    batch_trades: usize,
    (checked, mut index): (&Checked, u64),
    out: SyncSender<Result<Vec<Trade>>>,
) -> Option<String> {
    loop {
        let mut batch = Vec::with_capacity(batch_trades.min(1 << 16));
        for item in reader.by_ref().take(batch_trades) {
            match item {
                Ok(t) if !checked.same_text(index, &t) => {
                    let _ = out.send(Err(anyhow!(crate::check::changed(reader.path()))));
                    return None;
                }
                Ok(t) => {
                    index += 1;
                    batch.push(t.trade)
                }
                Err(e) => {
                    let _ = out.send(Err(anyhow::Error::new(e)
                        .context("the input changed while it was being priced")));
                    return None;
                }
            }
        }
        if batch.is_empty() {
            return Some(reader.content_hash());
        }
        if out.send(Ok(batch)).is_err() {
            return None;
        }
    }
}

/// A submitted batch: its trades, and the engine's work on it (`None`
/// once that work failed or was taken).
type InFlight = (Vec<Trade>, Option<Box<dyn Pending>>);

/// The engine stage, on the calling thread: submits each batch and hands
/// the oldest to the writer once the engine's batches in flight are
/// reached (two on a GPU: the next upload overlaps this compute). When
/// `--engine auto` chose an engine that fails, every batch in flight goes
/// again to the next engine, in order.
struct EngineStage<'a> {
    engine: &'a mut Box<dyn Engine>,
    args: &'a EngineArgs,
    req: &'a PricingRequest,
    device: String,
    in_flight: VecDeque<InFlight>,
    /// `RISKPOOL_BATCHES_IN_FLIGHT`, for measuring the overlap's worth.
    depth_override: Option<usize>,
    /// Seconds spent submitting to and waiting on the engine.
    busy: f64,
    /// Fallbacks taken (`engines::fall_back`).
    fallbacks: usize,
}

impl EngineStage<'_> {
    /// Batches to keep in flight: the override, else the engine's (which
    /// may change on a fall back).
    fn depth(&self) -> usize {
        self.depth_override
            .unwrap_or_else(|| self.engine.batches_in_flight())
            .max(1)
    }

    /// A finished batch as the writer takes it.
    fn priced(&self, trades: Vec<Trade>, results: Vec<TradeResult>) -> Priced {
        Priced {
            trades,
            results,
            engine: self.engine.name(),
            device: self.device.clone(),
        }
    }

    fn submit(&mut self, trades: &[Trade]) -> Result<Box<dyn Pending>, EngineError> {
        let t0 = Instant::now();
        let r = self.engine.submit(trades, self.req);
        self.busy += t0.elapsed().as_secs_f64();
        r
    }

    /// Starts a batch; `false` when the writer has stopped.
    fn push(&mut self, trades: Vec<Trade>, out: &SyncSender<Priced>) -> Result<bool> {
        match self.submit(&trades) {
            Ok(p) => self.in_flight.push_back((trades, Some(p))),
            Err(e) => {
                self.in_flight.push_back((trades, None));
                self.fall_back(e)?;
            }
        }
        while self.in_flight.len() >= self.depth() {
            if !self.finish_oldest(out)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Waits for every batch in flight; `false` when the writer has stopped.
    fn drain(&mut self, out: &SyncSender<Priced>) -> Result<bool> {
        while !self.in_flight.is_empty() {
            if !self.finish_oldest(out)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Waits for the oldest batch and sends it to the writer.
    fn finish_oldest(&mut self, out: &SyncSender<Priced>) -> Result<bool> {
        loop {
            let Some((_, pending)) = self.in_flight.front_mut() else {
                return Ok(true);
            };
            let t0 = Instant::now();
            let r = match pending.take() {
                Some(p) => p.wait(),
                None => Err(EngineError::failed(
                    self.engine.name(),
                    "a batch was lost before it was priced",
                )),
            };
            self.busy += t0.elapsed().as_secs_f64();
            match r {
                Ok(results) => {
                    let Some((trades, _)) = self.in_flight.pop_front() else {
                        return Ok(true);
                    };
                    // A closed channel: the writer stopped on an error,
                    // which is reported from there.
                    return Ok(out.send(self.priced(trades, results)).is_ok());
                }
                Err(e) => self.fall_back(e)?,
            }
        }
    }

    /// After a failure: hands the writer every batch in flight that still
    /// finishes, in order, up to the first that does not, so nothing the
    /// engine computed is lost.
    fn salvage(&mut self, out: &SyncSender<Priced>) {
        while let Some((trades, Some(p))) = self.in_flight.pop_front() {
            let Ok(results) = p.wait() else { return };
            if out.send(self.priced(trades, results)).is_err() {
                return;
            }
        }
    }

    /// Moves to the next engine after `e`, if `--engine auto` allows it,
    /// and starts every batch in flight on it again, oldest first.
    fn fall_back(&mut self, mut e: EngineError) -> Result<()> {
        loop {
            engines::fall_back(self.args, self.engine, e, &mut self.fallbacks)?;
            self.device = self.engine.device();
            // Start every batch in flight again, until one fails to start.
            let mut failed = None;
            let batches: Vec<Vec<Trade>> =
                self.in_flight.drain(..).map(|(trades, _)| trades).collect();
            for trades in batches {
                let mut pending = None;
                if failed.is_none() {
                    match self.submit(&trades) {
                        Ok(p) => pending = Some(p),
                        Err(e2) => failed = Some(e2),
                    }
                }
                self.in_flight.push_back((trades, pending));
            }
            match failed {
                None => return Ok(()),
                Some(e2) => e = e2,
            }
        }
    }
}

/// Runs the engine stage over every batch the reader sends.
fn price_batches(
    engine: &mut Box<dyn Engine>,
    args: &EngineArgs,
    req: &PricingRequest,
    batches: Receiver<Result<Vec<Trade>>>,
    out: SyncSender<Priced>,
    engine_seconds: &mut f64,
) -> Result<()> {
    let device = engine.device();
    let mut stage = EngineStage {
        engine,
        args,
        req,
        device,
        in_flight: VecDeque::new(),
        // Checked when the run started (env::check).
        depth_override: env::batches_in_flight().ok().flatten(),
        busy: 0.0,
        fallbacks: 0,
    };
    let run = || {
        for batch in batches {
            if !stage.push(batch?, &out)? {
                return Ok(());
            }
        }
        stage.drain(&out).map(|_| ())
    };
    let result = run();
    if result.is_err() {
        stage.salvage(&out);
    }
    *engine_seconds = stage.busy;
    result
}

/// The writer stage: rows in input order, each batch made durable before
/// the next is taken.
fn write_batches(
    mut writer: ResultWriter,
    batches: Receiver<Priced>,
    partial: &Path,
    progress: &Progress,
    already: u64,
    start: Instant,
) -> Result<Written> {
    let (mut trades, mut path_steps) = (0u64, 0.0);
    for b in batches {
        writer.set_engine(b.engine, &b.device);
        let half = b.trades.len() / 2;
        for (i, (t, r)) in b.trades.iter().zip(&b.results).enumerate() {
            if i == half && i > 0 {
                writer.flush();
                crate::hooks::stall("batch");
            }
            if let Err(e) = writer.write(t, r) {
                if e.is::<NotFinite>() {
                    // The rows before it are good: keep them for the rerun.
                    writer.checkpoint()?;
                    return Err(e.context(format!(
                        "stopped at a trade that cannot be priced; the {} rows before it are kept in {}",
                        writer.rows(),
                        partial.display()
                    )));
                }
                return Err(e);
            }
            path_steps += t.path_steps();
        }
        writer.checkpoint()?;
        trades += b.trades.len() as u64;
        progress.batch(
            already + trades,
            path_steps / start.elapsed().as_secs_f64().max(1e-9),
        );
    }
    Ok(Written {
        writer,
        trades,
        path_steps,
    })
}
