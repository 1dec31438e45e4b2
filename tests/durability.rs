//! Results that survive real faults (issue 13), end to end with real files
//! and real signals: a partial file cut at any byte resumes to the
//! uninterrupted run's file; kills (SIGKILL, SIGTERM, SIGINT) in every
//! window of the write protocol; a full disk; two runs on one output; and
//! every refused case with its message, leaving no temporary file behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskpool"))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Ids a hostile user might choose: commas, quotes, newlines, carriage
/// returns, multi-byte characters, spaces at the ends.
const AWKWARD: [&str; 8] = [
    "a,b",
    "say \"hi\"",
    "two\nlines",
    "cr\rhere",
    "héllo ✓ 日本",
    " pad ",
    "plain",
    "\"",
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
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 24);
    for ext in ["csv", "jsonl"] {
        let reference = d.path().join(format!("reference.{ext}"));
        let o = price(&input, &reference, &[]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let want = rows(&reference);

        // A finished partial file and its signature, just before the summary.
        let out = d.path().join(format!("out.{ext}"));
        let partial = d.path().join(format!("out.{ext}.partial"));
        let meta = d.path().join(format!("out.{ext}.partial.json"));
        let mut child = stalled(price(&input, &out, &[]), "summary");
        kill(&mut child, "KILL");
        let full = std::fs::read(&partial).unwrap();
        let sig = std::fs::read(&meta).unwrap();
        assert!(full.len() > 200);

        // Every byte of the header and the first and last rows, and 200
        // random offsets.
        let ends: Vec<usize> = full
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        // The header and the first row (the first id has a comma, no
        // newline), and the last row (its id is a lone quote).
        let first_rows_end = if ext == "csv" { ends[1] } else { ends[0] };
        let mut cuts: Vec<usize> = (0..=first_rows_end).collect();
        cuts.extend(ends[ends.len() - 2]..=full.len());
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            cuts.push((state % full.len() as u64) as usize);
        }
        for cut in cuts {
            std::fs::write(&partial, &full[..cut]).unwrap();
            std::fs::write(&meta, &sig).unwrap();
            let _ = std::fs::remove_file(&out);
            let o = price(&input, &out, &[]).output().unwrap();
            assert!(o.status.success(), "cut at {cut}: {}", stderr(&o));
            assert_eq!(
                rows(&out),
                want,
                "{ext}: cut at byte {cut} of {}",
                full.len()
            );
            assert!(!partial.exists() && !meta.exists(), "cut at {cut}");
        }
        assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
    }
}

#[test]
fn kills_in_every_window_then_the_rerun_writes_the_reference_file() {
    let d = fast_tempdir();
    let input = book(d.path(), "book.jsonl", 40);
    let reference = d.path().join("reference.csv");
    assert!(price(&input, &reference, &[]).status().unwrap().success());
    let want = rows(&reference);
    let points = [
        "header",
        "meta-tmp",
        "batch",
        "summary",
        "summary-tmp",
        "rename",
    ];
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
            for side in [".partial", ".partial.json", ".lock"] {
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
