//! riskpool's portfolio trades in JSON (shared/DESIGN.md, "Portfolio file").
//!
//! Parsed from `serde_json::Value` by hand rather than derived, so that
//! every error names the dotted field (`model.vol`) and says what was
//! expected, unknown fields are rejected, and nothing but the documented
//! defaults (`dividend`, `monitoring`, `rebate`) is filled in.

use std::path::Path;

use serde_json::{Map, Value};

use riskpool_kernels::correlation::Correlation;
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::model::{Gbm, Heston, ModelKind, ModelSpec, SvFx};
use riskpool_kernels::multi::{
    Extension, GbmAsset, HestonAsset, MultiAsset, MultiModel, MultiPayoff, RainbowKind,
};
use riskpool_kernels::payoff::{
    Asian, Average, Barrier, Digital, Direction, DoubleBarrier, European, FxWarrant, Knock,
    Lookback, Monitoring, OptionType, PayoffKind, PayoffSpec, StrikeType,
};
use riskpool_kernels::rng::stream_id_of;
use riskpool_kernels::Trade;

use super::{error_at, InputError};

/// A JSON object being read, with the path and line its errors name.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
    path: &'a Path,
    line: u64,
}

impl<'a> Obj<'a> {
    fn field_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn err(&self, key: &str, message: impl Into<String>) -> InputError {
        error_at(self.path, self.line, Some(&self.field_name(key)), message)
    }

    fn get(&self, key: &str) -> Result<&'a Value, InputError> {
        self.map.get(key).ok_or_else(|| self.err(key, "missing"))
    }

    fn num(&self, key: &str) -> Result<f64, InputError> {
        let v = self.get(key)?;
        v.as_f64()
            .ok_or_else(|| self.err(key, format!("expected a number, got {}", kind(v))))
    }

    fn num_or(&self, key: &str, default: f64) -> Result<f64, InputError> {
        if self.map.contains_key(key) {
            self.num(key)
        } else {
            Ok(default)
        }
    }

    fn count(&self, key: &str) -> Result<u64, InputError> {
        let v = self.get(key)?;
        match v.as_u64() {
            Some(n) if n > 0 => Ok(n),
            _ => Err(self.err(key, format!("expected a positive integer, got {}", show(v)))),
        }
    }

    fn choice<T: Copy>(&self, key: &str, choices: &[(&str, T)]) -> Result<T, InputError> {
        let v = self.get(key)?;
        let s = v
            .as_str()
            .ok_or_else(|| self.err(key, format!("expected a string, got {}", kind(v))))?;
        choices
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.err(key, format!("`{s}` is not one of: {}", names.join(", ")))
            })
    }

    fn choice_or<T: Copy>(
        &self,
        key: &str,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, InputError> {
        if self.map.contains_key(key) {
            self.choice(key, choices)
        } else {
            Ok(default)
        }
    }

    /// Rejects any field not in `known`.
    fn only(&self, known: &[&str]) -> Result<(), InputError> {
        for k in self.map.keys() {
            if !known.contains(&k.as_str()) {
                return Err(self.err(
                    k,
                    format!("unknown field; expected one of: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
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

fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_string(),
    }
}

const OPTION: [(&str, OptionType); 2] = [("call", OptionType::Call), ("put", OptionType::Put)];
const MONITORING: [(&str, Monitoring); 2] = [
    ("discrete", Monitoring::Discrete),
    ("continuous", Monitoring::Continuous),
];

fn object<'a>(
    v: &'a Value,
    prefix: &'static str,
    path: &'a Path,
    line: u64,
    name: &str,
) -> Result<Obj<'a>, InputError> {
    match v {
        Value::Object(map) => Ok(Obj {
            map,
            prefix,
            path,
            line,
        }),
        other => Err(error_at(
            path,
            line,
            Some(name),
            format!("expected an object, got {}", kind(other)),
        )),
    }
}

fn model(o: &Obj) -> Result<ModelSpec, InputError> {
    Ok(match o.choice("type", &ModelKind::named())? {
        ModelKind::Gbm => {
            o.only(&["type", "spot", "rate", "dividend", "vol", "underlying"])?;
            ModelSpec::Gbm(Gbm {
                spot: o.num("spot")?,
                rate: o.num("rate")?,
                dividend: o.num_or("dividend", 0.0)?,
                vol: o.num("vol")?,
            })
        }
        ModelKind::Heston => {
            o.only(&[
                "type",
                "spot",
                "rate",
                "dividend",
                "v0",
                "kappa",
                "theta",
                "xi",
                "rho",
                "underlying",
            ])?;
            ModelSpec::Heston(Heston {
                spot: o.num("spot")?,
                rate: o.num("rate")?,
                dividend: o.num_or("dividend", 0.0)?,
                v0: o.num("v0")?,
                kappa: o.num("kappa")?,
                theta: o.num("theta")?,
                xi: o.num("xi")?,
                rho: o.num("rho")?,
            })
        }
        ModelKind::SvFx => {
            o.only(&[
                "type",
                "spot",
                "drift",
                "sigma",
                "volvol",
                "rho",
                "underlying",
            ])?;
            ModelSpec::SvFx(SvFx {
                spot: o.num("spot")?,
                drift: o.num("drift")?,
                sigma: o.num("sigma")?,
                volvol: o.num("volvol")?,
                rho: o.num("rho")?,
            })
        }
    })
}

fn payoff(o: &Obj) -> Result<PayoffSpec, InputError> {
    Ok(match o.choice("type", &PayoffKind::named())? {
        PayoffKind::European => {
            o.only(&["type", "option", "strike"])?;
            PayoffSpec::European(European {
                option: o.choice("option", &OPTION)?,
                strike: o.num("strike")?,
            })
        }
        PayoffKind::Digital => {
            o.only(&["type", "option", "strike", "cash"])?;
            PayoffSpec::Digital(Digital {
                option: o.choice("option", &OPTION)?,
                strike: o.num("strike")?,
                cash: o.num("cash")?,
            })
        }
        PayoffKind::Asian => {
            o.only(&["type", "option", "strike", "average"])?;
            PayoffSpec::Asian(Asian {
                option: o.choice("option", &OPTION)?,
                strike: o.num("strike")?,
                average: o.choice(
                    "average",
                    &[
                        ("arithmetic", Average::Arithmetic),
                        ("geometric", Average::Geometric),
                    ],
                )?,
            })
        }
        PayoffKind::Barrier => {
            o.only(&[
                "type",
                "option",
                "strike",
                "barrier",
                "direction",
                "knock",
                "monitoring",
                "rebate",
            ])?;
            PayoffSpec::Barrier(Barrier {
                option: o.choice("option", &OPTION)?,
                strike: o.num("strike")?,
                barrier: o.num("barrier")?,
                direction: o.choice(
                    "direction",
                    &[("up", Direction::Up), ("down", Direction::Down)],
                )?,
                knock: o.choice("knock", &[("in", Knock::In), ("out", Knock::Out)])?,
                monitoring: o.choice_or("monitoring", &MONITORING, Monitoring::Discrete)?,
                rebate: o.num_or("rebate", 0.0)?,
            })
        }
        PayoffKind::Lookback => {
            let strike_type = o.choice(
                "strike_type",
                &[
                    ("floating", StrikeType::Floating),
                    ("fixed", StrikeType::Fixed),
                ],
            )?;
            let strike = match strike_type {
                StrikeType::Fixed => {
                    o.only(&["type", "option", "strike_type", "strike"])?;
                    o.num("strike")?
                }
                StrikeType::Floating => {
                    if o.map.contains_key("strike") {
                        return Err(o.err("strike", "a floating-strike lookback takes no strike"));
                    }
                    o.only(&["type", "option", "strike_type"])?;
                    0.0
                }
            };
            PayoffSpec::Lookback(Lookback {
                option: o.choice("option", &OPTION)?,
                strike_type,
                strike,
            })
        }
        PayoffKind::DoubleBarrier => {
            o.only(&[
                "type",
                "option",
                "strike",
                "lower",
                "upper",
                "monitoring",
                "rebate",
            ])?;
            PayoffSpec::DoubleBarrier(DoubleBarrier {
                option: o.choice("option", &OPTION)?,
                strike: o.num("strike")?,
                lower: o.num("lower")?,
                upper: o.num("upper")?,
                monitoring: o.choice_or("monitoring", &MONITORING, Monitoring::Discrete)?,
                rebate: o.num_or("rebate", 0.0)?,
            })
        }
        PayoffKind::FxWarrant => {
            o.only(&["type", "strike", "warrants", "notional_per_warrant"])?;
            PayoffSpec::FxWarrant(FxWarrant {
                strike: o.num("strike")?,
                warrants: o.num("warrants")?,
                notional_per_warrant: o.num("notional_per_warrant")?,
            })
        }
    })
}

/// The model types with several assets (not in [`ModelKind`]: no GPU
/// kernel carries them yet).
const MULTI_MODELS: [&str; 2] = ["gbm_multi", "heston_multi"];
const MULTI_PAYOFFS: [&str; 2] = ["basket", "rainbow"];

fn type_of<'a>(o: &Obj<'a>) -> Option<&'a str> {
    o.map.get("type").and_then(Value::as_str)
}

/// A number at `field` of an object nested in an array.
fn item_num(
    o: &Obj,
    field: &str,
    m: &Map<String, Value>,
    key: &str,
    default: Option<f64>,
) -> Result<f64, InputError> {
    let name = format!("{field}.{key}");
    match m.get(key) {
        Some(v) => v.as_f64().ok_or_else(|| {
            error_at(
                o.path,
                o.line,
                Some(&name),
                format!("expected a number, got {}", kind(v)),
            )
        }),
        None => default.ok_or_else(|| error_at(o.path, o.line, Some(&name), "missing")),
    }
}

/// A list of numbers at `key`.
fn numbers(o: &Obj, key: &str, v: &Value) -> Result<Vec<f64>, InputError> {
    let Value::Array(items) = v else {
        return Err(o.err(
            key,
            format!("expected an array of numbers, got {}", kind(v)),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64().ok_or_else(|| {
                o.err(
                    &format!("{key}[{i}]"),
                    format!("expected a number, got {}", kind(x)),
                )
            })
        })
        .collect()
}

fn multi_model(o: &Obj, name: &str) -> Result<MultiModel, InputError> {
    o.only(&["type", "rate", "assets", "correlation"])?;
    let rate = o.num("rate")?;
    let Value::Array(items) = o.get("assets")? else {
        return Err(o.err("assets", "expected an array of asset objects"));
    };
    let n = items.len();
    let rows = match o.get("correlation")? {
        Value::Array(rows) => rows
            .iter()
            .enumerate()
            .map(|(i, r)| numbers(o, &format!("correlation[{i}]"), r))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(o.err(
                "correlation",
                format!("expected an array of rows, got {}", kind(other)),
            ))
        }
    };
    let correlation =
        Correlation::new(&rows, n).map_err(|e| o.err("correlation", e.to_string()))?;
    let mut objs = Vec::with_capacity(n);
    for (i, a) in items.iter().enumerate() {
        let field = format!("{}assets[{i}]", o.prefix);
        let Value::Object(m) = a else {
            return Err(error_at(
                o.path,
                o.line,
                Some(&field),
                format!("expected an object, got {}", kind(a)),
            ));
        };
        objs.push((field, m));
    }
    let unknown = |field: &str, m: &Map<String, Value>, known: &[&str]| {
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                return Err(error_at(
                    o.path,
                    o.line,
                    Some(&format!("{field}.{k}")),
                    format!("unknown field; expected one of: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    };
    Ok(if name == "gbm_multi" {
        let mut assets = Vec::with_capacity(n);
        for (f, m) in &objs {
            unknown(f, m, &["spot", "vol", "dividend", "underlying"])?;
            assets.push(GbmAsset {
                spot: item_num(o, f, m, "spot", None)?,
                vol: item_num(o, f, m, "vol", None)?,
                dividend: item_num(o, f, m, "dividend", Some(0.0))?,
            });
        }
        MultiModel::GbmMulti {
            rate,
            assets,
            correlation,
        }
    } else {
        let mut assets = Vec::with_capacity(n);
        for (f, m) in &objs {
            unknown(
                f,
                m,
                &[
                    "spot",
                    "dividend",
                    "v0",
                    "kappa",
                    "theta",
                    "xi",
                    "rho",
                    "underlying",
                ],
            )?;
            assets.push(HestonAsset {
                spot: item_num(o, f, m, "spot", None)?,
                dividend: item_num(o, f, m, "dividend", Some(0.0))?,
                v0: item_num(o, f, m, "v0", None)?,
                kappa: item_num(o, f, m, "kappa", None)?,
                theta: item_num(o, f, m, "theta", None)?,
                xi: item_num(o, f, m, "xi", None)?,
                rho: item_num(o, f, m, "rho", None)?,
            });
        }
        MultiModel::HestonMulti {
            rate,
            assets,
            correlation,
        }
    })
}

fn multi_payoff(o: &Obj, name: &str) -> Result<MultiPayoff, InputError> {
    Ok(if name == "basket" {
        o.only(&["type", "option", "strike", "weights"])?;
        MultiPayoff::Basket {
            option: o.choice("option", &OPTION)?,
            strike: o.num("strike")?,
            weights: numbers(o, "weights", o.get("weights")?)?,
        }
    } else {
        o.only(&["type", "option", "strike", "kind"])?;
        MultiPayoff::Rainbow {
            option: o.choice("option", &OPTION)?,
            strike: o.num("strike")?,
            kind: o.choice(
                "kind",
                &[("max", RainbowKind::Max), ("min", RainbowKind::Min)],
            )?,
        }
    })
}

fn exercise(o: &Obj) -> Result<Exercise, InputError> {
    #[derive(Clone, Copy)]
    enum Style {
        European,
        American,
        Bermudan,
    }
    let style = o.choice(
        "style",
        &[
            ("european", Style::European),
            ("american", Style::American),
            ("bermudan", Style::Bermudan),
        ],
    )?;
    Ok(match style {
        Style::European => {
            o.only(&["style"])?;
            Exercise::European
        }
        Style::American => {
            o.only(&["style"])?;
            Exercise::American
        }
        Style::Bermudan => {
            o.only(&["style", "steps"])?;
            let Value::Array(items) = o.get("steps")? else {
                return Err(o.err("steps", "expected an array of step numbers"));
            };
            let steps = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_u64()
                        .and_then(|s| u32::try_from(s).ok())
                        .ok_or_else(|| {
                            o.err(
                                &format!("steps[{i}]"),
                                format!("expected a step number (1-based), got {}", show(v)),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Exercise::Bermudan { steps }
        }
    })
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

/// `underlying` of `m` (at dotted `field`): absent, or a non-empty string.
fn underlying_of(
    path: &Path,
    line: u64,
    field: &str,
    m: &Map<String, Value>,
) -> Result<Option<String>, InputError> {
    match m.get("underlying") {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim() == s => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(error_at(
            path,
            line,
            Some(field),
            "must be a name without leading or trailing spaces, not empty",
        )),
        Some(other) => Err(error_at(
            path,
            line,
            Some(field),
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

/// The names of a parsed trade's assets (see [`Underlyings`]).
fn underlyings(mo: &Obj, multi: bool) -> Result<Underlyings, InputError> {
    if !multi {
        return Ok(vec![underlying_of(
            mo.path,
            mo.line,
            "model.underlying",
            mo.map,
        )?]);
    }
    let Some(Value::Array(items)) = mo.map.get("assets") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, a)| match a {
            Value::Object(m) => underlying_of(
                mo.path,
                mo.line,
                &format!("model.assets[{i}].underlying"),
                m,
            ),
            _ => Ok(None),
        })
        .collect()
}

/// One trade from its JSON value.
fn trade(path: &Path, line: u64, v: &Value) -> Result<(Trade, Underlyings), InputError> {
    let o = object(v, "", path, line, "trade")?;
    o.only(&[
        "id", "model", "payoff", "maturity", "steps", "paths", "exercise",
    ])?;
    let id = match o.get("id")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::String(_) => return Err(o.err("id", "must not be empty")),
        other => return Err(o.err("id", format!("expected a string, got {}", kind(other)))),
    };
    let mo = object(o.get("model")?, "model.", path, line, "model")?;
    let po = object(o.get("payoff")?, "payoff.", path, line, "payoff")?;
    // A type that is neither kind is named with every choice.
    for (obj, one, multi) in [
        (
            &mo,
            ModelKind::named()
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>(),
            &MULTI_MODELS[..],
        ),
        (
            &po,
            PayoffKind::named().into_iter().map(|(n, _)| n).collect(),
            &MULTI_PAYOFFS[..],
        ),
    ] {
        if let Some(t) = type_of(obj) {
            if !one.contains(&t) && !multi.contains(&t) {
                let all: Vec<&str> = one.iter().chain(multi).copied().collect();
                return Err(obj.err("type", format!("`{t}` is not one of: {}", all.join(", "))));
            }
        }
    }
    let multi_model_name = type_of(&mo).filter(|t| MULTI_MODELS.contains(t));
    let multi_payoff_name = type_of(&po).filter(|t| MULTI_PAYOFFS.contains(t));
    let (m, p, multi) = match (multi_model_name, multi_payoff_name) {
        (Some(mn), Some(pn)) => {
            let mm = multi_model(&mo, mn)?;
            let mp = multi_payoff(&po, pn)?;
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
            )
        }
        (Some(mn), None) => {
            return Err(po.err(
                "type",
                format!(
                    "a `{mn}` model takes a payoff on several assets (basket, rainbow), not `{}`",
                    type_of(&po).unwrap_or("?")
                ),
            ))
        }
        (None, Some(pn)) => {
            return Err(po.err(
                "type",
                format!(
                    "a `{pn}` payoff needs a model on several assets (gbm_multi, heston_multi), not `{}`",
                    type_of(&mo).unwrap_or("?")
                ),
            ))
        }
        (None, None) => (model(&mo)?, payoff(&po)?, None),
    };
    let exercise = match o.map.get("exercise") {
        Some(v) => Some(exercise(&object(v, "exercise.", path, line, "exercise")?)?),
        None => None,
    };
    let extension = match (multi, exercise) {
        (None, None) | (None, Some(Exercise::European)) => None,
        (multi, exercise) => Some(Box::new(Extension {
            multi,
            exercise: exercise.unwrap_or_default(),
        })),
    };
    let names = underlyings(&mo, extension.as_ref().is_some_and(|e| e.multi.is_some()))?;
    let steps = o.count("steps")?;
    let steps = u32::try_from(steps).map_err(|_| o.err("steps", format!("too large: {steps}")))?;
    let trade = Trade {
        stream: stream_id_of(&id),
        id,
        model: m,
        payoff: p,
        maturity: o.num("maturity")?,
        steps,
        paths: o.count("paths")?,
        extension,
    };
    Ok((trade, names))
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

#[cfg(test)]
pub fn parse_line(path: &Path, line: u64, text: &str) -> Result<Trade, InputError> {
    parse_line_named(path, line, text).map(|(t, _)| t)
}

/// [`parse_line`] with the trade's underlying names.
pub fn parse_line_named(
    path: &Path,
    line: u64,
    text: &str,
) -> Result<(Trade, Underlyings), InputError> {
    let v: Value = strict_json(text).map_err(|e| {
        let field = field_before(text, e.column());
        error_at(path, line, field.as_deref(), format!("invalid JSON: {e}"))
    })?;
    trade(path, line, &v)
}

/// The last `"key":` before 1-based `column` of `text`: the field a syntax
/// error (such as a bare `NaN`) sits in.
fn field_before(text: &str, column: usize) -> Option<String> {
    let head = text.get(..column.saturating_sub(1).min(text.len()))?;
    let colon = head.rfind(':')?;
    let key_end = head[..colon].trim_end();
    let key = key_end.strip_suffix('"')?;
    let start = key.rfind('"')?;
    Some(key[start + 1..].to_string())
}

/// A whole JSON array file, each trade with the line its object starts on.
pub fn parse_array(
    path: &Path,
    text: &str,
) -> Result<Vec<(u64, Result<(Trade, Underlyings), InputError>)>, InputError> {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
        error_at(
            path,
            e.line() as u64,
            None,
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
                .map_err(|e| error_at(path, line, None, format!("invalid JSON: {e}")))
                .and_then(|v| trade(path, line, &v));
            (line, parsed)
        })
        .collect())
}
