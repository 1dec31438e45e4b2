//! Checks a JSON request body against the Batch REST API's Swagger 2.0
//! definitions (`imagebuild/batch-api/`, embedded in the binary: the data
//! plane's and the management plane's): `$ref`, `allOf`, `type`, `required`, `enum`, `format` (int32,
//! date-time, duration), `minimum`/`maximum`, `items`, no `readOnly`
//! property (the service sets those), and no property a schema does not
//! list (`additionalProperties` where a schema is a map). Every problem is
//! reported with its JSON path.
//!
//! Why not a general JSON Schema validator (the `jsonschema` crate): the
//! Swagger definitions never say `additionalProperties: false`, so a draft 4
//! validator accepts any misspelt property, and it knows nothing of
//! `readOnly` in a request; those two are the checks that catch most
//! mistakes here.

use serde_json::{Map, Value};

/// One way a body does not match the API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// JSON path such as `pool.virtualMachineConfiguration.nodeAgentSKUId`.
    pub path: String,
    pub message: String,
}

/// The definitions of one API version.
pub struct Definitions {
    defs: Map<String, Value>,
}

/// The most a JSON file given to riskpool-image may hold: definitions and
/// bodies are a few hundred KiB.
pub const MAX_JSON_FILE: u64 = 64 << 20;

/// The text of a JSON file the user names (a body, definitions, a pool
/// body): a regular file of at most [`MAX_JSON_FILE`] bytes, so a FIFO
/// never hangs the tool and a device never fills the memory.
pub fn read_json_file(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "{}: not a regular file (a folder, FIFO or device)",
            path.display()
        ));
    }
    if meta.len() > MAX_JSON_FILE {
        return Err(format!(
            "{}: {} bytes, more than a JSON body or definitions file holds ({MAX_JSON_FILE})",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The data plane's definitions (Pool_Add, Job_Add, Task_Add,
/// Task_AddCollection), API version 2024-07-01.20.0: `batch-api/README.md`
/// says where they come from.
pub const DATA_PLANE: (&str, &str) = (
    "BatchService-2024-07-01.20.0.definitions.json",
    include_str!("../batch-api/BatchService-2024-07-01.20.0.definitions.json"),
);

/// The management plane's definitions (Pool_Create), API version 2024-07-01.
pub const MANAGEMENT_PLANE: (&str, &str) = (
    "BatchManagement-2024-07-01.pool-definitions.json",
    include_str!("../batch-api/BatchManagement-2024-07-01.pool-definitions.json"),
);

impl Definitions {
    /// Reads the definitions file (a Swagger document with `definitions`).
    pub fn load(path: &std::path::Path) -> Result<Definitions, String> {
        let text = read_json_file(path)?;
        Definitions::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The definitions embedded in the binary: `DATA_PLANE` or
    /// `MANAGEMENT_PLANE`.
    pub fn builtin((name, text): (&str, &str)) -> Definitions {
        // The embedded files are tested to parse (`builtin_definitions_parse`).
        Definitions::parse(text)
            .unwrap_or_else(|e| unreachable!("the embedded {name} does not parse: {e}"))
    }

    /// Parses a Swagger document's text.
    pub fn parse(text: &str) -> Result<Definitions, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        match doc.get("definitions") {
            Some(Value::Object(defs)) => Ok(Definitions { defs: defs.clone() }),
            _ => Err("no `definitions` object".into()),
        }
    }

    /// The names of every definition, sorted (for an error that lists
    /// what a body may be checked against).
    pub fn roots(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.defs.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Whether the definitions have a root named `root`.
    pub fn has(&self, root: &str) -> bool {
        self.defs.contains_key(root)
    }

    /// Every mismatch between `value` and definition `root` (empty: valid).
    pub fn check(&self, root: &str, value: &Value, path: &str) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        match self.defs.get(root) {
            Some(schema) => self.walk(schema, value, path, &mut errors),
            None => errors.push(SchemaError {
                path: path.into(),
                message: format!("no definition `{root}`"),
            }),
        }
        errors
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> Option<&'a Value> {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.defs.get(r.strip_prefix("#/definitions/")?),
            None => Some(schema),
        }
    }

    /// The schema's properties and required names with those of its `allOf`
    /// parents (Swagger's inheritance), parents first.
    fn members<'a>(
        &'a self,
        schema: &'a Value,
        props: &mut Vec<(&'a str, &'a Value)>,
        required: &mut Vec<&'a str>,
        seen: &mut Vec<&'a Value>,
        depth: usize,
    ) {
        // A parent met again (a schema whose `allOf` names itself, or one
        // parent twice) adds nothing new: without this a self-referencing
        // file would take exponential time before the depth cap.
        if depth > 16 || seen.iter().any(|s| std::ptr::eq(*s, schema)) {
            return;
        }
        seen.push(schema);
        for parent in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = self.resolve(parent) {
                self.members(p, props, required, seen, depth + 1);
            }
        }
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            props.extend(p.iter().map(|(k, v)| (k.as_str(), v)));
        }
        required.extend(
            schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
    }

    fn walk(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<SchemaError>) {
        let mut err = |m: String| {
            errors.push(SchemaError {
                path: path.to_string(),
                message: m,
            })
        };
        let Some(schema) = self.resolve(schema) else {
            err(format!("unresolvable reference {}", schema["$ref"]));
            return;
        };
        let ty = schema.get("type").and_then(Value::as_str).unwrap_or(
            if schema.get("properties").is_some() || schema.get("allOf").is_some() {
                "object"
            } else {
                ""
            },
        );
        let type_ok = match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !type_ok {
            err(format!("expected {ty}, got {value}"));
            return;
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                let names: Vec<String> = options.iter().map(|o| o.to_string()).collect();
                err(format!("{value} is not one of {}", names.join(", ")));
            }
        }
        match (schema.get("format").and_then(Value::as_str), value) {
            (Some("int32"), v)
                if v.as_i64()
                    .is_some_and(|n| n < i32::MIN as i64 || n > i32::MAX as i64) =>
            {
                err(format!("{v} does not fit int32"))
            }
            (Some("duration"), Value::String(s)) if !is_iso_duration(s) => {
                err(format!("`{s}` is not an ISO 8601 duration"))
            }
            (Some("date-time"), Value::String(s))
                if !(s.len() >= 20 && s.as_bytes()[10] == b'T') =>
            {
                err(format!("`{s}` is not an RFC 3339 date-time"))
            }
            _ => {}
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    err(format!("{value} is below the minimum {min}"));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    err(format!("{value} is above the maximum {max}"));
                }
            }
        }
        match value {
            Value::Object(map) => {
                let (mut props, mut required) = (Vec::new(), Vec::new());
                self.members(schema, &mut props, &mut required, &mut Vec::new(), 0);
                let extra = schema.get("additionalProperties");
                for k in required {
                    if !map.contains_key(k) {
                        errors.push(SchemaError {
                            path: path.to_string(),
                            message: format!("missing required property `{k}`"),
                        });
                    }
                }
                for (k, v) in map {
                    let child = format!("{path}.{k}");
                    let prop = props.iter().rev().find(|(n, _)| n == k).map(|(_, s)| *s);
                    match (prop, extra) {
                        (Some(s), _) if s.get("readOnly") == Some(&Value::Bool(true)) => errors
                            .push(SchemaError {
                                path: child,
                                message: "is read-only: the service sets it, a request may not"
                                    .into(),
                            }),
                        (Some(s), _) => self.walk(s, v, &child, errors),
                        (None, Some(s)) if s.is_object() => self.walk(s, v, &child, errors),
                        _ => errors.push(SchemaError {
                            path: child,
                            message: "is not a property the API defines here".into(),
                        }),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(s) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.walk(s, v, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The length of an ISO 8601 duration in seconds (a year as 365 days, a
/// month as 30), or None when `s` is not one.
pub fn duration_seconds(s: &str) -> Option<f64> {
    if !is_iso_duration(s) {
        return None;
    }
    let rest = s.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let sum = |part: &str, units: &[(char, f64)]| -> Option<f64> {
        let mut total = 0.0;
        let mut num = String::new();
        for c in part.chars() {
            match units.iter().find(|(u, _)| *u == c) {
                Some((_, scale)) => {
                    total += num.parse::<f64>().ok()? * scale;
                    num.clear();
                }
                None => num.push(c),
            }
        }
        Some(total)
    };
    let day = 86_400.0;
    Some(
        sum(
            date,
            &[
                ('Y', 365.0 * day),
                ('M', 30.0 * day),
                ('W', 7.0 * day),
                ('D', day),
            ],
        )? + sum(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?,
    )
}

/// `P[nD][T[nH][nM][n[.n]S]]`, as Batch's durations are written.
fn is_iso_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let parts_ok = |part: &str, units: &str| -> bool {
        let mut num = String::new();
        let mut last_unit = None::<usize>;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else if let Some(pos) = units.find(c) {
                if num.is_empty()
                    || last_unit.is_some_and(|l| pos <= l)
                    || num.parse::<f64>().is_err()
                {
                    return false;
                }
                last_unit = Some(pos);
                num.clear();
            } else {
                return false;
            }
        }
        num.is_empty()
    };
    let time_ok = time.is_none_or(|t| !t.is_empty() && parts_ok(t, "HMS"));
    (!rest.is_empty() && rest != "T") && parts_ok(date, "YMWD") && time_ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_definitions_parse() {
        let data = super::Definitions::builtin(super::DATA_PLANE);
        let management = super::Definitions::builtin(super::MANAGEMENT_PLANE);
        for root in [
            "PoolAddParameter",
            "JobAddParameter",
            "TaskAddCollectionParameter",
        ] {
            assert!(data.has(root), "{root}");
        }
        assert!(management.has("Pool"));
    }

    use super::{duration_seconds, is_iso_duration};

    #[test]
    fn duration_lengths() {
        assert_eq!(duration_seconds("PT5M"), Some(300.0));
        assert_eq!(duration_seconds("PT1H30M"), Some(5400.0));
        assert_eq!(duration_seconds("P1DT1S"), Some(86_401.0));
        assert_eq!(duration_seconds("PT0.5S"), Some(0.5));
        assert_eq!(duration_seconds("5 minutes"), None);
    }

    #[test]
    fn durations() {
        for ok in ["PT15M", "P1D", "PT1H30M", "PT0.5S", "P7DT12H"] {
            assert!(is_iso_duration(ok), "{ok}");
        }
        for bad in ["15M", "P", "PT", "PT1X", "PTM", "PT5S1M"] {
            assert!(!is_iso_duration(bad), "{bad}");
        }
    }
}
