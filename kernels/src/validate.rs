//! The checks a model, payoff or trade runs on its own terms (as QuantLib's
//! `arguments::validate`): each names the field, in the portfolio file's
//! dotted form (`model.vol`, `model.assets[1].spot`), and says why.

pub use crate::instrument::TradeError;

/// The error for `field`.
pub fn err(field: &str, message: impl Into<String>) -> TradeError {
    TradeError {
        field: field.to_string(),
        message: message.into(),
    }
}

pub fn finite(field: &str, v: f64) -> Result<f64, TradeError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(err(field, format!("must be a finite number, got {v}")))
    }
}

pub fn positive(field: &str, v: f64) -> Result<f64, TradeError> {
    if finite(field, v)? > 0.0 {
        Ok(v)
    } else {
        Err(err(field, format!("must be greater than 0, got {v}")))
    }
}

pub fn non_negative(field: &str, v: f64) -> Result<f64, TradeError> {
    if finite(field, v)? >= 0.0 {
        Ok(v)
    } else {
        Err(err(field, format!("must not be negative, got {v}")))
    }
}

pub fn correlation(field: &str, v: f64) -> Result<f64, TradeError> {
    if (-1.0..=1.0).contains(&finite(field, v)?) {
        Ok(v)
    } else {
        Err(err(field, format!("must lie in [-1, 1], got {v}")))
    }
}
