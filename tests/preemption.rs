//! Pre-emption safety and engine fallback, end to end: `riskpool price`
//! killed with SIGKILL at random moments and rerun each time ends with
//! exactly the file an uninterrupted run writes; a finished output is not
//! recomputed; an engine failure mid-run falls back (auto) or stops with
//! what was finished kept (a named engine), and a rerun completes it; a
//! failed write stops the run with the reason.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{bin, p};

/// The result file without its timing column.
fn rows(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            // tradenum,pv,pv_time,pv_stderr: drop pv_time
            format!("{},{},{}", c[0], c[1], c[3])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn generate(dir: &Path, n: u64) -> std::path::PathBuf {
    let f = dir.join("trades.csv");
    let o = bin()
        .args([
            "generate",
            "--trades",
            &n.to_string(),
            "--output",
            p(&f),
            "--seed",
            "11",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    f
}

const PRICE: [&str; 4] = ["--paths", "1500", "--batch-trades", "40"];

/// `riskpool price` of `trades` into `out` with the test's paths and batches.
fn price(trades: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["price", "--input", p(trades), "--output", p(out)])
        .args(extra)
        .args(PRICE);
    c
}

#[test]
fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let d = tempfile::tempdir().unwrap();
    let trades = generate(d.path(), 3000);
    let reference = d.path().join("reference.csv");
    let o = price(&trades, &reference, &["--threads", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = rows(&reference);

    // A small deterministic generator for the kill moments.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut kills = 0;
    let mut cycles = 0;
    while kills < 20 {
        cycles += 1;
        let out = d.path().join(format!("out{cycles}.csv"));
        loop {
            let mut child = price(&trades, &out, &["--threads", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Each kill waits a little longer, so a machine too loaded to
            // get past the input check in 165 ms still finishes.
            std::thread::sleep(Duration::from_millis(15 + next() % 150 + 10 * kills));
            match child.try_wait().unwrap() {
                Some(status) => {
                    assert!(status.success());
                    break;
                }
                None => {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                    assert!(kills < 400, "the run never finishes");
                }
            }
        }
        assert_eq!(
            rows(&out),
            want,
            "cycle {cycles}: the resumed file differs from an uninterrupted run"
        );
        assert!(!d.path().join(format!("out{cycles}.csv.partial")).exists());
    }
    eprintln!("{kills} kills over {cycles} runs to completion; every final file equals the uninterrupted run");

    // A finished output is not recomputed.
    let out = d.path().join("out1.csv");
    let before = std::fs::read(&out).unwrap();
    let o = price(&trades, &out, &[]).output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already complete"));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("out1.csv.summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["trades"], 3000);
    // Other arithmetic asked for (--fast-math) is another result: priced again.
    let o = price(&trades, &out, &["--fast-math"]).output().unwrap();
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("already complete"));
}

#[test]
fn an_engine_failure_falls_back_or_keeps_what_was_finished() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let trades = generate(d.path(), 200);
    let reference = d.path().join("reference.csv");
    assert!(price(&trades, &reference, &[]).status().unwrap().success());

    // One batch in flight (the CPU engine's way), and two (the CUDA
    // engine's: the failing batch is submitted while the one before it is
    // still in flight, and that one must still reach the file).
    for in_flight in ["1", "2"] {
        // auto: the third batch fails, the rest goes to the next engine.
        let failing = |out: &Path, engine: &str| {
            price(&trades, out, &["--engine", engine])
                .env("RISKPOOL_INJECT_ENGINE_FAILURE", "2")
                .env("RISKPOOL_BATCHES_IN_FLIGHT", in_flight)
                .output()
                .unwrap()
        };
        let out = d.path().join(format!("auto{in_flight}.csv"));
        let o = failing(&out, "auto");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains("injected failure") && err.contains("the remaining trades go to"),
            "{err}"
        );
        assert_eq!(rows(&out), rows(&reference));

        // A named engine is not swapped: exit 1, the first two batches kept.
        let out = d.path().join(format!("named{in_flight}.csv"));
        let o = failing(&out, "cpu");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("80 trades priced before the failure are kept"),
            "{in_flight}: {err}"
        );
        assert!(!out.exists());
        let partial =
            std::fs::read_to_string(d.path().join(format!("named{in_flight}.csv.partial")))
                .unwrap();
        // The journal's signature line, the CSV header and 80 rows.
        assert_eq!(partial.lines().count(), 82);
        // The rerun prices only the rest.
        let o = price(&trades, &out, &["--engine", "cpu"])
            .env("RISKPOOL_BATCHES_IN_FLIGHT", in_flight)
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("resuming: 80 of 200"));
        assert_eq!(rows(&out), rows(&reference));
    }
}

#[test]
fn a_failed_write_stops_the_run_with_the_reason_and_no_output() {
    let d = tempfile::tempdir().unwrap();
    let trades = generate(d.path(), 200);
    let out = d.path().join("full.csv");
    // Files may grow to 2 KiB (`ulimit -f`, SIGXFSZ ignored so the write
    // fails with EFBIG): the journal's writes fail at its first batches,
    // while the reader and the engine are batches ahead of the writer.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -f 4 && trap '' XFSZ && exec \"$0\" \"$@\"")
        .arg(bin().get_program())
        .args(price(&trades, &out, &["--engine", "cpu"]).get_args());
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("riskpool price did not stop after a failed write");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("full.csv.partial") && err.contains("File too large"),
        "{err}"
    );
    assert!(!out.exists());
}
