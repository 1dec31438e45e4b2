//! The risk report: one self-contained HTML page that people open in a
//! browser, on a phone, or print.
//!
//! [`render`] turns a [`RiskReport`] (what `riskpool risk --report` and the
//! merge task know at the end of a run) into a single HTML string: the
//! run's facts, VaR and ES per level, three inline SVG charts (the P&L
//! distribution, P&L by underlying in the worst scenarios, the trades
//! contributing most to ES), the worst scenarios and the base book.
//!
//! **No network, ever**: no script, no external CSS, font or image; a
//! Content-Security-Policy of `default-src 'none'` makes the browser refuse
//! any fetch should one slip in. The charts are fluid (`viewBox`, width
//! 100%), the layout a grid that folds to one column on a phone, and print
//! rules keep each chart whole on a page.
//!
//! **Hand-written SVG, no chart or template crate**: three chart kinds
//! need about 450 lines; `plotters`' SVG backend writes pictures of a
//! fixed width and height, needs a font backend to lay text out, and gives
//! no hook for the `id`/`data-*` attributes the tests and readers use, and
//! a template crate (maud, askama) would bring a macro dependency for one
//! page whose only hard part, escaping, is one tested function
//! ([`html::escape`]) applied to every user string.
//!
//! **Machine-findable figures**: `#base-pv`, `#var-99`, `#es-99`,
//! `#es-97_5` (a level's dot becomes `_`) and the like carry the exact
//! value in `data-value`; chart marks carry theirs in `data-*` attributes.
//!
//! **Self-contained module**: `tests/report.rs` compiles this folder by
//! path to open a page in chromium (the root package has no library), so
//! it uses nothing of the binary but its own files and the kernels crate.

mod charts;
mod html;
mod svg;

use std::fmt::Write;

use riskpool_kernels::scenario::Loss;

use html::{count, escape, exact, level_id, money, percent};

/// Base book rows shown, the largest by |PV|; the rest are counted.
pub const BOOK_ROWS: usize = 50;
/// Worst scenarios listed in the table.
const WORST_ROWS: usize = 10;

/// Everything the page shows. The caller computes the figures; the
/// renderer only draws them and never fails (a figure that is not a
/// finite number reads "n/a" and is left out of the charts).
#[derive(Clone, Debug, Default)]
pub struct RiskReport {
    /// The page's heading, e.g. "Portfolio risk: book.jsonl".
    pub title: String,
    pub run: RunInfo,
    /// The book's price in the base market and its standard error.
    pub base_pv: f64,
    pub base_stderr: f64,
    /// Trades in the book and scenarios in the scenario file.
    pub trades: usize,
    pub scenarios: usize,
    /// Trades no scenario moves (without an underlying, or whose
    /// underlyings no scenario moves): their P&L is 0.
    pub unmoved_trades: usize,
    /// VaR and ES per level, in the order the user gave the levels; the
    /// first one's ES tail defines [`EsContribution`].
    pub losses: Vec<Loss>,
    /// The portfolio's P&L per scenario, in the scenario file's order.
    pub pnl: Vec<ScenarioPnl>,
    /// The names that `ScenarioPnl::by_underlying` is indexed by. A trade
    /// on several underlyings is attributed as the caller decides (e.g.
    /// under the names joined by "+"); empty when no trade names one.
    pub underlyings: Vec<String>,
    /// Per trade: its contribution to ES at the first level.
    pub es_contributions: Vec<EsContribution>,
    /// The base book, one row per trade (any order: the page sorts).
    pub book: Vec<BookRow>,
}

/// Facts about the run, shown under the title.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Input files as given (book, scenarios).
    pub inputs: Vec<String>,
    pub engine: String,
    pub device: String,
    pub seed: u64,
    pub paths: u64,
    /// When the run was, as the caller writes it (the renderer reads no
    /// clock, so a page is reproducible).
    pub date: String,
    /// Any further (label, value) lines: precision, shards, levels.
    pub details: Vec<(String, String)>,
}

/// One scenario's portfolio P&L.
#[derive(Clone, Debug, Default)]
pub struct ScenarioPnl {
    pub name: String,
    pub pnl: f64,
    pub stderr: f64,
    /// The P&L split by underlying, indexed as `RiskReport::underlyings`
    /// (empty or shorter is fine: missing entries count as no split).
    pub by_underlying: Vec<f64>,
}

/// A trade's contribution to ES: minus its mean P&L over the scenarios in
/// the ES tail of the first level. The contributions of all trades sum to
/// that ES.
#[derive(Clone, Debug, Default)]
pub struct EsContribution {
    pub id: String,
    pub es: f64,
}

/// One trade of the base book.
#[derive(Clone, Debug, Default)]
pub struct BookRow {
    pub id: String,
    /// The names its market moves with (none: it does not move).
    pub underlyings: Vec<String>,
    pub model: String,
    pub payoff: String,
    pub pv: f64,
    pub stderr: f64,
}

/// The report as one self-contained HTML page.
pub fn render(r: &RiskReport) -> String {
    let mut o = String::with_capacity(32 * 1024 + 300 * r.book.len().min(BOOK_ROWS));
    let title = if r.title.is_empty() {
        "Portfolio risk"
    } else {
        &r.title
    };
    let _ = write!(
        o,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            "<meta name=\"generator\" content=\"riskpool {}\">",
            "<title>{}</title><style>\n{}</style></head>\n<body><main>\n"
        ),
        env!("CARGO_PKG_VERSION"),
        escape(title),
        include_str!("style.css"),
    );
    header(&mut o, r, title);
    summary(&mut o, r);
    figures(&mut o, r);
    book_table(&mut o, &r.book);
    let _ = write!(
        o,
        concat!(
            "<footer><p>VaR and ES: with the N scenarios sorted by P&amp;L from the worst, ",
            "k = ceil(N (1 - level)); VaR is minus the k-th worst P&amp;L, ES minus the mean of the k worst. ",
            "A scenario's P&amp;L is its price less the base price on the same random numbers; ",
            "&plusmn; is one standard error. ",
            "A trade's ES contribution is minus its mean P&amp;L over the first level's ES tail.</p>",
            "<p>Made by riskpool {}. This page is self-contained: it loads nothing from anywhere.</p></footer>\n",
            "</main></body></html>\n"
        ),
        env!("CARGO_PKG_VERSION"),
    );
    o
}

fn header(o: &mut String, r: &RiskReport, title: &str) {
    let _ = write!(
        o,
        r#"<header><h1>{}</h1><p class="sub">{} trades revalued under {} scenarios</p><dl class="run" id="run">"#,
        escape(title),
        count(r.trades),
        count(r.scenarios),
    );
    let run = &r.run;
    let mut line = |label: &str, value: &str| {
        if !value.is_empty() {
            let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
        }
    };
    line("Inputs", &run.inputs.join(", "));
    line("Engine", &run.engine);
    line("Device", &run.device);
    line("Seed", &run.seed.to_string());
    line("Paths", &count(run.paths as usize));
    line("Date", &run.date);
    for (label, value) in &run.details {
        line(label, value);
    }
    o.push_str("</dl></header>\n");
}

fn summary(o: &mut String, r: &RiskReport) {
    o.push_str(r#"<section id="summary"><h2>Summary</h2><div class="cards">"#);
    let _ = write!(
        o,
        r#"<div class="card"><div class="label">Base PV</div><div class="value" id="base-pv" data-value="{}">{}</div><div class="err" id="base-pv-stderr" data-value="{}">&plusmn; {}</div></div>"#,
        exact(r.base_pv),
        money(r.base_pv),
        exact(r.base_stderr),
        money(r.base_stderr),
    );
    for l in &r.losses {
        for (what, name, v) in [("var", "VaR", l.var), ("es", "ES", l.es)] {
            let _ = write!(
                o,
                r#"<div class="card loss"><div class="label">{name} {}</div><div class="value" id="{}" data-level="{}" data-value="{}">{}</div><div class="err">worst {} of {} scenarios</div></div>"#,
                percent(l.level),
                level_id(what, l.level),
                exact(l.level),
                exact(v),
                money(v),
                count(l.tail),
                count(r.pnl.len()),
            );
        }
    }
    let mut card = |id: &str, label: &str, n: usize| {
        let _ = write!(
            o,
            r#"<div class="card"><div class="label">{label}</div><div class="value" id="{id}" data-value="{n}">{}</div></div>"#,
            count(n)
        );
    };
    card("trades", "Trades", r.trades);
    card("scenarios", "Scenarios", r.scenarios);
    card(
        "unmoved-trades",
        "Trades no scenario moves",
        r.unmoved_trades,
    );
    o.push_str("</div></section>\n");
}

fn figures(o: &mut String, r: &RiskReport) {
    o.push_str(r#"<section id="charts"><h2>Where the losses are</h2><div class="charts">"#);
    o.push_str("<figure><figcaption>P&amp;L distribution over the scenarios</figcaption>");
    let pnl: Vec<f64> = r.pnl.iter().map(|s| s.pnl).collect();
    charts::distribution(o, &pnl, &r.losses);
    o.push_str(r#"<p class="note">Solid lines: minus VaR; dashed: minus ES. Red bars hold the first level's tail.</p></figure>"#);
    let _ = write!(
        o,
        "<figure><figcaption>P&amp;L by underlying in the {} worst scenarios</figcaption>",
        r.pnl.len().min(charts::WORST)
    );
    charts::worst_by_underlying(o, &r.pnl, &r.underlyings);
    o.push_str("</figure>");
    let level = r
        .losses
        .first()
        .map(|l| percent(l.level))
        .unwrap_or_default();
    let _ = write!(
        o,
        "<figure><figcaption>Trades contributing most to ES {}</figcaption>",
        escape(&level)
    );
    charts::contributors(o, &r.es_contributions);
    o.push_str("</figure>");
    // The worst scenarios' table sits in the grid, beside the last chart.
    worst_table(o, r);
    o.push_str("</div></section>\n");
}

fn worst_table(o: &mut String, r: &RiskReport) {
    let mut worst: Vec<&ScenarioPnl> = r.pnl.iter().filter(|s| s.pnl.is_finite()).collect();
    worst.sort_by(|a, b| a.pnl.total_cmp(&b.pnl));
    worst.truncate(WORST_ROWS);
    let _ = write!(
        o,
        r#"<figure id="worst"><figcaption>The {} worst scenarios</figcaption><div class="table-wrap"><table id="worst-table"><thead><tr><th>#</th><th>Scenario</th><th class="num">P&amp;L</th><th class="num">&plusmn; error</th></tr></thead><tbody>"#,
        worst.len()
    );
    for (i, s) in worst.iter().enumerate() {
        let _ = write!(
            o,
            r#"<tr data-scenario="{}"><td class="num">{}</td><td class="id">{}</td><td class="num" data-value="{}">{}</td><td class="num">{}</td></tr>"#,
            escape(&s.name),
            i + 1,
            escape(&s.name),
            exact(s.pnl),
            money(s.pnl),
            money(s.stderr),
        );
    }
    o.push_str("</tbody></table></div></figure>");
}

fn book_table(o: &mut String, book: &[BookRow]) {
    let mut rows: Vec<&BookRow> = book.iter().collect();
    // Largest |PV| first; a PV that is not a number goes last.
    let size = |b: &BookRow| if b.pv.is_finite() { b.pv.abs() } else { -1.0 };
    rows.sort_by(|a, b| size(b).total_cmp(&size(a)));
    let shown = rows.len().min(BOOK_ROWS);
    if rows.is_empty() {
        o.push_str(r#"<section id="book"><h2>Base book</h2><p class="note">No trade rows in this report.</p></section>"#);
        return;
    }
    let _ = write!(
        o,
        r#"<section id="book"><h2>Base book</h2><p class="sub">{}</p><div class="table-wrap"><table id="book-table" data-rows="{}" data-omitted="{}"><thead><tr><th>Trade</th><th>Underlying</th><th class="num">PV</th><th class="num">&plusmn; error</th><th>Model, payoff</th></tr></thead><tbody>"#,
        if shown < rows.len() {
            format!(
                "The {} largest trades by |PV| of {}; {} more are omitted.",
                count(shown),
                count(rows.len()),
                count(rows.len() - shown)
            )
        } else {
            format!("All {} trades, largest |PV| first.", count(rows.len()))
        },
        shown,
        rows.len() - shown,
    );
    for b in &rows[..shown] {
        let _ = write!(
            o,
            r#"<tr data-id="{}"><td class="id">{}</td><td>{}</td><td class="num" data-value="{}">{}</td><td class="num">{}</td><td class="kind">{}<br><span class="sub">{}</span></td></tr>"#,
            escape(&b.id),
            escape(&b.id),
            if b.underlyings.is_empty() {
                "&mdash;".to_string()
            } else {
                escape(&b.underlyings.join(", "))
            },
            exact(b.pv),
            money(b.pv),
            money(b.stderr),
            escape(&b.model),
            escape(&b.payoff),
        );
    }
    o.push_str("</tbody></table></div></section>\n");
}

#[cfg(test)]
mod tests;
