//! `riskpool._native`: the runner's in-process `price` (`riskpool::api`)
//! for the Python package (`python/riskpool/__init__.py`, which turns its
//! columns into a pandas frame).
//!
//! Pricing runs on a thread of its own while the caller's thread waits
//! with the GIL released, taking it back every [`POLL`] to run Python's
//! signal handlers (Ctrl-C raises `KeyboardInterrupt`: the run is
//! cancelled after its batch in flight, [`riskpool::api::BATCH_SECONDS`])
//! and to report progress to the caller's callback.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use clap::ValueEnum;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use riskpool::api::{self, Book, Column, Control, Frame};
use riskpool::cli::{EngineArgs, Naming, PriceArgs, RiskArgs, RiskOutputArgs, RngArgs};

/// How often the waiting thread looks at signals and progress.
const POLL: Duration = Duration::from_millis(100);

create_exception!(
    riskpool,
    InputError,
    PyValueError,
    "Bad input: a trade, a keyword or a file. `file`, `line` and `field` say where, where known."
);
create_exception!(
    riskpool,
    EngineError,
    PyRuntimeError,
    "A failure while pricing (an engine, a result that is not a finite number). `partial` holds the rows priced before it."
);

/// A keyword's value of the wrong kind or out of range, named as the
/// caller wrote it.
fn bad_keyword(name: &str, value: impl std::fmt::Display, why: &str) -> PyErr {
    InputError::new_err(format!("{name}={value}: {why}"))
}

/// Keyword `key` of `opts` as a `T`, `None` where it is absent or None; a
/// value of another type is an InputError saying what `key` takes.
fn keyword<'py, T: for<'a> FromPyObject<'a, 'py>>(
    opts: &Bound<'py, PyDict>,
    key: &str,
    takes: &str,
) -> PyResult<Option<T>> {
    match opts.get_item(key)? {
        Some(v) if !v.is_none() => v.extract().map(Some).map_err(|_| {
            bad_keyword(
                key,
                v.repr().map(|r| r.to_string()).unwrap_or_default(),
                takes,
            )
        }),
        _ => Ok(None),
    }
}

/// A flag-like keyword parsed by the flag's own rule (`riskpool::flags`).
fn parsed<T>(name: &str, text: &str, parse: impl Fn(&str) -> Result<T, String>) -> PyResult<T> {
    parse(text).map_err(|e| bad_keyword(name, format!("{text:?}"), &e))
}

/// A value-enum keyword (`engine="cpu"`) by its flag's names.
fn choice<T: ValueEnum>(name: &str, text: &str) -> PyResult<T> {
    T::from_str(text, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        bad_keyword(
            name,
            format!("{text:?}"),
            &format!("expected one of {}", names.join(", ")),
        )
    })
}

/// The keywords as `riskpool price`'s flags, for the book named `name`.
fn price_args(opts: &Bound<PyDict>, name: &str) -> PyResult<PriceArgs> {
    let text = |key: &str| -> PyResult<Option<String>> {
        match opts.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.str()?.to_string())),
            _ => Ok(None),
        }
    };
    let engine = EngineArgs {
        engine: choice("engine", &text("engine")?.unwrap_or_else(|| "auto".into()))?,
        threads: text("threads")?
            .map(|t| parsed("threads", &t, riskpool::flags::threads))
            .transpose()?,
        simd: choice("simd", &text("simd")?.unwrap_or_else(|| "auto".into()))?,
        gpus_per_task: text("gpus_per_task")?
            .map(|t| parsed("gpus_per_task", &t, riskpool::flags::gpus_per_task))
            .transpose()?,
        fast_math: opts
            .get_item("fast_math")?
            .map(|v| v.is_truthy())
            .transpose()?
            .unwrap_or(false),
        naming: Naming::Keywords,
    };
    let seed: u64 = keyword(opts, "seed", "must be an integer from 0 to 2^64 - 1")?
        .unwrap_or(riskpool_kernels::rng::DEFAULT_SEED);
    let greeks = keyword::<Vec<String>>(
        opts,
        "greeks",
        "must be a list of names: delta, gamma, vega, rho",
    )?
    .unwrap_or_default()
    .iter()
    .map(|g| parsed("greeks", g, riskpool::flags::greek))
    .collect::<PyResult<Vec<_>>>()?;
    Ok(PriceArgs {
        // Named in errors about the book as a whole.
        input: PathBuf::from(name),
        output: PathBuf::from("frame.jsonl"),
        market: text("market")?.map(PathBuf::from),
        engine,
        seed,
        paths: text("paths")?
            .map(|t| parsed("paths", &t, riskpool::flags::paths))
            .transpose()?,
        greeks,
        greeks_method: text("greeks_method")?
            .map(|t| choice("greeks_method", &t))
            .transpose()?,
        algorithm: text("algorithm")?
            .map(|t| choice("algorithm", &t))
            .transpose()?,
        shard: None,
        precision: choice(
            "precision",
            &text("precision")?.unwrap_or_else(|| "f32".into()),
        )?,
        antithetic: opts
            .get_item("antithetic")?
            .map(|v| v.is_truthy())
            .transpose()?
            .unwrap_or(false),
        rng: RngArgs {
            rng: choice("rng", &text("rng")?.unwrap_or_else(|| "philox".into()))?,
            qmc_replicates: text("qmc_replicates")?
                .map(|t| parsed("qmc_replicates", &t, riskpool::flags::replicates))
                .transpose()?
                .unwrap_or(riskpool_kernels::qmc::DEFAULT_REPLICATES),
        },
        start_trade: None,
        trade_window: None,
        batch_trades: 4096,
    })
}

/// A frame as a dict: `names`, `kinds` (`f64`, `u64` or `str` per
/// column), `columns` (little-endian bytes for numbers, lists of str for
/// text), `engine`, `device`, `seconds`, `path_steps`.
fn frame_dict<'py>(py: Python<'py>, f: &Frame) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("names", &f.names)?;
    let kinds = PyList::empty(py);
    let columns = PyList::empty(py);
    for c in &f.columns {
        match c {
            Column::F64(v) => {
                kinds.append("f64")?;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                columns.append(PyBytes::new(py, &bytes))?;
            }
            Column::U64(v) => {
                kinds.append("u64")?;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                columns.append(PyBytes::new(py, &bytes))?;
            }
            Column::Text(v) => {
                kinds.append("str")?;
                columns.append(v)?;
            }
        }
    }
    d.set_item("kinds", kinds)?;
    d.set_item("columns", columns)?;
    d.set_item("engine", &f.engine)?;
    d.set_item("device", &f.device)?;
    d.set_item("seconds", f.seconds)?;
    d.set_item("path_steps", f.path_steps)?;
    Ok(d)
}

/// The Python exception for a failed run.
fn failure(py: Python<'_>, e: api::Failure) -> PyErr {
    let message = format!("{:#}", e.error);
    if let Some(input) = e.error.downcast_ref::<riskpool::input::InputError>() {
        let err = InputError::new_err(message);
        let v = err.value(py);
        let _ = v.setattr("file", input.file.display().to_string());
        let _ = v.setattr("line", input.line);
        let _ = v.setattr("field", input.field.clone());
        // A scenario that breaks a trade: the trade's id and book line
        // (the package turns the line into the caller's index).
        let _ = v.setattr("trade", input.trade.as_ref().map(|t| t.id.clone()));
        let _ = v.setattr("trade_line", input.trade.as_ref().map(|t| t.line));
        return err;
    }
    if e.error
        .downcast_ref::<riskpool::error::UsageError>()
        .is_some()
        || e.error
            .downcast_ref::<riskpool_kernels::env::EnvError>()
            .is_some()
    {
        let err = InputError::new_err(message);
        let v = err.value(py);
        let _ = v.setattr("file", py.None());
        let _ = v.setattr("line", py.None());
        let _ = v.setattr("field", py.None());
        return err;
    }
    let err = EngineError::new_err(message);
    if let Ok(partial) = frame_dict(py, &e.partial) {
        let _ = err.value(py).setattr("partial", partial);
    }
    err
}

/// What the runner logs at WARN or above (a scenario's underlying that no
/// trade names, an engine fallback, threads capped) while a call runs:
/// the CLI prints it, the package hands it to Python's `warnings`.
#[derive(Clone, Default)]
struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

/// An event's message and fields as one line.
#[derive(Default)]
struct EventText(String);

impl tracing::field::Visit for EventText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" ({}={value})", field.name()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" ({}={value:?})", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if *event.metadata().level() <= tracing::Level::WARN {
            let mut text = EventText::default();
            event.record(&mut text);
            if let Ok(mut v) = self.0.lock() {
                v.push(text.0);
            }
        }
    }
}

/// Issues each of `warnings` as a Python `UserWarning` (an error where the
/// caller's warning filters make it one), each path of `names` (a working
/// file of the call's) written as the caller knows it.
fn warn_all(py: Python<'_>, warnings: &Warnings, names: &[(String, String)]) -> PyResult<()> {
    let taken: Vec<String> = warnings
        .0
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
    for mut w in taken {
        for (path, shown) in names {
            w = w.replace(path.as_str(), shown);
        }
        let text = std::ffi::CString::new(w.replace('\0', " ")).unwrap_or_default();
        PyErr::warn(py, &category, &text, 2)?;
    }
    Ok(())
}

/// Runs `work` on a thread of its own while this thread waits without the
/// GIL, waking every [`POLL`] to run Python's signal handlers and to call
/// `progress(done, total)` from `control`. On Ctrl-C (or an exception
/// from `progress`) the work is cancelled through `control`, waited for,
/// and the exception raised. What the work logs at WARN or above becomes
/// Python warnings.
fn detached<'py, T: Send + 'static>(
    py: Python<'py>,
    control: &Arc<Control>,
    progress: Option<&Bound<'py, PyAny>>,
    names: &[(String, String)],
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("riskpool".into())
        .spawn(move || {
            let r = tracing::subscriber::with_default(subscriber, work);
            let _ = tx.send(r);
        })
        .map_err(|e| EngineError::new_err(format!("cannot start the pricing thread: {e}")))?;
    let mut reported = u64::MAX;
    let report = |reported: &mut u64| -> PyResult<()> {
        let done = control.done.load(Ordering::Relaxed);
        match progress {
            Some(cb) if done != *reported => {
                *reported = done;
                cb.call1((done, control.total.load(Ordering::Relaxed)))
                    .map(|_| ())
            }
            _ => Ok(()),
        }
    };
    // The receiver goes into each wait and back (a wait without the GIL
    // may only hold what may move between threads).
    let mut rx = rx;
    let result = loop {
        let (r, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
        rx = back;
        match r {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = py.detach(|| worker.join());
                return Err(EngineError::new_err(
                    "the pricing thread ended without a result (a panic: a bug, please report it)",
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(e) = py.check_signals().and_then(|()| report(&mut reported)) {
            // Ctrl-C, or the progress callback raised: stop after the
            // batch in flight, then raise it.
            control.stop();
            let _ = py.detach(move || rx.recv());
            let _ = py.detach(|| worker.join());
            return Err(e);
        }
    };
    let _ = py.detach(|| worker.join());
    warn_all(py, &warnings, names)?;
    report(&mut reported)?;
    Ok(result)
}

/// Prices a book: `kind` is `"file"` (`book` a path) or `"memory"`
/// (`book` the bytes of a JSON Lines, JSON array or azfinsim CSV book,
/// named `name` in errors). `opts` holds the keywords of
/// `riskpool.price`; `progress(done, total)` is called as trades finish.
/// Returns the frame as a dict (see `frame_dict`).
#[pyfunction]
#[pyo3(signature = (kind, book, name, opts, progress=None))]
fn price<'py>(
    py: Python<'py>,
    kind: &str,
    book: &Bound<'py, PyAny>,
    name: &str,
    opts: &Bound<'py, PyDict>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let args = price_args(opts, name)?;
    let book = match kind {
        "file" => Book::File(PathBuf::from(book.extract::<String>()?)),
        "memory" => Book::Memory {
            name: PathBuf::from(name),
            bytes: Arc::from(book.extract::<Vec<u8>>()?.into_boxed_slice()),
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "book kind {other:?}: expected \"file\" or \"memory\""
            )))
        }
    };
    // A market given as a dict arrives as its JSON text.
    let market: Option<Vec<u8>> = keyword(opts, "market_json", "must be a market's JSON text")?;
    let control = Arc::new(Control::default());
    let result = detached(py, &control, progress.as_ref(), &[], {
        let control = Arc::clone(&control);
        move || api::price(&book, &args, market.as_deref(), &control)
    })?;
    match result {
        Ok(frame) => frame_dict(py, &frame),
        Err(e) => Err(failure(py, e)),
    }
}

/// Runs `riskpool risk` in process on the files `book` and `scenarios`,
/// writing into the folder `out` (the caller's, and emptied by it):
/// `pnl.csv` and `pnl.csv.summary.json`, `by_trade.csv` and `report.html`.
/// `opts` holds the keywords of `riskpool.risk` (`levels`, `engine`,
/// `seed`, `paths`, `precision`, `market`, `threads`, ...);
/// `progress(done, total)` is called as trades finish.
#[pyfunction]
#[pyo3(signature = (book, scenarios, out, opts, progress=None))]
fn risk<'py>(
    py: Python<'py>,
    book: &str,
    scenarios: &str,
    out: &str,
    opts: &Bound<'py, PyDict>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<()> {
    let p = price_args(opts, book)?;
    let levels: Vec<f64> = keyword(
        opts,
        "levels",
        "must be a sequence of confidence levels between 0 and 1",
    )?
    .unwrap_or_else(|| vec![0.99, 0.975]);
    let out = PathBuf::from(out);
    let control = Arc::new(Control::default());
    let args = RiskArgs {
        input: PathBuf::from(book),
        scenarios: PathBuf::from(scenarios),
        market: p.market,
        output: out.join("pnl.csv"),
        figures: RiskOutputArgs {
            levels,
            by_trade: Some(out.join("by_trade.csv")),
            report: Some(out.join("report.html")),
        },
        engine: p.engine,
        seed: p.seed,
        paths: p.paths,
        shard: None,
        precision: p.precision,
        rng: p.rng,
        // Small batches: a cancel is seen between them.
        batch_trades: 16,
        control: Some(Arc::clone(&control)),
    };
    // Working files the caller gave no path for, by the names it knows.
    let names: Vec<(String, String)> =
        keyword(opts, "names", "must be (path, name) pairs")?.unwrap_or_default();
    let result = detached(py, &control, progress.as_ref(), &names, move || {
        riskpool::risk::run(&args)
    })?;
    result.map_err(|error| {
        failure(
            py,
            api::Failure {
                error,
                partial: Frame::default(),
            },
        )
    })
}

/// One column of an azfinsim frame, as `riskpool.price` hands it over.
enum FrameColumn {
    /// float64 values, little-endian bytes.
    F64(Vec<u8>),
    /// int64 values, little-endian bytes.
    I64(Vec<u8>),
    /// Anything else, as text.
    Text(Vec<String>),
}

impl FrameColumn {
    /// Appends row `i`'s cell: a float in the shortest form that reads
    /// back to the same f64 (so the book's numbers are the frame's to the
    /// bit; `NaN` and `inf` as such, which the reader refuses naming the
    /// field and the value).
    fn write(&self, i: usize, out: &mut String) {
        use std::fmt::Write;
        match self {
            FrameColumn::F64(b) => {
                let x = f64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
                let _ = write!(out, "{x}");
            }
            FrameColumn::I64(b) => {
                let x = i64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
                let _ = write!(out, "{x}");
            }
            // A comma, quote or line end in a text cell would shift the
            // row's fields: replaced, so the reader names the bad field.
            FrameColumn::Text(v) => out.extend(v[i].chars().map(|c| {
                if matches!(c, ',' | '\n' | '\r' | '"') {
                    '?'
                } else {
                    c
                }
            })),
        }
    }

    fn len(&self) -> usize {
        match self {
            FrameColumn::F64(b) | FrameColumn::I64(b) => b.len() / 8,
            FrameColumn::Text(v) => v.len(),
        }
    }
}

/// An azfinsim frame's columns (in azfinsim's order, each `(kind, data)`
/// with kind `"f64"`, `"i64"` or `"str"`) as the text of an azfinsim CSV
/// book, in memory: what the reader then checks and prices as it would the
/// file. Built here rather than by pandas' `to_csv` (15 s a million rows).
#[pyfunction]
fn azfinsim_book<'py>(
    py: Python<'py>,
    columns: Vec<(String, Bound<'py, PyAny>)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let header = riskpool_kernels::azfinsim::HEADER;
    if columns.len() != header.len() {
        return Err(PyValueError::new_err(format!(
            "{} columns, expected {}",
            columns.len(),
            header.len()
        )));
    }
    let cols = columns
        .into_iter()
        .map(|(kind, data)| match kind.as_str() {
            "f64" => Ok(FrameColumn::F64(data.extract()?)),
            "i64" => Ok(FrameColumn::I64(data.extract()?)),
            _ => Ok(FrameColumn::Text(data.extract()?)),
        })
        .collect::<PyResult<Vec<_>>>()?;
    let rows = cols.first().map_or(0, FrameColumn::len);
    if cols.iter().any(|c| c.len() != rows) {
        return Err(PyValueError::new_err("columns of different lengths"));
    }
    let text = py.detach(move || {
        let mut out = String::with_capacity(rows * 200 + 200);
        out.push_str(&header.join(","));
        out.push('\n');
        for i in 0..rows {
            for (k, c) in cols.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                c.write(i, &mut out);
            }
            out.push('\n');
        }
        out
    });
    Ok(PyBytes::new(py, text.as_bytes()))
}

/// `riskpool probe`'s report as JSON text: the engines found and what
/// `auto` picks.
#[pyfunction]
fn probe(py: Python<'_>) -> String {
    py.detach(|| riskpool::probe::report(None).to_string())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(price, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(risk, m)?)?;
    m.add_function(wrap_pyfunction!(azfinsim_book, m)?)?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("EngineError", m.py().get_type::<EngineError>())?;
    m.add("DEFAULT_SEED", riskpool_kernels::rng::DEFAULT_SEED)?;
    m.add(
        "AZFINSIM_COLUMNS",
        riskpool_kernels::azfinsim::HEADER.to_vec(),
    )?;
    m.add("BATCH_SECONDS", api::BATCH_SECONDS)?;
    Ok(())
}
