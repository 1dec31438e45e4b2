//! The page on awkward input: hostile ids are escaped, and every SVG
//! number is finite whatever the figures (one scenario, all zeros, huge or
//! missing values, no split by underlying).

use super::*;
use riskpool_kernels::scenario::value_at_risk;

fn report(pnl: &[f64], ids: &[&str]) -> RiskReport {
    let losses = [0.99, 0.975]
        .iter()
        .filter_map(|l| value_at_risk(pnl, *l))
        .collect();
    RiskReport {
        title: "t".into(),
        base_pv: pnl.iter().sum(),
        base_stderr: 0.5,
        trades: ids.len(),
        scenarios: pnl.len(),
        losses,
        pnl: pnl
            .iter()
            .enumerate()
            .map(|(i, p)| ScenarioPnl {
                name: format!("{}{i}", ids.get(i % ids.len().max(1)).unwrap_or(&"s")),
                pnl: *p,
                stderr: 0.1,
                by_underlying: vec![*p / 2.0, *p / 2.0],
            })
            .collect(),
        underlyings: ids.iter().take(2).map(|s| s.to_string()).collect(),
        es_contributions: ids
            .iter()
            .enumerate()
            .map(|(i, id)| EsContribution {
                id: id.to_string(),
                es: pnl.get(i).copied().unwrap_or(0.0),
            })
            .collect(),
        book: ids
            .iter()
            .map(|id| BookRow {
                id: id.to_string(),
                underlyings: vec![id.to_string()],
                model: "gbm".into(),
                payoff: "<b>".into(),
                pv: 1.0,
                stderr: 0.01,
            })
            .collect(),
        ..Default::default()
    }
}

/// Every number in an SVG attribute of `page` that is a coordinate.
fn svg_numbers(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in [
        " x=\"",
        " y=\"",
        " x1=\"",
        " x2=\"",
        " y1=\"",
        " y2=\"",
        " width=\"",
        " height=\"",
        "viewBox=\"",
        "translate(",
    ] {
        for (i, _) in page.match_indices(attr) {
            let rest = &page[i + attr.len()..];
            let end = rest.find(['"', ')']).unwrap_or(rest.len());
            found.extend(rest[..end].split([' ', ',']).map(str::to_string));
        }
    }
    found
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let ids = [
        "<script>alert(1)</script>",
        "a\"b'c&d",
        "日本語-取引",
        "</svg><img src=x>",
    ];
    let page = render(&report(&[-3.0, 1.0, 2.0, -1.0], &ids));
    assert!(!page.contains("<script"), "unescaped script");
    assert!(!page.contains("<img"), "unescaped tag");
    assert!(!page.contains("a\"b"), "unescaped quote");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("a&quot;b&#39;c&amp;d"));
    assert!(page.contains("日本語-取引"));
    assert!(page.contains("&lt;b&gt;"), "model/payoff text escaped");
}

#[test]
fn svg_coordinates_are_finite_on_edge_cases() {
    let cases: Vec<Vec<f64>> = vec![
        vec![-7.5],
        vec![0.0; 20],
        vec![1e300, -1e300, 5.0],
        vec![-1e-12, 2e-12, 0.0],
        vec![f64::NAN, -2.0, f64::INFINITY, 3.0],
        (0..500)
            .map(|i| ((i * 7919) % 1000) as f64 - 600.0)
            .collect(),
    ];
    for pnl in &cases {
        let mut r = report(pnl, &["a", "b", "c"]);
        let page = render(&r);
        for n in svg_numbers(&page) {
            let v: f64 = n
                .parse()
                .unwrap_or_else(|_| panic!("{pnl:?}: `{n}` is not a number"));
            assert!(v.is_finite(), "{pnl:?}: {n}");
        }
        assert!(page.contains(r#"id="chart-distribution""#), "{pnl:?}");
        // No split by underlying: a note, not a broken chart.
        r.underlyings.clear();
        let page = render(&r);
        assert!(page.contains(r#"<p class="note empty" id="chart-worst""#));
    }
    // Nothing at all: every chart says so.
    let page = render(&RiskReport::default());
    for id in ["chart-distribution", "chart-worst", "chart-contributors"] {
        assert!(
            page.contains(&format!(r#"<p class="note empty" id="{id}""#)),
            "{id}"
        );
    }
}

#[test]
fn long_books_are_cut_and_say_so() {
    let ids: Vec<String> = (0..BOOK_ROWS + 7).map(|i| format!("T{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut r = report(&[-1.0, 1.0], &refs);
    for (i, b) in r.book.iter_mut().enumerate() {
        b.pv = i as f64 - 20.0;
    }
    let page = render(&r);
    assert!(page.contains(&format!(r#"data-rows="{BOOK_ROWS}" data-omitted="7""#)));
    assert!(page.contains("7 more are omitted"));
    assert_eq!(page.matches("<tr data-id=").count(), BOOK_ROWS);
    // The largest |PV| is kept, the smallest omitted.
    assert!(page.contains(r#"data-id="T56""#) && !page.contains(r#"data-id="T20""#));
}
