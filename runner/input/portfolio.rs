//! riskpool's portfolio trades in JSON (docs/formats.md, "Portfolio").
//!
//! Each model, payoff and asset reads its own terms through `serde`
//! derive, beside its definition in `riskpool-kernels` (unknown fields
//! refused, only the documented defaults filled in), and checks them there
//! (`validate`). This module does what is common to them: it takes `type`
//! (dispatched through the kind registries, `ModelKind` and `PayoffKind`)
//! and `underlying` out of each object, reads the rest with
//! `serde_path_to_error` so that every error names the dotted field
//! (`model.vol`, `model.assets[1].spot`), and words serde's errors the way
//! the rest of riskpool's input errors read ("expected a number, got a
//! string"). `type` is read by hand rather than by `#[serde(tag = "type")]`
//! because an internally tagged enum buffers its content, and the path of
//! an error inside it would be lost.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use riskpool_kernels::correlation::{Correlation, CorrelationError};
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::market::dated::{self, DatedExercise, DatedPayoff, DatedTerms};
use riskpool_kernels::market::Market;
use riskpool_kernels::model::{Gbm, Heston, ModelKind, ModelSpec};
use riskpool_kernels::multi::{
    Extension, GbmAsset, HestonAsset, MultiAsset, MultiModel, MultiPayoff, RainbowKind,
};
use riskpool_kernels::payoff::{European, OptionType, PayoffKind, PayoffSpec};
use riskpool_kernels::qmc::{Rng, DEFAULT_REPLICATES};
use riskpool_kernels::rng::stream_id_of;
use riskpool_kernels::Trade;

use super::{error_at, InputError};
use crate::cli::Naming;

/// Where the object being read is: the file, the line and the dotted
/// field of the object itself (`""` for the trade, `model`, `payoff`).
#[derive(Clone, Copy)]
struct At<'a> {
    path: &'a Path,
    line: u64,
    field: &'a str,
    /// The keys taken out of the object before its reader ran (`type`,
    /// `underlying`, `style`): named among its fields when one is unknown.
    taken: &'a [&'a str],
}

impl At<'_> {
    /// The dotted name of `key` inside this object.
    fn name(&self, key: &str) -> String {
        if self.field.is_empty() {
            key.to_string()
        } else if key.starts_with('[') {
            format!("{}{key}", self.field)
        } else {
            format!("{}.{key}", self.field)
        }
    }

    fn err(&self, key: &str, message: impl Into<String>) -> InputError {
        error_at(self.path, self.line, Some(&self.name(key)), message)
    }

    fn whole(&self, message: impl Into<String>) -> InputError {
        let field = (!self.field.is_empty()).then_some(self.field);
        error_at(self.path, self.line, field, message)
    }

    /// Reads `value` as a `T`, or the error at its field, worded as
    /// riskpool words input errors.
    fn read<T: for<'de> Deserialize<'de>>(&self, value: Value) -> Result<T, InputError> {
        self.read_with(value, |d| T::deserialize(d))
    }

    /// Reads `value` through `read`, a derived reader chosen at run time
    /// (`ModelSpec::from_terms` for a kind), with the same errors as
    /// [`At::read`].
    fn read_with<T>(
        &self,
        value: Value,
        read: impl for<'a, 'b> FnOnce(
            serde_path_to_error::Deserializer<'a, 'b, Value>,
        ) -> Result<T, serde_json::Error>,
    ) -> Result<T, InputError> {
        let mut track = serde_path_to_error::Track::new();
        let d = serde_path_to_error::Deserializer::new(value, &mut track);
        read(d).map_err(|e| {
            let path = track.path();
            let mut key = String::new();
            for seg in path.iter() {
                match seg {
                    serde_path_to_error::Segment::Seq { index } => {
                        key.push_str(&format!("[{index}]"))
                    }
                    serde_path_to_error::Segment::Map { key: k } => {
                        if !key.is_empty() {
                            key.push('.');
                        }
                        key.push_str(k)
                    }
                    _ => {}
                }
            }
            let (key, mut message) = worded(&key, &e.to_string());
            if let Some(list) = message.strip_prefix("unknown field; expected one of: ") {
                let all: Vec<&str> = self
                    .taken
                    .iter()
                    .copied()
                    .chain(list.split(", ").filter(|n| !n.is_empty()))
                    .collect();
                message = format!("unknown field; expected one of: {}", all.join(", "));
            }
            if key.is_empty() {
                self.whole(message)
            } else {
                self.err(&key, message)
            }
        })
    }
}

/// serde's error `message` at `key` (dotted, inside the object read) as
/// riskpool's input errors say it: the field it is about and what was
/// wrong. A missing or unknown field names that field itself. Only the
/// start of serde's message and the names serde lists are read from it:
/// the rest may quote the user's own text.
fn worded(key: &str, message: &str) -> (String, String) {
    let join = |k: &str, name: &str| {
        if k.is_empty() {
            name.to_string()
        } else {
            format!("{k}.{name}")
        }
    };
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return (join(key, name), "missing".into());
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // The path ends at the unknown key; what serde lists after the
        // last `, expected` are the struct's own field names.
        let choices = match rest.rsplit_once("`, expected ") {
            Some((_, e)) => names_in(e),
            None => Vec::new(),
        };
        let key = if key.is_empty() {
            rest.rsplit_once('`').map_or(rest, |(n, _)| n).to_string()
        } else {
            key.to_string()
        };
        return (
            key,
            format!("unknown field; expected one of: {}", choices.join(", ")),
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((got, want)) = rest.rsplit_once(", expected ") {
                return (key.to_string(), expected(key, want, got));
            }
        }
    }
    (key.to_string(), message.to_string())
}

/// "expected a number, got a string", from serde's `want` (`f64`, `u64`,
/// `a string`, `a map`...) and `got` (`string "x"`, `integer `5``, ...).
fn expected(key: &str, want: &str, got: &str) -> String {
    // The number itself where it is one; a string's text is never quoted.
    let number = ["integer `", "floating point `"]
        .iter()
        .find_map(|p| got.strip_prefix(p))
        .and_then(|n| n.strip_suffix('`'));
    let kind = if got.starts_with("string") {
        "a string"
    } else if number.is_some() {
        "a number"
    } else if got.starts_with("boolean") {
        "a boolean"
    } else if got.starts_with("map") {
        "an object"
    } else if got.starts_with("sequence") {
        "an array"
    } else if got.starts_with("unit") || got.starts_with("null") {
        "null"
    } else {
        got
    };
    let whole = matches!(want, "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64");
    if whole && key.contains("steps[") {
        return format!(
            "expected a step number (1-based), got {}",
            number.unwrap_or(kind)
        );
    }
    if whole {
        return format!(
            "expected a positive integer, got {}",
            number.unwrap_or(kind)
        );
    }
    let want = match want {
        "f64" | "f32" => "a number",
        "a string" | "a borrowed string" => "a string",
        w if w.starts_with("struct") || w == "a map" => "an object",
        w if w.starts_with("a sequence") => "an array",
        w => w,
    };
    format!("expected {want}, got {kind}")
}

/// The names serde lists as `` `a`, `b` or `c` ``.
fn names_in(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// An object's fields, or the error naming `at` and what it holds.
fn object(value: Value, at: At) -> Result<Map<String, Value>, InputError> {
    match value {
        Value::Object(m) => Ok(m),
        other => Err(at.whole(format!("expected an object, got {}", kind(&other)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `type`, taken out of an object: a string naming one of `choices`.
fn take_type(m: &mut Map<String, Value>, at: At, choices: &[&str]) -> Result<String, InputError> {
    match m.remove("type") {
        None => Err(at.err("type", "missing")),
        Some(Value::String(s)) if choices.contains(&s.as_str()) => Ok(s),
        Some(Value::String(s)) => Err(at.err(
            "type",
            format!("`{s}` is not one of: {}", choices.join(", ")),
        )),
        Some(other) => Err(at.err("type", format!("expected a string, got {}", kind(&other)))),
    }
}

/// `underlying`, taken out of an object: absent, or a non-empty name.
fn take_underlying(m: &mut Map<String, Value>, at: At) -> Result<Option<String>, InputError> {
    match m.remove("underlying") {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim() == s => Ok(Some(s)),
        Some(Value::String(_)) => Err(at.err(
            "underlying",
            "must be a name without leading or trailing spaces, not empty",
        )),
        Some(other) => Err(at.err(
            "underlying",
            format!("expected a string, got {}", kind(&other)),
        )),
    }
}

/// The model types with several assets (not in [`ModelKind`]: their
/// records on the GPU are another family).
const MULTI_MODELS: [&str; 2] = ["gbm_multi", "heston_multi"];
const MULTI_PAYOFFS: [&str; 2] = ["basket", "rainbow"];

/// The terms of a trade, as its JSON object holds them; `model`, `payoff`
/// and `exercise` are read by their own readers once their kind is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TradeTerms {
    id: String,
    model: Value,
    payoff: Value,
    maturity: f64,
    steps: u64,
    paths: u64,
    #[serde(default)]
    exercise: Option<Value>,
    #[serde(default)]
    rng: Option<Value>,
    #[serde(default)]
    qmc: Option<Value>,
}

/// A trade's `qmc` terms (with `rng: "sobol"`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QmcTerms {
    replicates: u32,
}

/// A trade's own `rng` (`"philox"` or `"sobol"`) and `qmc`; `None`: the
/// run's (`--rng`).
fn trade_rng(rng: Option<Value>, qmc: Option<Value>, top: At) -> Result<Option<Rng>, InputError> {
    let rng = match rng {
        None => None,
        Some(Value::String(s)) if s == "philox" => Some(Rng::Philox),
        Some(Value::String(s)) if s == "sobol" => Some(Rng::Sobol {
            replicates: DEFAULT_REPLICATES,
        }),
        Some(other) => {
            return Err(top.err(
                "rng",
                format!("expected \"philox\" or \"sobol\", got {other}"),
            ))
        }
    };
    match (rng, qmc) {
        (rng, None) => Ok(rng),
        (Some(Rng::Sobol { .. }), Some(v)) => {
            let at = At {
                field: "qmc",
                taken: &[],
                ..top
            };
            let terms: QmcTerms = at.read(v)?;
            Ok(Some(Rng::Sobol {
                replicates: terms.replicates,
            }))
        }
        (_, Some(_)) => Err(top.err(
            "qmc",
            "goes with \"rng\": \"sobol\" (the replicates of the trade's Sobol points)",
        )),
    }
}

/// A `gbm_multi` or `heston_multi` model's terms beside `type` (the assets
/// read one by one, after their `underlying` is taken out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultiTerms {
    rate: f64,
    assets: Vec<Value>,
    correlation: Vec<Vec<f64>>,
}

/// A `basket`'s terms beside `type`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasketTerms {
    option: OptionType,
    strike: f64,
    weights: Vec<f64>,
}

/// A `rainbow`'s terms beside `type`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RainbowTerms {
    option: OptionType,
    strike: f64,
    kind: RainbowKind,
}

/// A `bermudan` exercise's terms beside `style`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BermudanTerms {
    steps: Vec<u32>,
}

/// An exercise with no terms beside `style`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoTerms {}

/// A model on several assets; its underlying names, one per asset.
fn multi_model(
    name: &str,
    m: Map<String, Value>,
    at: At,
) -> Result<(MultiModel, Underlyings), InputError> {
    let terms: MultiTerms = at.read(Value::Object(m))?;
    let n = terms.assets.len();
    let correlation = Correlation::new(&terms.correlation, n).map_err(|e| {
        // Too many assets is the assets' fault, not the matrix's.
        let key = match e {
            CorrelationError::TooMany { .. } => "assets",
            _ => "correlation",
        };
        at.err(key, e.to_string())
    })?;
    let mut names = Vec::with_capacity(n);
    let mut gbm = Vec::new();
    let mut heston = Vec::new();
    for (i, a) in terms.assets.into_iter().enumerate() {
        let field = at.name(&format!("assets[{i}]"));
        let asset = At {
            field: &field,
            taken: &["underlying"],
            ..at
        };
        let mut a = object(a, asset)?;
        names.push(take_underlying(&mut a, asset)?);
        if name == "gbm_multi" {
            gbm.push(asset.read::<GbmAsset>(Value::Object(a))?);
        } else {
            heston.push(asset.read::<HestonAsset>(Value::Object(a))?);
        }
    }
    let model = if name == "gbm_multi" {
        MultiModel::GbmMulti {
            rate: terms.rate,
            assets: gbm,
            correlation,
        }
    } else {
        MultiModel::HestonMulti {
            rate: terms.rate,
            assets: heston,
            correlation,
        }
    };
    Ok((model, names))
}

fn multi_payoff(name: &str, m: Map<String, Value>, at: At) -> Result<MultiPayoff, InputError> {
    Ok(if name == "basket" {
        let t: BasketTerms = at.read(Value::Object(m))?;
        MultiPayoff::Basket {
            option: t.option,
            strike: t.strike,
            weights: t.weights,
        }
    } else {
        let t: RainbowTerms = at.read(Value::Object(m))?;
        MultiPayoff::Rainbow {
            option: t.option,
            strike: t.strike,
            kind: t.kind,
        }
    })
}

fn exercise(value: Value, at: At) -> Result<Exercise, InputError> {
    let mut m = object(value, at)?;
    let style = match m.remove("style") {
        None => return Err(at.err("style", "missing")),
        Some(v) => v,
    };
    let choices = ["european", "american", "bermudan"];
    let rest = Value::Object(m);
    match style.as_str() {
        Some("european") => at.read::<NoTerms>(rest).map(|_| Exercise::European),
        Some("american") => at.read::<NoTerms>(rest).map(|_| Exercise::American),
        Some("bermudan") => at
            .read::<BermudanTerms>(rest)
            .map(|t| Exercise::Bermudan { steps: t.steps }),
        Some(s) => Err(at.err(
            "style",
            format!("`{s}` is not one of: {}", choices.join(", ")),
        )),
        None => Err(at.err("style", format!("expected a string, got {}", kind(&style)))),
    }
}

/// The first asset of a multi-asset model as a one-asset model (the
/// trade's `model` field, names only: see `riskpool_kernels::multi`).
fn first_asset(m: &MultiModel) -> ModelSpec {
    match m {
        MultiModel::GbmMulti { rate, assets, .. } => ModelSpec::Gbm(Gbm {
            spot: assets.first().map_or(1.0, |a| a.spot),
            rate: *rate,
            dividend: assets.first().map_or(0.0, |a| a.dividend),
            vol: assets.first().map_or(0.0, |a| a.vol),
        }),
        MultiModel::HestonMulti { rate, assets, .. } => {
            let a = assets.first();
            ModelSpec::Heston(Heston {
                spot: a.map_or(1.0, |a| a.spot),
                rate: *rate,
                dividend: a.map_or(0.0, |a| a.dividend),
                v0: a.map_or(0.0, |a| a.v0),
                kappa: a.map_or(0.0, |a| a.kappa),
                theta: a.map_or(0.0, |a| a.theta),
                xi: a.map_or(0.0, |a| a.xi),
                rho: a.map_or(0.0, |a| a.rho),
            })
        }
    }
}

/// The underlying names of a trade, one per asset (`None` where the
/// asset names none: it does not move in scenarios). A single-asset
/// model's is `model.underlying`; a multi-asset model's,
/// `model.assets[i].underlying`.
pub type Underlyings = Vec<Option<String>>;

/// A positive count (`steps`, `paths`).
fn positive(at: At, key: &str, n: u64) -> Result<u64, InputError> {
    if n == 0 {
        Err(at.err(key, "expected a positive integer, got 0"))
    } else {
        Ok(n)
    }
}

/// One trade from its JSON value.
fn trade(
    path: &Path,
    line: u64,
    v: Value,
    market: Option<&Arc<Market>>,
    naming: Naming,
) -> Result<(Trade, Underlyings), InputError> {
    let top = At {
        path,
        line,
        field: "",
        taken: &[],
    };
    if !v.is_object() {
        return Err(error_at(
            path,
            line,
            Some("trade"),
            format!("expected an object, got {}", kind(&v)),
        ));
    }
    if v.get("expiry").is_some() {
        return dated_trade(top, v, market, naming);
    }
    // `Option` reads `null` as absent: an `exercise` of null is refused
    // here, as any other field of null is.
    if v.get("exercise").is_some_and(Value::is_null) {
        return Err(top.err("exercise", "expected an object, got null"));
    }
    let t: TradeTerms = top.read(v)?;
    if t.id.is_empty() {
        return Err(top.err("id", "must not be empty"));
    }
    let (mat, pat) = (
        At {
            field: "model",
            taken: &["type"],
            ..top
        },
        At {
            field: "payoff",
            taken: &["type"],
            ..top
        },
    );
    let mut mo = object(t.model, mat)?;
    let mut po = object(t.payoff, pat)?;
    let model_names: Vec<&str> = ModelKind::named()
        .into_iter()
        .map(|(n, _)| n)
        .chain(MULTI_MODELS)
        .collect();
    let payoff_names: Vec<&str> = PayoffKind::named()
        .into_iter()
        .map(|(n, _)| n)
        .chain(MULTI_PAYOFFS)
        .collect();
    let model_type = take_type(&mut mo, mat, &model_names)?;
    let payoff_type = take_type(&mut po, pat, &payoff_names)?;
    let multi_model_name = MULTI_MODELS.contains(&model_type.as_str());
    let multi_payoff_name = MULTI_PAYOFFS.contains(&payoff_type.as_str());
    let (m, p, multi, names) = match (multi_model_name, multi_payoff_name) {
        (true, true) => {
            let (mm, names) = multi_model(&model_type, mo, mat)?;
            let mp = multi_payoff(&payoff_type, po, pat)?;
            let one = first_asset(&mm);
            let (option, strike) = match &mp {
                MultiPayoff::Basket { option, strike, .. }
                | MultiPayoff::Rainbow { option, strike, .. } => (*option, *strike),
            };
            (
                one,
                PayoffSpec::European(European { option, strike }),
                Some(MultiAsset {
                    model: mm,
                    payoff: mp,
                }),
                names,
            )
        }
        (true, false) => {
            return Err(pat.err(
                "type",
                format!("a `{model_type}` model takes a payoff on several assets (basket, rainbow), not `{payoff_type}`"),
            ))
        }
        (false, true) => {
            return Err(pat.err(
                "type",
                format!("a `{payoff_type}` payoff needs a model on several assets (gbm_multi, heston_multi), not `{model_type}`"),
            ))
        }
        (false, false) => {
            let names = vec![take_underlying(&mut mo, mat)?];
            // take_type checked both names against the kinds' own.
            let (Some(mk), Some(pk)) = (
                ModelKind::parse(&model_type),
                PayoffKind::parse(&payoff_type),
            ) else {
                return Err(mat.err("type", "unknown"));
            };
            lookback_strike(&po, pat, &payoff_type)?;
            let mat = At {
                taken: &["type", "underlying"],
                ..mat
            };
            let m = mat.read_with(Value::Object(mo), |d| ModelSpec::from_terms(mk, d))?;
            let p = pat.read_with(Value::Object(po), |d| PayoffSpec::from_terms(pk, d))?;
            (m, p, None, names)
        }
    };
    let exercise = match t.exercise {
        Some(v) => Some(exercise(
            v,
            At {
                field: "exercise",
                taken: &["style"],
                ..top
            },
        )?),
        None => None,
    };
    let extension = match (multi, exercise) {
        (None, None) | (None, Some(Exercise::European)) => None,
        (multi, exercise) => Some(Box::new(Extension {
            multi,
            exercise: exercise.unwrap_or_default(),
        })),
    };
    let steps = positive(top, "steps", t.steps)?;
    let steps =
        u32::try_from(steps).map_err(|_| top.err("steps", format!("too large: {steps}")))?;
    let rng = trade_rng(t.rng, t.qmc, top)?;
    let trade = Trade {
        rng,
        stream: stream_id_of(&t.id),
        id: t.id,
        model: m,
        payoff: p,
        maturity: t.maturity,
        steps,
        paths: positive(top, "paths", t.paths)?,
        extension,
        dated: None,
    };
    Ok((trade, names))
}

/// A dated trade's terms beside its payoff ([`riskpool_kernels::market::dated`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatedFile {
    id: String,
    #[serde(default)]
    underlying: Option<String>,
    #[serde(default)]
    underlyings: Option<Vec<String>>,
    #[serde(default)]
    model: Option<String>,
    payoff: Value,
    expiry: String,
    #[serde(default)]
    fixings: Option<Vec<String>>,
    steps_per_year: u64,
    paths: u64,
    #[serde(default)]
    exercise: Option<Value>,
    #[serde(default)]
    rng: Option<Value>,
    #[serde(default)]
    qmc: Option<Value>,
}

/// A dated bermudan's exercise dates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatedBermudan {
    dates: Vec<String>,
}

/// A dated trade's `exercise`: a style, and a bermudan's dates.
fn dated_exercise(value: Value, at: At) -> Result<Option<DatedExercise>, InputError> {
    let mut m = object(value, at)?;
    let style = match m.remove("style") {
        None => return Err(at.err("style", "missing")),
        Some(v) => v,
    };
    let rest = Value::Object(m);
    match style.as_str() {
        Some("european") => at.read::<NoTerms>(rest).map(|_| None),
        Some("american") => at
            .read::<NoTerms>(rest)
            .map(|_| Some(DatedExercise::American)),
        Some("bermudan") => at
            .read::<DatedBermudan>(rest)
            .map(|t| Some(DatedExercise::Bermudan(t.dates))),
        Some(s) => Err(at.err(
            "style",
            format!("`{s}` is not one of: european, american, bermudan"),
        )),
        None => Err(at.err("style", format!("expected a string, got {}", kind(&style)))),
    }
}

/// A dated trade (one with an `expiry`), priced through the market file.
fn dated_trade(
    top: At,
    v: Value,
    market: Option<&Arc<Market>>,
    naming: Naming,
) -> Result<(Trade, Underlyings), InputError> {
    if v.get("exercise").is_some_and(Value::is_null) {
        return Err(top.err("exercise", "expected an object, got null"));
    }
    let t: DatedFile = top.read(v)?;
    if t.id.is_empty() {
        return Err(top.err("id", "must not be empty"));
    }
    let Some(market) = market else {
        return Err(top.err(
            "expiry",
            format!(
                "a dated trade (one with an `expiry`) is priced through a market: give {}",
                naming.option("market", Some(&"FILE"))
            ),
        ));
    };
    let underlyings = match (t.underlying, t.underlyings) {
        (Some(u), None) => vec![u],
        (None, Some(list)) if !list.is_empty() => list,
        (None, Some(_)) => return Err(top.err("underlyings", "empty: give at least one")),
        (None, None) => return Err(top.err("underlying", "missing (or `underlyings`, a list)")),
        (Some(_), Some(_)) => {
            return Err(top.err(
                "underlyings",
                "give `underlying` (one) or `underlyings` (several), not both",
            ))
        }
    };
    let pat = At {
        field: "payoff",
        taken: &["type"],
        ..top
    };
    let mut po = object(t.payoff, pat)?;
    let payoff_names: Vec<&str> = PayoffKind::named()
        .into_iter()
        .map(|(n, _)| n)
        .chain(MULTI_PAYOFFS)
        .collect();
    let payoff_type = take_type(&mut po, pat, &payoff_names)?;
    let payoff = if MULTI_PAYOFFS.contains(&payoff_type.as_str()) {
        DatedPayoff::Many(multi_payoff(&payoff_type, po, pat)?)
    } else {
        let Some(pk) = PayoffKind::parse(&payoff_type) else {
            return Err(pat.err("type", "unknown"));
        };
        if underlyings.len() > 1 {
            return Err(pat.err(
                "type",
                format!("`{payoff_type}` is on one underlying: several take a basket or rainbow"),
            ));
        }
        lookback_strike(&po, pat, &payoff_type)?;
        DatedPayoff::One(pat.read_with(Value::Object(po), |d| PayoffSpec::from_terms(pk, d))?)
    };
    let exercise = match t.exercise {
        None => None,
        Some(e) => dated_exercise(
            e,
            At {
                field: "exercise",
                taken: &["style"],
                ..top
            },
        )?,
    };
    let steps_per_year = u32::try_from(positive(top, "steps_per_year", t.steps_per_year)?)
        .map_err(|_| top.err("steps_per_year", "too large"))?;
    let terms = DatedTerms {
        id: t.id,
        underlyings: underlyings.clone(),
        model: t.model,
        payoff,
        expiry: t.expiry,
        fixings: t.fixings,
        steps_per_year,
        paths: positive(top, "paths", t.paths)?,
        exercise,
    };
    let rng = trade_rng(t.rng, t.qmc, top)?;
    let mut trade = dated::resolve(market, &terms).map_err(|e| top.err(&e.field, e.message))?;
    trade.rng = rng;
    Ok((trade, underlyings.into_iter().map(Some).collect()))
}

/// A lookback's `strike` goes with `strike_type`: required with a fixed
/// strike, refused with a floating one (the derived reader cannot tell a
/// strike given from one defaulted).
fn lookback_strike(po: &Map<String, Value>, at: At, payoff_type: &str) -> Result<(), InputError> {
    if payoff_type != "lookback" {
        return Ok(());
    }
    match (
        po.get("strike_type").and_then(Value::as_str),
        po.contains_key("strike"),
    ) {
        (Some("floating"), true) => {
            Err(at.err("strike", "a floating-strike lookback takes no strike"))
        }
        (Some("fixed"), false) => Err(at.err("strike", "missing")),
        _ => Ok(()),
    }
}

/// One line of a JSON Lines file.
/// A JSON value read as `serde_json::Value` is, except that an object
/// with the same key twice is an error naming the key (`Value` keeps the
/// last silently).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::from(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{k}`: each field may be given once"
                )));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Parses one JSON value, refusing duplicate keys.
fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

/// Reads a whole JSON text as [`strict_json`] does (a syntax error, or a
/// key given twice in one object, is an error at its line and column),
/// keeping nothing: for a file a typed reader reads next, whose maps
/// would keep the last of two keys silently.
pub(crate) fn check_strict_json(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<Checked>(text).map(|_| ())
}

/// A JSON value read and dropped; an object with a key twice is an error.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if keys.contains(&k) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{k}`: each field may be given once"
                )));
            }
            map.next_value::<Checked>()?;
            keys.insert(k);
        }
        Ok(Checked)
    }
}

#[cfg(test)]
pub fn parse_line(path: &Path, line: u64, text: &str) -> Result<Trade, InputError> {
    parse_line_named(path, line, text, None, Naming::Flags).map(|(t, _)| t)
}

/// [`parse_line`] with the trade's underlying names.
pub fn parse_line_named(
    path: &Path,
    line: u64,
    text: &str,
    market: Option<&Arc<Market>>,
    naming: Naming,
) -> Result<(Trade, Underlyings), InputError> {
    let v: Value = strict_json(text).map_err(|e| {
        let field = field_at(text, e.line(), e.column(), 0);
        error_at(path, line, field.as_deref(), format!("invalid JSON: {e}"))
    })?;
    trade(path, line, v, market, naming)
}

/// The dotted field (`model.spot`, `model.assets[1].vol`) at 1-based
/// `line` and `column` of JSON `text` that a syntax error (a bare `NaN`, a
/// number out of range) stopped at: the keys and indices open there, read
/// from the text before it. `outer` leaves out that many enclosing levels
/// (1 for the array of a JSON array file).
pub(crate) fn field_at(text: &str, line: usize, column: usize, outer: usize) -> Option<String> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let end = (start + column.saturating_sub(1)).min(text.len());
    let head = text.get(..end)?;
    // (is an object, its current key, an array's index)
    let mut stack: Vec<(bool, String, usize)> = Vec::new();
    let mut last = String::new();
    let mut chars = head.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                last.clear();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        c => last.push(c),
                    }
                }
            }
            ':' => {
                if let Some(top) = stack.last_mut().filter(|t| t.0) {
                    top.1 = std::mem::take(&mut last);
                }
            }
            '{' => stack.push((true, String::new(), 0)),
            '[' => stack.push((false, String::new(), 0)),
            '}' | ']' => {
                stack.pop();
            }
            ',' => {
                if let Some(top) = stack.last_mut() {
                    if top.0 {
                        top.1.clear();
                    } else {
                        top.2 += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut path = String::new();
    for (is_object, key, index) in stack.iter().skip(outer) {
        if *is_object {
            if key.is_empty() {
                break;
            }
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        } else {
            path.push_str(&format!("[{index}]"));
        }
    }
    (!path.is_empty()).then_some(path)
}

/// A whole JSON array file, each trade with the line its object starts on.
pub fn parse_array(
    path: &Path,
    text: &str,
    market: Option<&Arc<Market>>,
    naming: Naming,
) -> Result<Vec<(u64, Result<(Trade, Underlyings), InputError>)>, InputError> {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
        let field = field_at(text, e.line(), e.column(), 1);
        error_at(
            path,
            e.line() as u64,
            field.as_deref(),
            format!("invalid JSON array: {e}"),
        )
    })?;
    if items.is_empty() {
        return Err(error_at(path, 1, None, "the array holds no trades"));
    }
    let base = text.as_ptr() as usize;
    Ok(items
        .into_iter()
        .map(|raw| {
            let offset = raw.get().as_ptr() as usize - base;
            let line = 1 + text[..offset].bytes().filter(|&b| b == b'\n').count() as u64;
            let parsed = strict_json(raw.get())
                .map_err(|e| {
                    // The error's line within the item, as a line of the file.
                    let at = line + e.line().saturating_sub(1) as u64;
                    let field = field_at(raw.get(), e.line(), e.column(), 0);
                    error_at(path, at, field.as_deref(), format!("invalid JSON: {e}"))
                })
                .and_then(|v| trade(path, line, v, market, naming));
            (line, parsed)
        })
        .collect())
}
