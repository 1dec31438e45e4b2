//! PLACEHOLDER, to be replaced by the report helper's `runner/report.rs`
//! when the branches merge: a minimal HTML page of the figures, so that
//! `--report` compiles and writes something on this branch.

use crate::risk::report_data::RiskReportData;

/// The report as one self-contained HTML page.
pub fn render(d: &RiskReportData) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut h = String::from("<!doctype html><meta charset=\"utf-8\"><title>riskpool risk</title>");
    h += &format!(
        "<h1>Risk: {}</h1><p>base PV {} (stderr {})</p><ul>",
        esc(&d.book),
        d.base_pv.value,
        d.base_pv.stderr
    );
    for l in &d.losses {
        h += &format!("<li>level {}: VaR {}, ES {}</li>", l.level, l.var, l.es);
    }
    h += "</ul>";
    h
}
