//! The risk report in a real browser: Debian's chromium opens the page
//! headless, dumps its DOM and takes desktop- and phone-sized screenshots.
//! The charts and the figures (VaR and ES per level, base PV) must be in
//! the DOM with the values computed here, and the page must make no
//! network request: chromium's proxy is a listener this test owns, and it
//! must see no connection (a control page with a remote image proves it
//! would).
//!
//! The renderer is the runner library's `report` module. Without chromium the test skips, saying why, unless
//! `RISKPOOL_REQUIRE_CHROMIUM=1` (set by `scripts/test`, which installs
//! it). `RISKPOOL_REPORT_KEEP=DIR` keeps the page and screenshots there.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riskpool::report::{self, BookRow, EsContribution, RiskReport, RunInfo, ScenarioPnl};
use riskpool_kernels::scenario::value_at_risk;

const UNDERLYINGS: [&str; 8] = [
    "SPX", "SX5E", "NKY", "EURUSD", "AAPL", "MSFT", "TSLA", "GOLD",
];
const TRADES: usize = 120;
const SCENARIOS: usize = 250;
const LEVELS: [f64; 2] = [0.99, 0.975];

/// A deterministic uniform in [0, 1) (splitmix64), for made-up moves.
fn uniform(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn trade_id(t: usize) -> String {
    match t {
        0 => "<script>alert(1)</script>".into(),
        1 => "quote\"d 'id' & co".into(),
        2 => "日本語の取引-Ω".into(),
        _ => format!("T{t:04}"),
    }
}

/// A book of linear-ish trades on eight underlyings: trade t's P&L in a
/// scenario is its delta times its underlying's move plus a convexity
/// term, so the worst scenarios, the split and the ES tail are all
/// computed here, independently of the page.
fn book() -> (RiskReport, Vec<Vec<f64>>) {
    let moves: Vec<Vec<f64>> = (0..SCENARIOS)
        .map(|s| {
            let market = uniform(s as u64 * 977) - 0.55;
            (0..UNDERLYINGS.len())
                .map(|u| 0.08 * market + 0.05 * (uniform((s * 31 + u) as u64) - 0.5))
                .collect()
        })
        .collect();
    let trade_u = |t: usize| t % UNDERLYINGS.len();
    let delta = |t: usize| (uniform(t as u64 + 10_000) - 0.3) * 5_000.0 * (1 + t % 3) as f64;
    // trade_pnl[t][s]
    let trade_pnl: Vec<Vec<f64>> = (0..TRADES)
        .map(|t| {
            let u = trade_u(t);
            (0..SCENARIOS)
                .map(|s| delta(t) * moves[s][u] + 800.0 * moves[s][u].powi(2) * (t % 5) as f64)
                .collect()
        })
        .collect();
    let pnl: Vec<ScenarioPnl> = (0..SCENARIOS)
        .map(|s| {
            let mut by = vec![0.0; UNDERLYINGS.len()];
            for (t, p) in trade_pnl.iter().enumerate() {
                by[trade_u(t)] += p[s];
            }
            ScenarioPnl {
                name: format!("hist-2024-{:03}", s + 1),
                pnl: by.iter().sum(),
                stderr: 3.0 + uniform(s as u64 + 5) * 2.0,
                by_underlying: by,
            }
        })
        .collect();
    let totals: Vec<f64> = pnl.iter().map(|s| s.pnl).collect();
    let losses: Vec<_> = LEVELS
        .iter()
        .map(|l| value_at_risk(&totals, *l).expect("levels in (0, 1)"))
        .collect();
    // The first level's ES tail: its k worst scenarios.
    let mut order: Vec<usize> = (0..SCENARIOS).collect();
    order.sort_by(|a, b| totals[*a].total_cmp(&totals[*b]));
    let tail = &order[..losses[0].tail];
    let es_contributions: Vec<EsContribution> = trade_pnl
        .iter()
        .enumerate()
        .map(|(t, p)| EsContribution {
            id: trade_id(t),
            es: -tail.iter().map(|s| p[*s]).sum::<f64>() / tail.len() as f64,
        })
        .collect();
    let sum: f64 = es_contributions.iter().map(|c| c.es).sum();
    assert!((sum - losses[0].es).abs() < 1e-6 * losses[0].es.abs().max(1.0));
    let book: Vec<BookRow> = (0..TRADES)
        .map(|t| BookRow {
            id: trade_id(t),
            underlyings: vec![UNDERLYINGS[trade_u(t)].to_string()],
            model: "gbm".into(),
            payoff: ["european_call", "european_put", "digital_call"][t % 3].into(),
            // The hostile ids are the largest trades, so the table shows them.
            pv: delta(t) * 0.37 + (t as f64) * 1.5 + if t < 3 { 1e5 } else { 0.0 },
            stderr: 0.01 * (1 + t % 7) as f64,
        })
        .collect();
    let base_pv = book.iter().map(|b| b.pv).sum();
    let report = RiskReport {
        title: "Portfolio risk: book <demo> & \"friends\"".into(),
        run: RunInfo {
            inputs: vec!["book.jsonl".into(), "scenarios.csv".into()],
            engine: "cpu".into(),
            device: "test CPU".into(),
            seed: 42,
            paths: 10_000,
            date: "2026-11-27 21:00 UTC".into(),
            details: vec![("Levels".into(), "99%, 97.5%".into())],
        },
        base_pv,
        base_stderr: 1.234,
        trades: TRADES,
        scenarios: SCENARIOS,
        unmoved_trades: 3,
        losses,
        pnl,
        underlyings: UNDERLYINGS.iter().map(|s| s.to_string()).collect(),
        es_contributions,
        book,
    };
    (report, trade_pnl)
}

/// A listener standing in for chromium's proxy: it counts connections and
/// keeps the first line of each (the URL that would have been fetched).
struct Trap {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Trap {
    fn new() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 512];
                    let n = (&conn).read(&mut buf).unwrap_or(0);
                    let line = String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    log.lock().expect("trap log").push(line);
                });
            }
        });
        Trap { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("trap log").clone()
    }
}

/// Whether a request line seen by the trap is chromium's own housekeeping
/// rather than the page's: the browser asks its component updater and
/// preconnects to its sign-in host whatever the page and despite
/// `--disable-background-networking`. Only these exact services pass; a
/// page fetching anything (fonts, images, scripts, from any other host or
/// path) fails. A connection closed before saying anything is a
/// preconnect the browser dropped on exit: the page has no `<link>` that
/// could ask for one.
fn housekeeping(line: &str) -> bool {
    if line.is_empty() {
        return true;
    }
    [
        "POST http://update.googleapis.com/service/update2/",
        "CONNECT update.googleapis.com:443 ",
        "CONNECT accounts.google.com:443 ",
        "GET http://clients2.google.com/time/1/current?",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// The chromium binary, or why the test cannot run.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("RISKPOOL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Some(path);
    }
    let why = format!("{} not found (Debian's chromium package)", path.display());
    if std::env::var("RISKPOOL_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("RISKPOOL_REQUIRE_CHROMIUM=1 but {why}");
    }
    eprintln!("skipping the browser test: {why}");
    None
}

/// Runs headless chromium on `page` with a fresh profile and `trap` as
/// its proxy for every host but loopback; returns its stdout.
fn browse(bin: &Path, trap: &Trap, dir: &Path, extra: &[String], page: &Path) -> String {
    let work = tempfile::tempdir_in(dir).expect("work dir");
    let profile = work.path().join("profile");
    let out_path = work.path().join("stdout");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-client-side-phishing-detection",
            "--disable-component-extensions-with-background-pages",
            "--disable-domain-reliability",
            "--no-default-browser-check",
            "--no-pings",
            "--metrics-recording-only",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", trap.port))
        .arg("--proxy-bypass-list=<-loopback>")
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {extra:?} ran past 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium {extra:?}: {status}");
    std::fs::read_to_string(&out_path).expect("chromium's stdout")
}

/// The start tag of the element with `id` in `dom`, and its text up to
/// the next tag.
fn element<'a>(dom: &'a str, id: &str) -> (&'a str, &'a str) {
    let at = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no element #{id} in the DOM"));
    let start = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    let text_end = end + dom[end..].find('<').unwrap_or(dom.len() - end);
    (&dom[start..=end], &dom[end + 1..text_end])
}

/// An attribute's value in a start tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(r#" {name}=""#);
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// Every start tag in `dom` that begins with `prefix` (e.g. `<g class="contributor"`).
fn tags<'a>(dom: &'a str, prefix: &str) -> Vec<&'a str> {
    dom.match_indices(prefix)
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').expect("tag end") + 1])
        .collect()
}

fn value(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .unwrap_or_else(|| panic!("{tag} has no {name}"))
        .parse()
        .unwrap_or_else(|e| panic!("{tag}: {name}: {e}"))
}

/// A figure as shown ("-1,234.56") back to a number.
fn shown(text: &str) -> f64 {
    let t: String = text
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    t.trim_start_matches('±')
        .parse()
        .unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// Width and height from a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        b.len() > 24 && b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn the_report_renders_in_a_real_browser_without_network() {
    let (r, _) = book();
    let html = report::render(&r);

    // Nothing in the file could fetch anything.
    for bad in [
        "http://", "https://", "src=", "href=", "url(", "@import", "<script", "<link", "<iframe",
        "<object",
    ] {
        assert!(!html.contains(bad), "the page holds `{bad}`");
    }
    assert!(html.contains("default-src 'none'"), "no CSP");

    let Some(bin) = chromium() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write the page");
    let trap = Trap::new();

    let dom = browse(&bin, &trap, dir.path(), &["--dump-dom".into()], &page);
    let shots = [("desktop", 1280u32, 2600u32), ("phone", 390, 4200)];
    for (name, w, h) in shots {
        let png = dir.path().join(format!("{name}.png"));
        browse(
            &bin,
            &trap,
            dir.path(),
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={w},{h}"),
            ],
            &page,
        );
        assert_eq!(png_size(&png), (w, h), "{name} screenshot");
    }
    if let Some(keep) = std::env::var_os("RISKPOOL_REPORT_KEEP") {
        std::fs::create_dir_all(&keep).expect("keep dir");
        for f in ["report.html", "desktop.png", "phone.png"] {
            std::fs::copy(dir.path().join(f), Path::new(&keep).join(f)).expect("keep a file");
        }
    }
    let (own, fetched): (Vec<String>, Vec<String>) =
        trap.seen().into_iter().partition(|l| housekeeping(l));
    eprintln!("chromium's own requests (allowed): {own:?}");
    assert_eq!(
        fetched,
        Vec::<String>::new(),
        "the page made network requests"
    );

    // The figures, exactly and as shown.
    assert!(
        dom.contains("<main>"),
        "no page in the DOM: {}",
        &dom[..dom.len().min(300)]
    );
    let check = |id: &str, want: f64| {
        let (tag, text) = element(&dom, id);
        assert_eq!(value(tag, "data-value"), want, "#{id}");
        let got = shown(text);
        assert!(
            (got - want).abs() <= 0.006 + 1e-9 * want.abs(),
            "#{id} shows {text}, want {want}"
        );
    };
    check("base-pv", r.base_pv);
    for l in &r.losses {
        // 0.99 -> "99", 0.975 -> "97_5".
        let key = format!("{}", (l.level * 1000.0).round() / 10.0).replace('.', "_");
        check(&format!("var-{key}"), l.var);
        check(&format!("es-{key}"), l.es);
    }
    assert_eq!(
        value(element(&dom, "scenarios").0, "data-value"),
        SCENARIOS as f64
    );
    assert_eq!(value(element(&dom, "unmoved-trades").0, "data-value"), 3.0);

    // (a) the distribution: every scenario in a bar, a line per figure.
    assert_eq!(tags(&dom, "<svg class=\"chart\"").len(), 3, "three charts");
    let bars = tags(&dom, "<rect class=\"bar");
    let hist: Vec<&str> = bars
        .iter()
        .copied()
        .filter(|t| t.contains("data-count"))
        .collect();
    assert!(hist.len() >= 10, "{} histogram bars", hist.len());
    assert_eq!(
        hist.iter().map(|t| value(t, "data-count")).sum::<f64>(),
        SCENARIOS as f64
    );
    assert!(
        hist.iter().any(|t| t.contains("bar tail")),
        "the tail is marked"
    );
    let markers = tags(&dom, "<g class=\"marker");
    assert_eq!(markers.len(), 2 * LEVELS.len());
    for l in &r.losses {
        for (m, v) in [("var", l.var), ("es", l.es)] {
            assert!(
                markers.iter().any(|t| attr(t, "data-measure") == Some(m)
                    && value(t, "data-level") == l.level
                    && value(t, "data-value") == v),
                "no {m} line at {}",
                l.level
            );
        }
    }
    // (b) the five worst scenarios, worst first, split by underlying.
    let mut sorted: Vec<f64> = r.pnl.iter().map(|s| s.pnl).collect();
    sorted.sort_by(f64::total_cmp);
    let rows: Vec<f64> = tags(&dom, "<g class=\"scenario\"")
        .iter()
        .map(|t| value(t, "data-pnl"))
        .collect();
    assert_eq!(rows, sorted[..5].to_vec());
    let segs = tags(&dom, "<rect class=\"seg\"");
    assert!(segs.len() >= 5, "{} segments", segs.len());
    assert!(
        segs.iter()
            .any(|t| attr(t, "data-underlying") == Some("other")),
        "8 underlyings: 6 named, then other"
    );
    // The worst scenarios' table: the ten worst, worst first.
    let at = dom
        .find(r#"id="worst-table""#)
        .expect("the worst scenarios' table");
    let table = &dom[at..at + dom[at..].find("</table>").expect("table end")];
    let listed: Vec<f64> = tags(table, r#"<td class="num" data-value="#)
        .iter()
        .map(|t| value(t, "data-value"))
        .collect();
    assert_eq!(listed, sorted[..10].to_vec());
    // (c) the ten largest ES contributions, largest first.
    let mut es: Vec<f64> = r.es_contributions.iter().map(|c| c.es).collect();
    es.sort_by(|a, b| b.total_cmp(a));
    let shown_es: Vec<f64> = tags(&dom, "<g class=\"contributor\"")
        .iter()
        .map(|t| value(t, "data-value"))
        .collect();
    assert_eq!(shown_es, es[..10].to_vec());
    // (d) the book: the 50 largest by |PV|, the other 70 counted.
    let (table, _) = element(&dom, "book-table");
    assert_eq!(
        (attr(table, "data-rows"), attr(table, "data-omitted")),
        (Some("50"), Some("70"))
    );
    assert!(dom.contains("70 more are omitted"));

    // Hostile ids arrive as text, never as markup.
    assert!(!dom.contains("<script"), "a trade id became a script");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(dom.contains("日本語の取引-Ω"));
}

/// The network check can fail: a page with a remote image reaches the
/// trap through the same flags.
#[test]
fn the_proxy_trap_sees_a_page_that_fetches() {
    let Some(bin) = chromium() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("fetches.html");
    std::fs::write(
        &page,
        r#"<!DOCTYPE html><p>x</p><img src="http://riskpool-report-test.invalid/x.png">"#,
    )
    .expect("write the page");
    let trap = Trap::new();
    browse(&bin, &trap, dir.path(), &["--dump-dom".into()], &page);
    let seen = trap.seen();
    assert!(
        seen.iter()
            .any(|l| l.contains("riskpool-report-test.invalid")),
        "the trap saw {seen:?}"
    );
}
