//! What the runner tells people and machines while it works: a progress
//! bar when stderr is a terminal, and otherwise one line per event, plain
//! (`riskpool: message key=value ...`) or JSON (`--log-format json`, one
//! object per line with `ts`, `level`, `msg` and the fields) for Batch's
//! stderr.txt and log collectors.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

pub fn set_format(f: LogFormat) {
    let _ = FORMAT.set(f);
}

pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Writes one event; `fields` is a JSON object (or null).
pub fn event(level: &str, msg: &str, fields: Value) {
    match format() {
        LogFormat::Json => {
            let mut o = Map::new();
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            o.insert("ts".into(), Value::from(ts));
            o.insert("level".into(), Value::from(level));
            o.insert("msg".into(), Value::from(msg));
            if let Value::Object(f) = fields {
                o.extend(f);
            }
            eprintln!("{}", Value::Object(o));
        }
        LogFormat::Text => {
            let mut line = if level == "info" {
                format!("riskpool: {msg}")
            } else {
                format!("riskpool: {level}: {msg}")
            };
            if let Value::Object(f) = fields {
                for (k, v) in f {
                    match v {
                        Value::String(s) => line.push_str(&format!(" {k}={s}")),
                        other => line.push_str(&format!(" {k}={other}")),
                    }
                }
            }
            eprintln!("{line}");
        }
    }
}

pub fn info(msg: &str, fields: Value) {
    event("info", msg, fields);
}

pub fn warn(msg: &str, fields: Value) {
    event("warning", msg, fields);
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
            None => info(
                "progress",
                serde_json::json!({"done": done, "total": self.total, "path_steps_per_s": path_steps_per_s}),
            ),
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
