//! The page's three charts as inline SVG: the P&L distribution with VaR
//! and ES marked, P&L by underlying in the worst scenarios, and the trades
//! contributing most to ES. Every chart is a fluid `<svg>` sized by its
//! viewBox; every mark carries its figure in `data-*` attributes and a
//! `<title>` (the tooltip and what a screen reader says).

use std::fmt::Write;

use riskpool_kernels::scenario::Loss;

use super::html::{compact, escape, exact, money, percent, tick};
use super::svg::{num, open, text_width, ticks, truncate, widen, Scale};
use super::{EsContribution, ScenarioPnl};

/// Every chart's viewBox width: narrow enough that its text stays
/// readable when a phone shrinks it, and the page caps its width on
/// desktops.
const W: f64 = 420.0;
/// Worst scenarios split by underlying.
pub const WORST: usize = 5;
/// Underlyings named in that chart; the rest are summed as "other".
const SERIES: usize = 6;
/// Trades in the ES contributors chart.
const CONTRIBUTORS: usize = 10;
/// Colour-blind-safe series colours (Okabe-Ito), then grey for "other".
const COLOURS: [&str; SERIES] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00",
];
const OTHER: &str = "#9a9a9a";

/// A note in place of a chart that has nothing to draw.
fn empty(out: &mut String, id: &str, why: &str) {
    let _ = write!(
        out,
        r#"<p class="note empty" id="{id}">{}</p>"#,
        escape(why)
    );
}

/// A horizontal chart's vertical grid: a line from `top` to `bottom` at
/// each of the ticks `xt` (`xstep` apart, `reach` the largest magnitude),
/// its label under the plot.
fn x_grid(
    out: &mut String,
    x: &Scale,
    xt: &[f64],
    xstep: f64,
    reach: f64,
    (top, bottom): (f64, f64),
) {
    for v in xt {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{gx}" x2="{gx}" y1="{}" y2="{}"/><text class="tick" x="{gx}" y="{}" text-anchor="middle">{}</text>"#,
            num(top),
            num(bottom),
            num(bottom + 14.0),
            escape(&tick(*v, xstep, reach)),
            gx = num(x.at(*v)),
        );
    }
}

/// The histogram of scenario P&L with a line at minus VaR (solid) and
/// minus ES (dashed) for every level.
pub fn distribution(out: &mut String, pnl: &[f64], losses: &[Loss]) {
    let values: Vec<f64> = pnl.iter().copied().filter(|x| x.is_finite()).collect();
    if values.is_empty() {
        return empty(out, "chart-distribution", "No scenario P&L to draw.");
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = widen(min, max);
    let bins = ((values.len() as f64).sqrt().ceil() as usize).clamp(1, 40);
    let to_bin = Scale::new((lo, hi), (0.0, bins as f64));
    let mut counts = vec![0usize; bins];
    for &x in &values {
        counts[(to_bin.at(x).floor() as usize).min(bins - 1)] += 1;
    }
    let edge = |i: usize| lo + (hi / bins as f64 - lo / bins as f64) * i as f64;

    // Marker labels go in rows above the plot, a new row when they would
    // overlap (close levels put VaR and ES lines side by side).
    struct Marker {
        class: &'static str,
        level: f64,
        value: f64,
        label: String,
    }
    let mut markers: Vec<Marker> = Vec::new();
    for l in losses
        .iter()
        .filter(|l| l.var.is_finite() && l.es.is_finite())
    {
        for (class, v) in [("var", l.var), ("es", l.es)] {
            let name = if class == "var" { "VaR" } else { "ES" };
            markers.push(Marker {
                class,
                level: l.level,
                value: v,
                label: format!("{name} {}", percent(l.level)),
            });
        }
    }
    let (xt, xstep) = ticks(lo, hi, 5);
    let reach = xt.iter().fold(0f64, |a, v| a.max(v.abs()));
    let (left, right) = (44.0, W - 14.0);
    let x = Scale::new((xt[0], xt[xt.len() - 1]), (left, right));
    markers.sort_by(|a, b| (-a.value).total_cmp(&-b.value));
    let mut row_end: Vec<f64> = Vec::new();
    let mut placed = Vec::new();
    for m in &markers {
        let w = text_width(&m.label, 12.0) + 6.0;
        let cx = x.at(-m.value).clamp(w / 2.0, W - w / 2.0);
        let row = match row_end.iter().position(|end| *end <= cx - w / 2.0) {
            Some(r) => r,
            None => {
                row_end.push(f64::NEG_INFINITY);
                row_end.len() - 1
            }
        };
        row_end[row] = cx + w / 2.0;
        placed.push((row, cx));
    }
    let top = 10.0 + 15.0 * row_end.len() as f64;
    let bottom = top + 170.0;
    let h = bottom + 40.0;
    let max_count = counts.iter().copied().max().unwrap_or(1).max(1);
    let (mut yt, ystep) = ticks(0.0, max_count as f64, 4);
    if ystep < 1.0 {
        yt = (0..=max_count).map(|c| c as f64).collect();
    }
    let y = Scale::new((0.0, yt[yt.len() - 1]), (bottom, top));

    open(
        out,
        "chart-distribution",
        W,
        h,
        "Histogram of scenario P&L with VaR and ES",
    );
    // Axes and grid.
    for v in &yt {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{}" x2="{}" y1="{y}" y2="{y}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            num(left),
            num(right),
            num(left - 4.0),
            num(y.at(*v) + 4.0),
            tick(*v, ystep.max(1.0), max_count as f64),
            y = num(y.at(*v)),
        );
    }
    for v in &xt {
        let _ = write!(
            out,
            r#"<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num(x.at(*v)),
            num(bottom + 14.0),
            escape(&tick(*v, xstep, reach)),
        );
    }
    let _ = write!(
        out,
        r#"<text class="axis-title" x="{}" y="{}" text-anchor="middle">Scenario P&amp;L</text><text class="axis-title" transform="translate(11 {}) rotate(-90)" text-anchor="middle">scenarios</text>"#,
        num((left + right) / 2.0),
        num(bottom + 32.0),
        num((top + bottom) / 2.0),
    );
    let tail_edge = losses.first().map(|l| -l.var);
    for (i, c) in counts.iter().enumerate() {
        let (a, b) = (edge(i), edge(i + 1));
        let tail = tail_edge.is_some_and(|t| a <= t);
        let _ = write!(
            out,
            r#"<rect class="bar{}" data-lo="{}" data-hi="{}" data-count="{c}" x="{}" y="{}" width="{}" height="{}"><title>{} to {}: {c} scenarios</title></rect>"#,
            if tail { " tail" } else { "" },
            exact(a),
            exact(b),
            num(x.at(a) + 0.5),
            num(y.at(*c as f64)),
            num((x.at(b) - x.at(a) - 1.0).max(0.5)),
            num(bottom - y.at(*c as f64)),
            money(a),
            money(b),
        );
    }
    if xt[0] < 0.0 && xt[xt.len() - 1] > 0.0 {
        let _ = write!(
            out,
            r#"<line class="zero" x1="{x0}" x2="{x0}" y1="{}" y2="{}"/>"#,
            num(top),
            num(bottom),
            x0 = num(x.at(0.0)),
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{}" x2="{}" y1="{b}" y2="{b}"/>"#,
        num(left),
        num(right),
        b = num(bottom),
    );
    // Lines first, then their labels on top on a white ground, so no line
    // crosses another's label.
    for (m, (row, _)) in markers.iter().zip(&placed) {
        let lx = num(x.at(-m.value));
        let _ = write!(
            out,
            r#"<g class="marker {cls}" data-measure="{cls}" data-level="{}" data-value="{}"><title>{}: {}</title><line x1="{lx}" x2="{lx}" y1="{}" y2="{}"/></g>"#,
            exact(m.level),
            exact(m.value),
            escape(&m.label),
            money(m.value),
            num(10.0 + 15.0 * *row as f64 + 13.0),
            num(bottom),
            cls = m.class,
        );
    }
    for (m, (row, cx)) in markers.iter().zip(&placed) {
        let w = text_width(&m.label, 12.0) + 4.0;
        let ty = 10.0 + 15.0 * *row as f64 + 10.0;
        let _ = write!(
            out,
            r#"<rect class="label-bg" x="{}" y="{}" width="{}" height="14"/><text class="marker-label {}" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num(cx - w / 2.0),
            num(ty - 11.0),
            num(w),
            m.class,
            num(*cx),
            num(ty),
            escape(&m.label),
        );
    }
    out.push_str("</svg>");
}

/// The worst scenarios' P&L split by underlying: one row per scenario,
/// gains stacked right of zero and losses left, the largest underlyings
/// named and the rest summed as "other".
pub fn worst_by_underlying(out: &mut String, pnl: &[ScenarioPnl], underlyings: &[String]) {
    let mut worst: Vec<&ScenarioPnl> = pnl.iter().filter(|s| s.pnl.is_finite()).collect();
    worst.sort_by(|a, b| a.pnl.total_cmp(&b.pnl));
    worst.truncate(WORST);
    let split =
        |s: &ScenarioPnl, u: usize| s.by_underlying.get(u).copied().filter(|v| v.is_finite());
    if worst.is_empty()
        || underlyings.is_empty()
        || worst
            .iter()
            .all(|s| (0..underlyings.len()).all(|u| split(s, u).is_none()))
    {
        return empty(
            out,
            "chart-worst",
            "No split by underlying: no trade names an underlying.",
        );
    }
    // The underlyings that matter most in these scenarios get a colour.
    let mut weight: Vec<(usize, f64)> = (0..underlyings.len())
        .map(|u| {
            (
                u,
                worst.iter().map(|s| split(s, u).unwrap_or(0.0).abs()).sum(),
            )
        })
        .collect();
    weight.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let named = if weight.len() <= SERIES + 1 {
        weight.len()
    } else {
        SERIES
    };
    let mut series: Vec<(String, &str, Vec<usize>)> = weight[..named]
        .iter()
        .enumerate()
        .map(|(i, (u, _))| (underlyings[*u].clone(), COLOURS[i % SERIES], vec![*u]))
        .collect();
    if named < weight.len() {
        let rest = weight[named..].iter().map(|(u, _)| *u).collect();
        series.push(("other".into(), OTHER, rest));
    }
    let values: Vec<Vec<f64>> = worst
        .iter()
        .map(|s| {
            let v = series
                .iter()
                .map(|(_, _, us)| us.iter().map(|u| split(s, *u).unwrap_or(0.0)).sum());
            v.collect()
        })
        .collect();
    let lo = values
        .iter()
        .map(|v| v.iter().filter(|x| **x < 0.0).sum::<f64>())
        .fold(0.0, f64::min);
    let hi = values
        .iter()
        .map(|v| v.iter().filter(|x| **x > 0.0).sum::<f64>())
        .fold(0.0, f64::max);
    let (xt, xstep) = ticks(lo, hi, 4);
    let reach = xt.iter().fold(0f64, |a, v| a.max(v.abs()));
    let (left, right) = (124.0, W - 14.0);
    let x = Scale::new((xt[0], xt[xt.len() - 1]), (left, right));
    let (row_h, top) = (38.0, 6.0);
    let bottom = top + row_h * worst.len() as f64;
    // Legend entries wrap across the width.
    let mut legend = Vec::new();
    let (mut lx, mut ly) = (left, bottom + 46.0);
    for (name, colour, _) in &series {
        let label = truncate(name, 14);
        let w = 16.0 + text_width(&label, 12.0) + 10.0;
        if lx + w > W && lx > left {
            lx = left;
            ly += 17.0;
        }
        legend.push((lx, ly, *colour, label, name));
        lx += w;
    }
    let h = ly + 10.0;

    open(
        out,
        "chart-worst",
        W,
        h,
        "P&L by underlying in the worst scenarios",
    );
    x_grid(out, &x, &xt, xstep, reach, (top, bottom));
    for (i, (s, vals)) in worst.iter().zip(&values).enumerate() {
        let ry = top + row_h * i as f64;
        let _ = write!(
            out,
            r#"<g class="scenario" data-scenario="{}" data-pnl="{}"><title>{}: P&amp;L {}</title><text class="label" x="4" y="{}">{}</text><text class="sub" x="4" y="{}">{}</text>"#,
            escape(&s.name),
            exact(s.pnl),
            escape(&s.name),
            money(s.pnl),
            num(ry + 15.0),
            escape(&truncate(&s.name, 15)),
            num(ry + 29.0),
            compact(s.pnl),
        );
        let (mut pos, mut neg) = (0.0, 0.0);
        for ((name, colour, _), v) in series.iter().zip(vals) {
            if *v == 0.0 {
                continue;
            }
            let (a, b) = if *v > 0.0 {
                pos += v;
                (pos - v, pos)
            } else {
                neg += v;
                (neg, neg - v)
            };
            let _ = write!(
                out,
                r#"<rect class="seg" data-underlying="{}" data-value="{}" fill="{colour}" x="{}" y="{}" width="{}" height="18"><title>{}: {}</title></rect>"#,
                escape(name),
                exact(*v),
                num(x.at(a)),
                num(ry + 8.0),
                num((x.at(b) - x.at(a)).max(0.5)),
                escape(name),
                money(*v),
            );
        }
        out.push_str("</g>");
    }
    let _ = write!(
        out,
        r#"<line class="zero" x1="{x0}" x2="{x0}" y1="{}" y2="{}"/><text class="axis-title" x="{}" y="{}" text-anchor="middle">P&amp;L</text>"#,
        num(top),
        num(bottom),
        num((left + right) / 2.0),
        num(bottom + 28.0),
        x0 = num(x.at(0.0)),
    );
    for (lx, ly, colour, label, name) in legend {
        let _ = write!(
            out,
            r#"<g class="legend"><title>{}</title><rect x="{}" y="{}" width="11" height="11" fill="{colour}"/><text class="tick" x="{}" y="{}">{}</text></g>"#,
            escape(name),
            num(lx),
            num(ly - 1.0),
            num(lx + 15.0),
            num(ly + 9.0),
            escape(&label),
        );
    }
    out.push_str("</svg>");
}

/// The trades that contribute most to ES, largest first.
pub fn contributors(out: &mut String, contributions: &[EsContribution]) {
    let mut top: Vec<&EsContribution> = contributions.iter().filter(|c| c.es.is_finite()).collect();
    top.sort_by(|a, b| b.es.total_cmp(&a.es));
    top.truncate(CONTRIBUTORS);
    if top.is_empty() {
        return empty(out, "chart-contributors", "No ES contributions to draw.");
    }
    let lo = top.iter().map(|c| c.es).fold(0.0, f64::min);
    let hi = top.iter().map(|c| c.es).fold(0.0, f64::max);
    let (xt, xstep) = ticks(lo, hi, 4);
    let reach = xt.iter().fold(0f64, |a, v| a.max(v.abs()));
    let (left, right) = (124.0, W - 90.0);
    let x = Scale::new((xt[0], xt[xt.len() - 1]), (left, right));
    let (row_h, top_y) = (24.0, 6.0);
    let bottom = top_y + row_h * top.len() as f64;
    let h = bottom + 36.0;

    open(
        out,
        "chart-contributors",
        W,
        h,
        "Trades contributing most to expected shortfall",
    );
    x_grid(out, &x, &xt, xstep, reach, (top_y, bottom));
    for (i, c) in top.iter().enumerate() {
        let ry = top_y + row_h * i as f64;
        let (a, b) = (c.es.min(0.0), c.es.max(0.0));
        let _ = write!(
            out,
            r#"<g class="contributor" data-id="{}" data-value="{}"><title>{}: {}</title><text class="label" x="4" y="{}">{}</text><rect class="bar{}" x="{}" y="{}" width="{}" height="15"/><text class="value" x="{}" y="{}" text-anchor="end">{}</text></g>"#,
            escape(&c.id),
            exact(c.es),
            escape(&c.id),
            money(c.es),
            num(ry + 16.0),
            escape(&truncate(&c.id, 15)),
            if c.es < 0.0 { " hedge" } else { "" },
            num(x.at(a)),
            num(ry + 4.0),
            num((x.at(b) - x.at(a)).max(0.5)),
            num(W - 4.0),
            num(ry + 16.0),
            compact(c.es),
        );
    }
    let _ = write!(
        out,
        r#"<line class="zero" x1="{x0}" x2="{x0}" y1="{}" y2="{}"/><text class="axis-title" x="{}" y="{}" text-anchor="middle">contribution to ES</text></svg>"#,
        num(top_y),
        num(bottom),
        num((left + right) / 2.0),
        num(bottom + 30.0),
        x0 = num(x.at(0.0)),
    );
}
