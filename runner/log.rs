//! What the runner tells people and machines while it works: `tracing`
//! events, written by [`init`]'s subscriber as one line per event, plain
//! (`riskpool: message key=value ...`) or JSON (`--log-format json`, one
//! object per line with `ts`, `level`, `msg` and the fields) for Batch's
//! stderr.txt and log collectors; and a progress bar in place of the
//! per-batch lines when stderr is a terminal.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the subscriber that writes every `tracing` event of the run
/// to stderr in `f`; once per process (later calls change nothing).
pub fn init(f: LogFormat) {
    if FORMAT.set(f).is_ok() {
        let _ = tracing_subscriber::registry()
            .with(StderrLines { format: f })
            .try_init();
    }
}

pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// The `tracing` layer: one line per event on stderr, `riskpool: [level: ]
/// message key=value ...` or one JSON object with `ts`, `level`, `msg` and
/// the event's fields.
struct StderrLines {
    format: LogFormat,
}

/// An event's fields, as JSON values, its message apart.
#[derive(Default)]
struct Fields {
    msg: String,
    rest: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, v: Value) {
        if field.name() == "message" {
            self.msg = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.rest.insert(field.name().to_string(), v);
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for StderrLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = level_name(event.metadata().level());
        match self.format {
            LogFormat::Json => {
                let mut o = Map::new();
                let ts = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                o.insert("ts".into(), Value::from(ts));
                o.insert("level".into(), Value::from(level));
                o.insert("msg".into(), Value::from(f.msg));
                o.extend(f.rest);
                say(Value::Object(o));
            }
            LogFormat::Text => {
                let mut line = if level == "info" {
                    format!("riskpool: {}", f.msg)
                } else {
                    format!("riskpool: {level}: {}", f.msg)
                };
                for (k, v) in f.rest {
                    match v {
                        Value::String(s) => line.push_str(&format!(" {k}={s}")),
                        other => line.push_str(&format!(" {k}={other}")),
                    }
                }
                say(line);
            }
        }
    }
}

/// Writes one line to stderr. A stderr that cannot be written (a full disk
/// under Batch's `stderr.txt`, a closed pipe) loses the line, not the run:
/// results go to files, and a failure still sets the exit code.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Progress through a run: a bar on a terminal, else a line per batch.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
}

impl Progress {
    pub fn new(total: u64, already: u64) -> Progress {
        let bar = (format() == LogFormat::Text && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} trades {msg}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_position(already);
            b
        });
        Progress { bar, total }
    }

    pub fn batch(&self, done: u64, path_steps_per_s: f64) {
        match &self.bar {
            Some(b) => {
                b.set_position(done);
                b.set_message(format!("{path_steps_per_s:.3e} path-steps/s"));
            }
            None => tracing::info!(done, total = self.total, path_steps_per_s, "progress"),
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
