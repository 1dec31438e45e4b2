//! Results that survive real faults (issue 13), end to end with real files
//! and real signals: a partial file cut at any byte resumes to the
//! uninterrupted run's file; kills (SIGKILL, SIGTERM, SIGINT) in every
//! window of the write protocol; a full disk; two runs on one output; and
//! every refused case with its message, leaving no temporary file behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, p, riskpool, stderr};

/// Ids a hostile user might choose: commas, quotes, newlines, carriage
/// returns, multi-byte characters, spaces at the ends.
const AWKWARD: [&str; 8] = [
    "a,b é✓",
    "say \"hi\"",
    "two\nlines",
    "cr\rhere",
    "héllo ✓ 日本",
    " pad ",
    "plain",
    "\" 日本",
];

fn trade_json(id: &str, spot: &str) -> String {
    format!(
        r#"{{"id": {}, "model": {{"type": "gbm", "spot": {spot}, "rate": 0.03, "vol": 0.2}}, "payoff": {{"type": "european", "option": "call", "strike": 100}}, "maturity": 1, "steps": 2, "paths": 64}}"#,
        serde_json::to_string(id).unwrap()
    )
}

/// A JSON Lines book of `n` small trades with awkward ids.
fn book(dir: &Path, name: &str, n: usize) -> PathBuf {
    let text: String = (0..n)
        .map(|i| trade_json(&format!("{}{i}", AWKWARD[i % AWKWARD.len()]), "100") + "\n")
        .collect();
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap();
    f
}

fn price(input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["price", "--input", p(input), "--output", p(output)])
        .args(["--engine", "cpu", "--threads", "1", "--batch-trades", "8"])
        .args(extra);
    c
}

/// A results file's records without the timing columns, read with a CSV
/// reader (JSON Lines: each line's object without `seconds`).
fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "jsonl") {
        return text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_slice(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                vec![v.to_string()]
            })
            .collect();
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&text[..]);
    let recs: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    let header = recs[0].clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| &header[i] != "seconds" && &header[i] != "pv_time")
        .collect();
    recs.iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{path:?}: {r:?}");
            keep.iter().map(|&i| r[i].to_string()).collect()
        })
        .collect()
}

/// Files in `dir` that a finished or failed run must not leave.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp") || n.ends_with(".lock"))
        .collect()
}

/// Starts a run that stops at `point` and returns once it says so.
fn stalled(mut cmd: Command, point: &str) -> Child {
    let mut child = cmd
        .env("RISKPOOL_TEST_STALL", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains(&format!("stalled at {point}")) => break,
            Some(Ok(l)) => seen.push(l),
            _ => panic!("the run never reached {point}: {seen:?}"),
        }
    }
    // Keep draining stderr so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// Sends `signal` with the `kill` command and waits for the child to die.
fn kill(child: &mut Child, signal: &str) {
    let st = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "{signal}: {status:?}");
}

/// A folder on a memory file system where there is one: hundreds of
/// reruns each sync several times, which a disk makes slow.
fn fast_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

#[test]
fn a_partial_cut_at_any_byte_resumes_to_the_uninterrupted_file() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 24);
    for ext in ["csv", "jsonl"] {
        let reference = d.path().join(format!("reference.{ext}"));
        let o = price(&input, &reference, &[]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let want = rows(&reference);

        // A complete journal (its signature line, the rows, the end line),
        // just before the output is rendered from it.
        let out = d.path().join(format!("out.{ext}"));
        let partial = d.path().join(format!("out.{ext}.partial"));
        let mut child = stalled(price(&input, &out, &[]), "summary");
        kill(&mut child, "KILL");
        let full = std::fs::read(&partial).unwrap();
        assert!(full.len() > 200);

        // Every byte of the header and the first and last rows, and 200
        // random offsets.
        let ends: Vec<usize> = full
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        // The signature line, the CSV header and the first row (its id has
        // a comma and multi-byte characters, no newline), and the last row
        // (a quote and multi-byte characters) and the end line.
        let first_rows_end = if ext == "csv" { ends[2] } else { ends[1] };
        let mut cuts: Vec<usize> = (0..=first_rows_end).collect();
        cuts.extend(ends[ends.len() - 3]..=full.len());
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            cuts.push((state % full.len() as u64) as usize);
        }
        for cut in cuts {
            std::fs::write(&partial, &full[..cut]).unwrap();
            let _ = std::fs::remove_file(&out);
            let o = price(&input, &out, &[]).output().unwrap();
            assert!(o.status.success(), "cut at {cut}: {}", stderr(&o));
            assert_eq!(
                rows(&out),
                want,
                "{ext}: cut at byte {cut} of {}",
                full.len()
            );
            assert!(!partial.exists(), "cut at {cut}");
        }
        assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
    }
}

#[test]
fn kills_in_every_window_then_the_rerun_writes_the_reference_file() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 40);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let want = rows(&reference);
    let points = ["header", "batch", "summary", "summary-tmp", "rename"];
    for signal in ["KILL", "TERM", "INT"] {
        for point in points {
            let out = d.path().join(format!("out-{signal}-{point}.csv"));
            let mut child = stalled(price(&input, &out, &[]), point);
            kill(&mut child, signal);
            assert!(!out.exists() || point == "never");
            // A second kill in the same window of the rerun, then a rerun
            // that finishes.
            let mut child = stalled(price(&input, &out, &[]), point);
            kill(&mut child, signal);
            let o = price(&input, &out, &[]).output().unwrap();
            assert!(o.status.success(), "{signal} at {point}: {}", stderr(&o));
            assert_eq!(rows(&out), want, "{signal} at {point}");
            for side in [".partial", ".tmp", ".lock"] {
                assert!(
                    !d.path()
                        .join(format!("out-{signal}-{point}.csv{side}"))
                        .exists(),
                    "{signal} at {point}: {side} left"
                );
            }
            assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
            // And it is complete now.
            let o = price(&input, &out, &[]).output().unwrap();
            assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));
        }
    }
}

#[test]
fn a_second_writer_fails_fast_and_the_first_completes() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let input = book(d.path(), "book.jsonl", 40);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let out = d.path().join("out.csv");
    let hold = d.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let mut first = price(&input, &out, &[]);
    first.env("RISKPOOL_TEST_STALL_WHILE", &hold);
    let mut first = stalled(first, "batch");
    let t0 = Instant::now();
    let o = price(&input, &out, &[]).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("another riskpool run (pid {})", first.id()))
            && err.contains("out.csv"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    std::fs::remove_file(&hold).unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(rows(&out), rows(&reference));
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}

/// `generate` and `split` take their outputs' locks as every writer does:
/// while a price run writes `out.csv` (or a part `split` would replace),
/// they stop with exit 1 naming the other run, touching nothing, and the
/// price run completes as if alone.
#[test]
fn generate_and_split_do_not_write_over_a_running_job() {
    if !crate::util::hooks() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let input = book(d.path(), "book.jsonl", 40);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let trades = d.path().join("trades.csv");
    assert!(
        riskpool(&["generate", "--trades", "4", "--output", p(&trades)])
            .status
            .success()
    );
    let parts = d.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    for out in [d.path().join("out.csv"), parts.join("trades.0.csv")] {
        let hold = d.path().join("hold");
        std::fs::write(&hold, "").unwrap();
        let mut first = price(&input, &out, &[]);
        first.env("RISKPOOL_TEST_STALL_WHILE", &hold);
        let mut first = stalled(first, "batch");
        let o = if out.ends_with("out.csv") {
            riskpool(&["generate", "--trades", "3", "--output", p(&out)])
        } else {
            riskpool(&[
                "split",
                "--input",
                p(&trades),
                "--trades-per-file",
                "2",
                "--output-dir",
                p(&parts),
            ])
        };
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("another riskpool run (pid {})", first.id())),
            "{err}"
        );
        assert!(!parts.join("trades.1.csv").exists());
        std::fs::remove_file(&hold).unwrap();
        assert!(first.wait().unwrap().success());
        assert_eq!(rows(&out), rows(&reference));
    }
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if !is_root {
            return Err("not root: a tmpfs cannot be mounted".into());
        }
        std::fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                p(dir),
            ])
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !o.status.success() {
            return Err(format!("mount failed: {}", stderr(&o)));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,size={size}"), p(&self.0)])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_and_the_rerun_after_more_space_completes() {
    let d = tempfile::tempdir().unwrap();
    // Multi-byte ids throughout, so the full disk cuts a character.
    let text: String = (0..300)
        .map(|i| trade_json(&format!("日本語-✓-é-{i}"), "100") + "\n")
        .collect();
    let input = d.path().join("book.jsonl");
    std::fs::write(&input, text).unwrap();
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let mnt = d.path().join("mnt");
    let fs = match Tmpfs::mount(&mnt, "12k") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let out = mnt.join("out.csv");
    let o = price(&input, &out, &[]).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!out.exists());
    assert!(leftovers(&mnt).is_empty(), "{:?}", leftovers(&mnt));
    fs.resize("4m");
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming:"), "{}", stderr(&o));
    assert_eq!(rows(&out), rows(&reference));
    assert!(leftovers(&mnt).is_empty(), "{:?}", leftovers(&mnt));
    assert!(!mnt.join("out.csv.partial").exists());
}

#[track_caller]
fn refused(o: &Output, code: i32, words: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{words:?}: {err}");
    for w in words {
        assert!(err.contains(w), "expected `{w}` in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_outputs_and_flags_are_refused_naming_the_path_or_the_flag() {
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 6);
    let before = std::fs::read(&input).unwrap();
    let run = |out: &Path, extra: &[&str]| price(&input, out, extra).output().unwrap();

    // An output that is a folder: refused before anything is priced.
    let folder = d.path().join("folder.csv");
    std::fs::create_dir(&folder).unwrap();
    refused(
        &run(&folder, &[]),
        2,
        &["--output", "folder.csv", "is a folder"],
    );
    // An output in a folder that does not exist: the user's path, not a temp file.
    refused(
        &run(&d.path().join("nope/x.csv"), &[]),
        2,
        &["--output", "nope/x.csv", "does not exist"],
    );
    // The output is the input, however spelled.
    std::os::unix::fs::symlink(&input, d.path().join("link.jsonl")).unwrap();
    std::fs::hard_link(&input, d.path().join("hard.jsonl")).unwrap();
    for out in [
        d.path().join("./book.jsonl"),
        d.path().join("link.jsonl"),
        d.path().join("hard.jsonl"),
        d.path().join("sub/../book.jsonl"),
    ] {
        std::fs::create_dir_all(d.path().join("sub")).unwrap();
        refused(&run(&out, &[]), 2, &["is the input file"]);
        assert_eq!(std::fs::read(&input).unwrap(), before);
    }
    // Flags are named, not the trade file.
    let out = d.path().join("out.csv");
    let err = refused(
        &run(&out, &["--paths", "4294967297"]),
        2,
        &["'--paths <PATHS>'", "4294967297", "from 1 to 4294967296"],
    );
    assert!(!err.contains("book.jsonl:"), "{err}");
    let err = refused(
        &run(&out, &["--antithetic", "--paths", "101"]),
        2,
        &["--paths 101", "even"],
    );
    assert!(!err.contains("book.jsonl:"), "{err}");
    // --threads far beyond the cores is clamped with a warning, not a hang.
    let t0 = Instant::now();
    let o = bin()
        .args(["price", "--input", p(&input), "--output", p(&out)])
        .args(["--engine", "cpu", "--threads", "100000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--threads 100000"), "{}", stderr(&o));
    assert!(t0.elapsed() < Duration::from_secs(30));
    std::fs::remove_file(&out).unwrap();
    // A FIFO is refused at once (it cannot be read twice), and so is `-`.
    let fifo = d.path().join("fifo.jsonl");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = price(&fifo, &out, &[]).output().unwrap();
    refused(&o, 2, &["--input", "fifo.jsonl", "not a regular file"]);
    refused(
        &price(Path::new("-"), &out, &[]).output().unwrap(),
        2,
        &["--input -", "standard input"],
    );
    // Duplicate JSON keys, named.
    let dup = d.path().join("dup.jsonl");
    std::fs::write(
        &dup,
        trade_json("a", "100").replacen("{", r#"{"id": "b", "#, 1),
    )
    .unwrap();
    refused(
        &price(&dup, &out, &[]).output().unwrap(),
        2,
        &["dup.jsonl:1", "duplicate key `id`"],
    );
    // generate refuses trade numbers that overflow.
    let g = d.path().join("g.csv");
    refused(
        &riskpool(&[
            "generate",
            "--trades",
            "10",
            "--start-trade",
            "18446744073709551610",
            "--output",
            p(&g),
        ]),
        2,
        &["--start-trade", "64 bits"],
    );
    assert!(!g.exists());
    refused(
        &riskpool(&[
            "generate",
            "--trades",
            "10",
            "--output",
            p(&d.path().join("nope/g.csv")),
        ]),
        2,
        &["--output", "nope/g.csv", "does not exist"],
    );
    assert!(!out.exists());
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
    let partials: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
}

/// Issue 22 item 13: an output named as another run's side file (its
/// journal, lock, temporary or summary) is refused before anything is
/// written, so a second run cannot break the first; the file there is left
/// as it was.
#[test]
fn an_output_named_as_a_side_file_is_refused() {
    let d = fast_tempdir();
    let input = book(d.path(), "b.jsonl", 2);
    let scen = d.path().join("s.csv");
    std::fs::write(&scen, "scenario,underlying,spot,vol,rate\nup,A,0.01,,\n").unwrap();
    for name in [
        "a.csv.part.partial",
        "a.csv.partial",
        "a.csv.lock",
        "a.csv.tmp",
        "a.csv.summary.json",
        "a.csv.summary.json.tmp",
        "a.csv.LOCK",
        "a.csv.Summary.Json",
    ] {
        let victim = d.path().join(name);
        std::fs::write(&victim, "another run's\n").unwrap();
        let o = price(&input, &victim, &[]).output().unwrap();
        refused(&o, 2, &["--output", name]);
        for flag in ["--output", "--by-trade", "--report"] {
            let out = d.path().join("pnl.csv");
            let mut a = vec![
                "risk",
                "--input",
                p(&input),
                "--scenarios",
                p(&scen),
                "--output",
                p(&out),
            ];
            if flag == "--output" {
                a[6] = p(&victim);
            } else {
                a.extend([flag, p(&victim)]);
            }
            let o = riskpool(&a);
            refused(&o, 2, &[flag, name]);
            assert!(!out.exists());
        }
        // A shard's part file may have any name, but not a side file's;
        // nor may generate's book.
        let shard = [
            "risk",
            "--input",
            p(&input),
            "--scenarios",
            p(&scen),
            "--output",
            p(&victim),
            "--shard",
            "0/2",
        ];
        refused(
            &riskpool(&shard),
            2,
            &["--output", name, "kept for the side files"],
        );
        let generate = ["generate", "--trades", "2", "--output", p(&victim)];
        refused(
            &riskpool(&generate),
            2,
            &["--output", name, "kept for the side files"],
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "another run's\n");
        std::fs::remove_file(&victim).unwrap();
    }
}

/// A term that f32 cannot hold (beyond 3.4e38) is refused under
/// `--precision f32` before anything is priced (exit 2, naming the field
/// and the way out), where it used to be infinite in the kernels and a
/// put on it paid 0; f64 takes it.
#[test]
fn a_term_beyond_f32_is_refused_in_f32() {
    let d = fast_tempdir();
    let out = d.path().join("out.csv");
    for (field, spot) in [("model.spot", "1e39"), ("model.spot", "1e308")] {
        let text = [trade_json("ok", "100"), trade_json("big", spot)].join("\n");
        let input = d.path().join("nf.jsonl");
        std::fs::write(&input, text).unwrap();
        let o = price(&input, &out, &["--precision", "f32"])
            .output()
            .unwrap();
        refused(
            &o,
            2,
            &[
                "nf.jsonl:2",
                field,
                "does not fit in f32",
                "--precision f64",
            ],
        );
        assert!(!out.exists());
        assert!(leftovers(d.path()).is_empty());
    }
    // In risk too, every shard alike.
    let book = d.path().join("b.jsonl");
    std::fs::write(
        &book,
        trade_json("big", "1e39").replace(r#""vol": 0.2"#, r#""vol": 0.2, "underlying": "A""#)
            + "\n",
    )
    .unwrap();
    let scen = d.path().join("s.csv");
    std::fs::write(&scen, "scenario,underlying,spot,vol,rate\nup,A,0.01,,\n").unwrap();
    let pnl = d.path().join("pnl.csv");
    let o = riskpool(&[
        "risk",
        "--input",
        p(&book),
        "--scenarios",
        p(&scen),
        "--output",
        p(&pnl),
    ]);
    refused(&o, 2, &["b.jsonl:1", "model.spot", "does not fit in f32"]);
}

/// Issue 22 items 6 and 14: a vol so large that the path state is not
/// finite (1e39 is infinite in f32, 1e308 squared in f64) is an error
/// naming the vol, never a price from paths paid 0; a basket weight of
/// 1e308 is blamed on that weight, in the input's names.
#[test]
fn a_path_that_is_not_finite_is_an_error_naming_the_field_that_made_it() {
    let d = fast_tempdir();
    let out = d.path().join("out.csv");
    let vol = |v: &str, american: bool| {
        let ex = if american {
            r#", "exercise": {"style": "american"}"#
        } else {
            ""
        };
        format!(
            r#"{{"id": "huge-vol", "model": {{"type": "gbm", "spot": 100, "rate": 0.03, "vol": {v}}}, "payoff": {{"type": "european", "option": "put", "strike": 100}}, "maturity": 1, "steps": 4, "paths": 64{ex}}}"#
        )
    };
    let basket = r#"{"id": "bk", "model": {"type": "gbm_multi", "rate": 0.03, "assets": [{"spot": 100, "vol": 0.2}, {"spot": 90, "vol": 0.3}], "correlation": [[1, 0.5], [0.5, 1]]}, "payoff": {"type": "basket", "option": "call", "strike": 95, "weights": [1e308, 0.4]}, "maturity": 1, "steps": 4, "paths": 64}"#;
    for (trade, precision, field) in [
        (vol("1e20", false), "f32", "`model.vol` = 1e20"),
        (vol("1e308", false), "f64", "`model.vol` = 1e308"),
        (vol("1e308", true), "f64", "`model.vol` = 1e308"),
        (basket.to_string(), "f64", "`payoff.weights[0]` = 1e308"),
    ] {
        let input = d.path().join("nf.jsonl");
        std::fs::write(&input, trade_json("ok", "100") + "\n" + &trade + "\n").unwrap();
        let o = price(&input, &out, &["--precision", precision])
            .output()
            .unwrap();
        refused(
            &o,
            1,
            &[
                "did not price to a finite number",
                field,
                "1 rows before it are kept",
            ],
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_price_that_is_not_finite_fails_naming_the_trade_and_the_field() {
    let d = fast_tempdir();
    let out = d.path().join("out.csv");
    // Portfolio trades: the second of three overflows.
    for (spot, precision) in [("1e308", "f64")] {
        let text = [
            trade_json("ok-1", "100"),
            trade_json("big, \"spot\"", spot),
            trade_json("ok-2", "100"),
        ]
        .join("\n");
        let input = d.path().join("nf.jsonl");
        std::fs::write(&input, text).unwrap();
        let o = price(&input, &out, &["--precision", precision])
            .output()
            .unwrap();
        refused(
            &o,
            1,
            &[
                "trade `big, \"spot\"`",
                "not price to a finite number",
                "model.spot",
                "1 rows before it are kept",
            ],
        );
        assert!(!out.exists());
        assert!(leftovers(d.path()).is_empty());
    }
    // azfinsim trades: the column names of azfinsim's file.
    let trades = d.path().join("az.csv");
    assert!(
        riskpool(&["generate", "--trades", "2", "--output", p(&trades)])
            .status
            .success()
    );
    let text = std::fs::read_to_string(&trades).unwrap();
    // (1e308 does not fit in f32, which refuses it up front: f64 here.)
    for (column, value, precision) in [
        (4, "1e5", "f32"),
        (1, "1e308", "f64"),
        (13, "1e-320", "f32"),
    ] {
        let name = text
            .lines()
            .next()
            .unwrap()
            .split(',')
            .nth(column)
            .unwrap()
            .to_string();
        let edited: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut c: Vec<&str> = l.split(',').collect();
                if i == 2 {
                    c[column] = value;
                }
                c.join(",")
            })
            .collect();
        let input = d.path().join("az-bad.csv");
        std::fs::write(&input, edited.join("\n") + "\n").unwrap();
        let o = price(&input, &out, &["--paths", "64", "--precision", precision])
            .output()
            .unwrap();
        refused(
            &o,
            1,
            &[
                "trade `1`",
                "not price to a finite number",
                &format!("`{name}`"),
            ],
        );
        assert!(!out.exists());
    }
}

#[test]
fn reruns_trust_only_what_checks_out() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 20);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let want = rows(&reference);
    let out = d.path().join("out.csv");

    // "Complete" is the output matching its summary, not a summary alone.
    assert!(price(&input, &out, &[]).status().unwrap().success());
    std::fs::remove_file(&out).unwrap();
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success() && !stderr(&o).contains("already complete"));
    assert_eq!(rows(&out), want);
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&out, text.replacen(",64,", ",65,", 1)).unwrap();
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success() && !stderr(&o).contains("already complete"));
    assert_eq!(rows(&out), want);
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));

    // A changed input of the same size and modification time is priced anew.
    let changed = d.path().join("changed.jsonl");
    std::fs::copy(&input, &changed).unwrap();
    let out2 = d.path().join("out2.csv");
    assert!(price(&changed, &out2, &[]).status().unwrap().success());
    let mtime = std::fs::metadata(&changed).unwrap().modified().unwrap();
    let edited =
        std::fs::read_to_string(&changed)
            .unwrap()
            .replacen(r#""spot": 100"#, r#""spot": 101"#, 1);
    std::fs::write(&changed, edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&changed)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let o = price(&changed, &out2, &[]).output().unwrap();
    assert!(o.status.success() && !stderr(&o).contains("already complete"));
    assert_ne!(rows(&out2)[1], want[1], "the first trade's spot changed");
    assert_eq!(rows(&out2)[2..], want[2..]);

    // Kept rows are parsed and checked: a bad number, an extra column or a
    // renamed header is not carried into the final file.
    let partial = d.path().join("out3.csv.partial");
    let out3 = d.path().join("out3.csv");
    let mut child = stalled(price(&input, &out3, &[]), "summary");
    kill(&mut child, "KILL");
    let full = std::fs::read_to_string(&partial).unwrap();
    let mut lines: Vec<&str> = full.split_inclusive('\n').collect();
    // Without its end line, as a kill before it leaves it: its rows are
    // read back one by one. Line 1 is the journal's signature, line 2 the
    // CSV header, line 4 the row of trade 1 ("say ""hi""1",pv,...).
    assert!(lines.pop().unwrap().starts_with("{\"end_of_part\":20,"));
    assert!(lines[3].starts_with("\"say \"\"hi\"\"1\","), "{}", lines[3]);
    let pv = lines[3].split(',').nth(1).unwrap().to_string();
    for (what, edit, kept) in [
        (
            "a pv that is not a number",
            lines[3].replacen(&pv, "abc", 1),
            1,
        ),
        ("a pv that is NaN", lines[3].replacen(&pv, "NaN", 1), 1),
        (
            "a pv not as written",
            lines[3].replacen(&pv, &format!("{pv}0"), 1),
            1,
        ),
        ("an extra column", lines[3].replacen('\n', ",x\n", 1), 1),
        ("a renamed header", lines[3].to_string(), 0),
        (
            "3 MiB of zero bytes after a row",
            format!("{}{}", lines[3], "\0".repeat(3 << 20)),
            2,
        ),
    ] {
        let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        text[3] = edit;
        if kept == 0 {
            text[1] = text[1].replacen("pv", "value", 1);
        }
        std::fs::write(&partial, text.concat()).unwrap();
        let _ = std::fs::remove_file(&out3);
        let o = price(&input, &out3, &[]).output().unwrap();
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("resuming: {kept} of 20")),
            "{what}: {}",
            stderr(&o)
        );
        assert_eq!(rows(&out3), want, "{what}");
    }
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}

#[test]
fn concat_and_split_check_rows_as_price_does() {
    let d = fast_tempdir();
    let trades = d.path().join("trades.csv");
    assert!(
        riskpool(&["generate", "--trades", "9", "--output", p(&trades)])
            .status
            .success()
    );
    let parts = d.path().join("parts");
    let o = riskpool(&[
        "split",
        "--input",
        p(&trades),
        "--trades-per-file",
        "3",
        "--output-dir",
        p(&parts),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results: Vec<PathBuf> = (0..3)
        .map(|k| {
            let r = d.path().join(format!("trades.{k}.results.csv"));
            let part = parts.join(format!("trades.{k}.csv"));
            let o = price(&part, &r, &["--paths", "64"]).output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            r
        })
        .collect();
    let all = d.path().join("all.csv");
    let concat = |files: &[&Path], extra: &[&str]| {
        let mut c = bin();
        c.args(["concat", "--output", p(&all)]).args(extra);
        c.args(files.iter().map(|f| p(f)));
        c.output().unwrap()
    };
    let [r0, r1, r2] = [&results[0], &results[1], &results[2]].map(|r| r.as_path());
    let o = concat(&[r0, r1, r2], &["--expect", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows(&all).len(), 10);
    std::fs::remove_file(&all).unwrap();

    let empty = d.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let nan = d.path().join("nan.csv");
    let t1 = std::fs::read_to_string(r1).unwrap();
    let pv = t1
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    std::fs::write(&nan, t1.replacen(&pv, "NaN", 1)).unwrap();
    let dup = d.path().join("dup.csv");
    std::fs::copy(r1, &dup).unwrap();
    let long = d.path().join("long.csv");
    std::fs::write(&long, vec![b'x'; 3 << 20]).unwrap();
    let missing = d.path().join("trades.1.results.csv");
    let cases: Vec<(Vec<&Path>, Vec<&str>, Vec<String>)> = vec![
        (
            vec![r0, r2],
            vec!["--expect", "3"],
            vec!["--expect 3".into(), "missing: trades.1.results.csv".into()],
        ),
        (
            vec![r0, r1, r2],
            vec!["--expect", "2"],
            vec!["--expect 2".into(), "extra: trades.2.results.csv".into()],
        ),
        (
            vec![r0, &empty],
            vec![],
            vec!["empty.csv".into(), "empty".into()],
        ),
        (vec![r0, r0], vec![], vec!["given twice".into()]),
        (vec![r0, &missing, r1], vec![], vec!["given twice".into()]),
        (
            vec![r1, &dup],
            vec![],
            vec!["dup.csv:2".into(), "duplicate id `3`".into()],
        ),
        (
            vec![r0, &nan],
            vec![],
            vec!["nan.csv:2".into(), "field `pv`".into(), "NaN".into()],
        ),
        (
            vec![r0, Path::new("/dev/zero")],
            vec![],
            vec!["/dev/zero".into(), "not a regular file".into()],
        ),
        (
            vec![r0, &long],
            vec![],
            vec!["long.csv".into(), "longer than".into()],
        ),
    ];
    for (files, extra, words) in cases {
        let o = concat(&files, &extra);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        refused(&o, 2, &words);
        assert!(!all.exists() && !d.path().join("all.csv.partial").exists());
    }
    // The output among the inputs.
    let o = bin()
        .args(["concat", "--output", p(r0), p(r0), p(r1)])
        .output()
        .unwrap();
    refused(&o, 2, &["is the input file"]);

    // split: a NaN field and a duplicate trade are refused, no part written.
    let text = std::fs::read_to_string(&trades).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let fx1 = lines[2].split(',').nth(1).unwrap();
    for (name, bad, words) in [
        (
            "nan.csv",
            lines[2].replacen(fx1, "NaN", 1),
            vec!["nan.csv:3", "fx1"],
        ),
        (
            "dupt.csv",
            lines[1].to_string(),
            vec!["dupt.csv:3", "duplicate trade `0`"],
        ),
    ] {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[2] = bad;
        let f = d.path().join(name);
        std::fs::write(&f, l.join("\n")).unwrap();
        let out = d.path().join(format!("{name}.parts"));
        let o = riskpool(&[
            "split",
            "--input",
            p(&f),
            "--trades-per-file",
            "2",
            "--output-dir",
            p(&out),
        ]);
        refused(&o, 2, &words);
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    }
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}

#[test]
fn an_input_changed_between_the_check_and_the_pricing_is_not_priced_as_checked() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 20);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let out = d.path().join("out.csv");
    let hold = d.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let mut run = price(&input, &out, &[]);
    run.env("RISKPOOL_TEST_STALL_WHILE", &hold);
    let mut child = stalled(run, "checked");
    // Same size, other content, while the run waits between its passes.
    let text = std::fs::read_to_string(&input).unwrap();
    std::fs::write(&input, text.replacen(r#""spot": 100"#, r#""spot": 101"#, 1)).unwrap();
    std::fs::remove_file(&hold).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!out.exists());
    // No row came from the edited text: a rerun on the input as it was
    // writes the uninterrupted run's file.
    let edited = std::fs::read_to_string(&input).unwrap();
    std::fs::write(&input, &text).unwrap();
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows(&out), rows(&reference));
    // The rerun on the edited input prices it afresh.
    std::fs::write(&input, edited).unwrap();
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("resuming"), "{}", stderr(&o));
    let (got, want) = (rows(&out), rows(&reference));
    assert_ne!(got[1], want[1]);
    assert_eq!(got[2..], want[2..]);
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}

/// Every file in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// An azfinsim trade file of `n` trades (generated), its path.
fn azfinsim_trades(dir: &Path, name: &str, n: usize) -> PathBuf {
    let f = dir.join(name);
    let o = riskpool(&["generate", "--trades", &n.to_string(), "--output", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    f
}

#[test]
fn a_rerun_on_another_engine_or_device_keeps_none_of_the_old_rows() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 20);
    for out in [d.path().join("o.csv"), d.path().join("o.jsonl")] {
        // Every row durable under one device string, then killed.
        let mut child = stalled(price(&input, &out, &[]), "summary");
        kill(&mut child, "KILL");
        // The rerun's device differs (another SIMD path, as another node
        // or other flags give): it starts afresh and says why.
        let o = price(&input, &out, &["--simd", "portable"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("starting afresh"), "{err}");
        assert!(!err.contains("resuming: 2"), "{err}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.matches("portable").count(), 20, "{text}");
        // The same device string again: complete, nothing priced.
        let again = price(&input, &out, &["--simd", "portable"])
            .output()
            .unwrap();
        assert!(
            stderr(&again).contains("already complete"),
            "{}",
            stderr(&again)
        );
        // Another one on a complete file: priced afresh, never mixed.
        let other = price(&input, &out, &[]).output().unwrap();
        assert!(other.status.success(), "{}", stderr(&other));
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.matches("portable").count(), 0, "{text}");
    }
}

#[test]
fn a_complete_rerun_removes_what_an_interrupted_run_left() {
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 5);
    let out = d.path().join("o.csv");
    assert!(price(&input, &out, &[]).output().unwrap().status.success());
    let bytes = std::fs::read(&out).unwrap();
    // The state between the rename and the unlink, and stray temporaries.
    for (name, text) in [
        ("o.csv.tmp", "id\n"),
        ("o.csv.partial", "id\n"),
        ("o.csv.summary.json.tmp", "{"),
    ] {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    assert_eq!(
        names(d.path()),
        ["book.jsonl", "o.csv", "o.csv.summary.json"]
    );
}

#[test]
fn output_names_whose_side_files_would_be_too_long_are_refused_up_front() {
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 3);
    // `.summary.json.tmp` is 17 bytes: a 238-byte name is the longest.
    let fits = d.path().join(format!("{}.csv", "a".repeat(234)));
    let o = price(&input, &fits, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for len in [239, 240, 245, 251] {
        let long = d.path().join(format!("{}.csv", "b".repeat(len - 4)));
        refused(
            &price(&input, &long, &[]).output().unwrap(),
            2,
            &["--output", "too long"],
        );
        let made: Vec<String> = names(d.path())
            .into_iter()
            .filter(|n| n.starts_with("bbb"))
            .collect();
        assert!(made.is_empty(), "{made:?}");
    }
    // split: the parts' temporary names must fit as well.
    let trades = d.path().join(format!("{}.csv", "c".repeat(246)));
    std::fs::rename(azfinsim_trades(d.path(), "t.csv", 2), &trades).unwrap();
    let parts = d.path().join("parts");
    refused(
        &riskpool(&[
            "split",
            "--input",
            p(&trades),
            "--trades-per-file",
            "1",
            "--output-dir",
            p(&parts),
        ]),
        2,
        &["--input", "limit"],
    );
    assert!(!parts.exists() || names(&parts).is_empty());
}

#[test]
fn split_refuses_a_header_only_file_and_never_deletes_files_it_did_not_make() {
    let d = fast_tempdir();
    let empty = d.path().join("empty.csv");
    let trades = azfinsim_trades(d.path(), "trades.csv", 6);
    let header = std::fs::read_to_string(&trades)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&empty, format!("{header}\n")).unwrap();
    let parts = d.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let split = |input: &Path| {
        riskpool(&[
            "split",
            "--input",
            p(input),
            "--trades-per-file",
            "2",
            "--output-dir",
            p(&parts),
        ])
    };
    refused(&split(&empty), 2, &["empty.csv:1", "no trades"]);
    assert!(names(&parts).is_empty());
    // A file of the user's where part 0 goes, and part 1's place taken
    // by a folder: refused before any part is in place, the file intact.
    let mine = parts.join("trades.0.csv");
    std::fs::write(&mine, "mine\n").unwrap();
    std::fs::create_dir(parts.join("trades.1.csv")).unwrap();
    refused(&split(&trades), 2, &["--output-dir", "trades.1.csv"]);
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n");
    assert_eq!(names(&parts), ["trades.0.csv", "trades.1.csv"]);
    // A part that cannot be written at all (its temporary name is a
    // folder): exit 1, the user's file still there.
    std::fs::remove_dir(parts.join("trades.1.csv")).unwrap();
    std::fs::create_dir(parts.join("trades.2.csv.tmp")).unwrap();
    let o = split(&trades);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n");
    assert_eq!(names(&parts), ["trades.0.csv", "trades.2.csv.tmp"]);
}

#[test]
fn an_output_that_is_a_symlink_is_refused() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 3);
    let out = d.path().join("o.csv");
    let link = d.path().join("l.csv");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    // Dangling (the first run has not renamed its output yet) or not.
    refused(
        &price(&input, &link, &[]).output().unwrap(),
        2,
        &["--output", "symbolic link"],
    );
    let mut first = stalled(price(&input, &out, &[]), "summary");
    refused(
        &price(&input, &link, &[]).output().unwrap(),
        2,
        &["--output", "symbolic link"],
    );
    kill(&mut first, "KILL");
    assert!(price(&input, &out, &[]).output().unwrap().status.success());
    refused(
        &price(&input, &link, &[]).output().unwrap(),
        2,
        &["--output", "symbolic link"],
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!d.path().join("l.csv.lock").exists());
}

/// Writes a results file of `rows` under the header `header`.
fn result_file(dir: &Path, name: &str, header: &str, rows: &[&str]) -> PathBuf {
    let f = dir.join(name);
    let mut text = format!("{header}\n");
    for r in rows {
        text += r;
        text += "\n";
    }
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn concat_expect_checks_the_part_numbers() {
    let d = fast_tempdir();
    let all = d.path().join("all.csv");
    let part = |k: &str| {
        result_file(
            d.path(),
            &format!("trades.{k}.results.csv"),
            "id,x",
            &[&format!("t{k},1")],
        )
    };
    let concat = |files: &[PathBuf], n: &str| {
        let mut c = bin();
        c.args(["concat", "--expect", n, "--output", p(&all)]);
        c.args(files.iter().map(|f| p(f)));
        c.output().unwrap()
    };
    let (p0, p1, p2, p5, p01) = (part("0"), part("1"), part("2"), part("5"), part("01"));
    // The right count, the wrong numbers.
    refused(
        &concat(&[p0.clone(), p1.clone(), p5.clone()], "3"),
        2,
        &[
            "missing: trades.2.results.csv",
            "extra: trades.5.results.csv",
        ],
    );
    // One part twice under two spellings of its number.
    refused(
        &concat(&[p0.clone(), p1.clone(), p01.clone()], "3"),
        2,
        &[
            "missing: trades.2.results.csv",
            "extra: trades.01.results.csv",
        ],
    );
    refused(
        &concat(&[p0.clone(), p1.clone()], "3"),
        2,
        &["missing: trades.2.results.csv"],
    );
    assert!(!all.exists());
    let o = concat(&[p2.clone(), p0.clone(), p1.clone()], "3");
    assert!(o.status.success(), "{}", stderr(&o));
    // Names not numbered alike: the count of distinct files.
    let a = result_file(d.path(), "a.csv", "id,x", &["a,1"]);
    let b = result_file(d.path(), "b.csv", "id,x", &["b,1"]);
    std::fs::remove_file(&all).unwrap();
    refused(
        &concat(&[a.clone(), b.clone()], "3"),
        2,
        &["--expect 3", "missing: 1"],
    );
    let o = concat(&[a, b], "2");
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn trade_numbers_are_digits_only_in_every_reader() {
    let d = fast_tempdir();
    let trades = azfinsim_trades(d.path(), "trades.csv", 3);
    let text = std::fs::read_to_string(&trades).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for bad in ["+1", " 1", "1 ", "0x1", "1.0", "-1", ""] {
        let row = lines[2].split_once(',').unwrap().1;
        let f = d.path().join("bad.csv");
        std::fs::write(&f, format!("{}\n{}\n{bad},{row}\n", lines[0], lines[1])).unwrap();
        let out = d.path().join("bad.results.csv");
        refused(
            &price(&f, &out, &[]).output().unwrap(),
            2,
            &["bad.csv:3", "tradenum"],
        );
        let parts = d.path().join("parts");
        refused(
            &riskpool(&[
                "split",
                "--input",
                p(&f),
                "--trades-per-file",
                "1",
                "--output-dir",
                p(&parts),
            ]),
            2,
            &["bad.csv:3", "tradenum"],
        );
        assert!(!out.exists() && !parts.join("bad.0.csv").exists());
    }
    // `007` is trade 7: leading zeros are the same number.
    let row = lines[2].split_once(',').unwrap().1;
    let f = d.path().join("dup.csv");
    std::fs::write(&f, format!("{}\n{}\n00,{row}\n", lines[0], lines[1])).unwrap();
    refused(
        &price(&f, &d.path().join("dup.results.csv"), &[])
            .output()
            .unwrap(),
        2,
        &["dup.csv:3", "tradenum"],
    );
    // concat: numbers compared as numbers, other spellings refused.
    let all = d.path().join("all.csv");
    let concat = |files: &[&Path]| {
        let mut c = bin();
        c.args(["concat", "--output", p(&all)]);
        c.args(files.iter().map(|f| p(f)));
        c.output().unwrap()
    };
    let r0 = result_file(d.path(), "r0.csv", "tradenum,random", &["0,0.5", "1,0.5"]);
    for (spelling, words) in [
        ("00", vec!["r1.csv:2", "tradenum", "duplicate"]),
        ("+0", vec!["r1.csv:2", "tradenum", "not a trade number"]),
        (" 0", vec!["r1.csv:2", "tradenum", "not a trade number"]),
        ("0x1", vec!["r1.csv:2", "tradenum", "not a trade number"]),
        ("5.0", vec!["r1.csv:2", "tradenum", "not a trade number"]),
    ] {
        let r1 = result_file(
            d.path(),
            "r1.csv",
            "tradenum,random",
            &[&format!("{spelling},0.5")],
        );
        refused(&concat(&[&r0, &r1]), 2, &words);
        assert!(!all.exists());
    }
}

#[test]
fn minor_refusals_name_the_flag_or_the_line_and_leave_nothing() {
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 3);
    // `.json` is not JSON Lines: refused, as the message says.
    refused(
        &price(&input, &d.path().join("x.json"), &[])
            .output()
            .unwrap(),
        2,
        &["--output", ".jsonl"],
    );
    // The trade window.
    let trades = azfinsim_trades(d.path(), "trades.csv", 3);
    let out = d.path().join("w.csv");
    for (extra, flag) in [
        (vec!["--trade-window", "0"], "--trade-window"),
        (
            vec![
                "--start-trade",
                "2",
                "--trade-window",
                "18446744073709551615",
            ],
            "--trade-window",
        ),
    ] {
        refused(&price(&trades, &out, &extra).output().unwrap(), 2, &[flag]);
        assert!(!out.exists());
    }
    let o = price(
        &trades,
        &out,
        &[
            "--start-trade",
            "1",
            "--trade-window",
            "18446744073709551615",
        ],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // concat names the long line itself.
    let long = d.path().join("long.csv");
    std::fs::write(&long, format!("id,x\na,1\nb,{}\n", "9".repeat(3 << 20))).unwrap();
    let all = d.path().join("all.csv");
    refused(
        &riskpool(&["concat", "--output", p(&all), p(&long)]),
        2,
        &["long.csv:3"],
    );
    // A killed concat's leftovers go with the next concat that fails.
    std::fs::write(d.path().join("all.csv.partial"), "id,x\n").unwrap();
    std::fs::write(d.path().join("all.csv.lock"), "1\n").unwrap();
    let good = result_file(d.path(), "good.csv", "id,x", &["a,1"]);
    refused(
        &riskpool(&["concat", "--expect", "2", "--output", p(&all), p(&good)]),
        2,
        &["--expect 2"],
    );
    assert!(!d.path().join("all.csv.partial").exists());
    assert!(!d.path().join("all.csv.lock").exists());
    assert!(!all.exists());
}

/// A side file of the run (`o.csv.partial`, the journal, or a temporary
/// file, the lock, the summary) that is there as a symbolic link to a
/// victim file, or as a FIFO: the run is refused at once (exit 2, naming
/// the file), nothing is written through the link, and no run hangs.
#[test]
fn side_files_that_are_links_or_fifos_are_refused_and_nothing_follows_them() {
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 5);
    let victim = d.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    for side in [
        ".partial",
        ".tmp",
        ".summary.json",
        ".summary.json.tmp",
        ".lock",
    ] {
        let out = d.path().join("o.csv");
        let link = d.path().join(format!("o.csv{side}"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let o = price(&input, &out, &[]).output().unwrap();
        refused(&o, 2, &[&format!("o.csv{side}"), "symbolic link"]);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!out.exists(), "{side}");
        std::fs::remove_file(&link).unwrap();
        // A FIFO there: refused at once, never opened.
        let fifo = Command::new("mkfifo").arg(&link).status().unwrap();
        assert!(fifo.success());
        let mut child = price(&input, &out, &[])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{side}: the run waits on a FIFO"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        refused(
            &child.wait_with_output().unwrap(),
            2,
            &[&format!("o.csv{side}"), "not a regular file"],
        );
        std::fs::remove_file(&link).unwrap();
    }
    // A side file that is another name (a hard link) of a victim file:
    // refused, the victim untouched.
    for side in [
        ".partial",
        ".tmp",
        ".summary.json",
        ".summary.json.tmp",
        ".lock",
    ] {
        let out = d.path().join("o.csv");
        let link = d.path().join(format!("o.csv{side}"));
        std::fs::hard_link(&victim, &link).unwrap();
        let o = price(&input, &out, &[]).output().unwrap();
        refused(&o, 2, &[&format!("o.csv{side}"), "hard link"]);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        std::fs::remove_file(&link).unwrap();
    }
    // The output itself a FIFO: refused, not replaced.
    let out = d.path().join("o.csv");
    assert!(Command::new("mkfifo").arg(&out).status().unwrap().success());
    refused(
        &price(&input, &out, &[]).output().unwrap(),
        2,
        &["o.csv", "FIFO"],
    );
    std::fs::remove_file(&out).unwrap();
    // And with the side files gone, the run writes its output.
    let out = d.path().join("o.csv");
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(d.path()),
        ["book.jsonl", "o.csv", "o.csv.summary.json", "victim.txt"]
    );
}

/// A complete journal whose rows were edited after its end line was
/// written (a well-formed number changed, which no row check can see):
/// the end line's hash no longer checks, so no row of it is trusted and
/// every trade is priced again.
#[test]
fn a_complete_journal_edited_after_its_end_line_is_not_trusted() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 12);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let out = d.path().join("out.csv");
    let mut child = stalled(price(&input, &out, &[]), "summary");
    kill(&mut child, "KILL");
    let partial = d.path().join("out.csv.partial");
    let text = std::fs::read_to_string(&partial).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert!(lines.last().unwrap().starts_with("{\"end_of_part\":12,"));
    // The fifth row's pv, changed to another well-formed number.
    let row = lines[6];
    let pv = row.split(',').nth(1).unwrap();
    let edited = text.replacen(row, &row.replacen(pv, "1234.5", 1), 1);
    std::fs::write(&partial, edited).unwrap();
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming: 0 of 12"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not match the hash"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rows(&out), rows(&reference));
    assert!(!partial.exists());
}

/// A journal whose end line was forged (its hash recomputed, so it checks)
/// over fewer rows than it claims, or rows of garbage after its last row:
/// the rows are counted as they are hashed, a count that is not the
/// journal's or the run's keeps nothing, and the rerun writes the
/// uninterrupted run's file.
#[test]
fn a_forged_end_line_or_trailing_garbage_is_not_trusted() {
    if !crate::util::hooks() {
        return;
    }
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 24);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let out = d.path().join("out.csv");
    let mut child = stalled(price(&input, &out, &[]), "summary");
    kill(&mut child, "KILL");
    let partial = d.path().join("out.csv.partial");
    let full = std::fs::read(&partial).unwrap();
    // Up to the row of trade 9 (two header lines, then rows; the ids with
    // a line end in them span two lines, so cut by the CSV reader's count).
    let ends: Vec<usize> = {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&full[..]);
        let mut rec = csv::ByteRecord::new();
        let mut v = vec![];
        while r.read_byte_record(&mut rec).unwrap() {
            v.push(r.position().byte() as usize);
        }
        v
    };
    let body = &full[..ends[11]];
    for claimed in [24u64, 10] {
        let end = format!(
            "{{\"end_of_part\":{claimed},\"content_xxh3\":\"{}\"}}\n",
            riskpool::durable::content_hash(body)
        );
        std::fs::write(&partial, [body, end.as_bytes()].concat()).unwrap();
        let _ = std::fs::remove_file(&out);
        let o = price(&input, &out, &[]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("nothing of it is kept"),
            "{}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("resuming: 0 of 24"), "{}", stderr(&o));
        assert_eq!(rows(&out), rows(&reference), "claimed {claimed}");
    }
    // 8 MiB of line ends after the rows kept: cut, in bounded memory.
    std::fs::write(&partial, [body, &vec![b'\n'; 8 << 20][..]].concat()).unwrap();
    let _ = std::fs::remove_file(&out);
    let o = price(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming: 10 of 24"), "{}", stderr(&o));
    assert_eq!(rows(&out), rows(&reference));
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
}
