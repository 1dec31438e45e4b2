//! The Batch accelerator's task graph, run locally with azfinsim's own
//! command lines: generate -> split -> one `riskpool azfinsim` task per
//! file -> concat. Every trade is priced exactly once, with the price a
//! single run over the whole file gives (stream ids come from tradenum).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::util::p;

fn run(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{args:?}: {err}");
    err
}

fn table(path: &Path) -> BTreeMap<u64, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("tradenum,pv,pv_time,pv_stderr"));
    let mut m = BTreeMap::new();
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        let prev = m.insert(c[0].parse().unwrap(), format!("{},{}", c[1], c[3]));
        assert!(prev.is_none(), "trade {} priced twice", c[0]);
    }
    m
}

#[test]
fn the_azfinsim_task_graph_prices_every_trade_exactly_once() {
    let d = tempfile::tempdir().unwrap();
    let trades = d.path().join("trades.csv");
    // azfinsim's spellings of generate and split.
    run(&[
        "generate",
        "--cache-path",
        p(&trades),
        "--trade-window",
        "1000",
        "--seed",
        "4",
    ]);
    let parts = d.path().join("parts");
    run(&[
        "split",
        "--cache-path",
        p(&trades),
        "--trade-window",
        "300",
        "--output-path",
        p(&parts),
    ]);
    let mut files: Vec<_> = std::fs::read_dir(&parts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "trades.0.csv",
            "trades.1.csv",
            "trades.2.csv",
            "trades.3.csv"
        ]
    );

    // One task per file, azfinsim's command line, ignored flags included.
    let results = d.path().join("results");
    for f in &files {
        run(&[
            "azfinsim",
            "--cache-path",
            p(f),
            "--cache-type",
            "filesystem",
            "--algorithm",
            "pvonly",
            "--output-path",
            p(&results),
            "--verbose",
            "--no-color",
            "--tags",
            "x=y",
        ]);
    }
    let mut outs: Vec<_> = (0..4)
        .map(|k| results.join(format!("trades.{k}.results.csv")))
        .collect();
    assert!(outs.iter().all(|o| o.exists()));
    let all = d.path().join("all.csv");
    let mut args = vec!["concat", "--output", p(&all)];
    outs.sort();
    args.extend(outs.iter().map(|o| p(o)));
    run(&args);
    let joined = table(&all);
    assert_eq!(
        joined.keys().copied().collect::<Vec<_>>(),
        (0..1000).collect::<Vec<u64>>()
    );

    // The same prices as one task over the whole file.
    let whole = d.path().join("whole.results.csv");
    run(&["price", "--input", p(&trades), "--output", p(&whole)]);
    assert_eq!(table(&whole), joined);

    // A trade window prices trades S..S+W-1 only.
    run(&[
        "azfinsim",
        "--cache-path",
        p(&trades),
        "--start-trade",
        "100",
        "--trade-window",
        "5",
        "--output-path",
        p(&results),
    ]);
    let w = table(&results.join("trades.results.csv"));
    assert_eq!(
        w.keys().copied().collect::<Vec<_>>(),
        vec![100, 101, 102, 103, 104]
    );
    for (k, v) in &w {
        assert_eq!(&joined[k], v);
    }
}

#[test]
fn azfinsim_modes_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let trades = d.path().join("t.csv");
    run(&["generate", "--trades", "12", "--output", p(&trades)]);
    // deltavega columns.
    run(&[
        "azfinsim",
        "--cache-path",
        p(&trades),
        "--algorithm",
        "deltavega",
    ]);
    let dv = std::fs::read_to_string(d.path().join("t.results.csv")).unwrap();
    assert!(dv.starts_with("tradenum,delta,vega,"), "{dv}");
    assert_eq!(dv.lines().count(), 13);
    // synthetic: tradenum,random.
    let out = d.path().join("syn");
    run(&[
        "azfinsim",
        "--cache-path",
        p(&trades),
        "--algorithm",
        "synthetic",
        "--task-duration",
        "5",
        "--mem-usage",
        "2",
        "--output-path",
        p(&out),
    ]);
    let syn = std::fs::read_to_string(out.join("t.results.csv")).unwrap();
    assert!(syn.starts_with("tradenum,random\n0,0."), "{syn}");
    assert_eq!(syn.lines().count(), 13);
    // Always failing, and Redis mode: clear errors.
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args([
            "azfinsim",
            "--cache-path",
            p(&trades),
            "--algorithm",
            "synthetic",
            "--failure",
            "1",
            "--output-path",
            p(&out),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("synthetic failure"));
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args([
            "azfinsim",
            "--cache-path",
            p(&trades),
            "--cache-type",
            "redis",
            "--cache-name",
            "x",
            "--cache-port",
            "6380",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("use filesystem mode"));
    // concat refuses files with different headers, naming the file.
    let bad = d.path().join("bad.csv");
    std::fs::write(&bad, "tradenum,random\n1,0.5\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool"))
        .args([
            "concat",
            "--output",
            p(&d.path().join("x.csv")),
            p(&d.path().join("t.results.csv")),
            p(&bad),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.csv:1"));
}
