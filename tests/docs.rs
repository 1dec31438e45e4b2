//! The README and `docs/` run as written. Their fenced blocks follow one
//! convention, which this test holds them to:
//!
//! - ```` ```sh ````: run, in order, one document at a time, in a fresh
//!   empty folder (shared by that document's blocks), with `riskpool` and
//!   `riskpool-image` first on `PATH`. Each command must exit 0, or the
//!   code its line ends with (`# exits 2`).
//! - ```` ```jsonl ````: a whole portfolio file; it must price.
//! - ```` ```json ````: must parse as JSON.
//! - ```` ```bash ````, ```` ```text ````, ```` ```csv ````: shown, not
//!   run (they need Azure, a GPU, cargo or minutes).
//! - ```` ```python ````: the examples of `docs/python.md` and of the
//!   README's "From Python" run in the Python suite
//!   (`python/tests/test_docs.py`, with the package installed); others
//!   are shown.
//!
//! It also checks that every repository path the documents cite exists,
//! and that the README keeps its two set-up commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{ok, p, riskpool};

/// A fenced block: its info string, first line number and text.
struct Block {
    lang: String,
    line: usize,
    text: String,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in doc.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    lang: info.trim().to_string(),
                    line: n + 1,
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    out
}

/// The commands of a shell block: comments dropped, continued lines
/// joined, each with the exit code it must end with.
fn commands(text: &str) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (cmd, code) = match cur.rsplit_once("# exits ") {
            Some((c, code)) => (c.trim().to_string(), code.trim().parse().unwrap_or(-1)),
            None => (cur.trim().to_string(), 0),
        };
        out.push((cmd, code));
        cur.clear();
    }
    out
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, BENCHMARKS.md and every page of docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root().join("README.md"));
    docs.push(root().join("BENCHMARKS.md"));
    docs
}

#[test]
fn every_shell_block_runs_as_written() {
    let bins = Path::new(env!("CARGO_BIN_EXE_riskpool"))
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(
        bins.join("riskpool-image").is_file(),
        "riskpool-image missing beside riskpool: cargo build --release --workspace first"
    );
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for b in blocks(&text).into_iter().filter(|b| b.lang == "sh") {
            for (cmd, want) in commands(&b.text) {
                let o = Command::new("sh")
                    .args(["-c", &cmd])
                    .current_dir(dir.path())
                    .env("PATH", &path)
                    .output()
                    .unwrap();
                assert_eq!(
                    o.status.code(),
                    Some(want),
                    "{}:{}: `{cmd}` exited {:?}, not {want}:\n{}",
                    doc.display(),
                    b.line,
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr)
                );
                ran += 1;
            }
        }
    }
    assert!(ran >= 5, "only {ran} commands in the documents' sh blocks");
}

#[test]
fn every_portfolio_and_json_example_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for b in blocks(&text) {
            let at = format!("{}:{}", doc.display(), b.line);
            match b.lang.as_str() {
                "json" => {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&b.text) {
                        panic!("{at}: not JSON: {e}");
                    }
                }
                "jsonl" => {
                    let book = dir.path().join(format!("book{checked}.jsonl"));
                    std::fs::write(&book, &b.text).unwrap();
                    let out = dir.path().join(format!("book{checked}.csv"));
                    let o = riskpool(&[
                        "price",
                        "--input",
                        p(&book),
                        "--output",
                        p(&out),
                        "--engine",
                        "cpu",
                        "--paths",
                        "4096",
                    ]);
                    assert!(
                        o.status.success(),
                        "{at}: the portfolio does not price: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} examples");
}

/// Paths the documents cite (`kernels/src/rng.rs`, links) exist.
#[test]
fn every_cited_file_exists() {
    let tops = [
        "kernels/",
        "runner/",
        "imagebuild/",
        "tests/",
        "benches/",
        "bench/",
        "scripts/",
        "docs/",
    ];
    let mut missing = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut cited: Vec<String> = Vec::new();
        // `code` spans and (link) targets.
        for (i, piece) in text.split('`').enumerate() {
            if i % 2 == 1 {
                cited.push(piece.to_string());
            }
        }
        for piece in text.split("](").skip(1) {
            if let Some(end) = piece.find(')') {
                cited.push(piece[..end].to_string());
            }
        }
        for c in cited {
            let c = c.trim();
            let c = c.split(['#', ' ', ':']).next().unwrap_or("");
            if c.contains(['*', '{', '<', '$']) || c.contains("..") {
                continue;
            }
            let rel = c.trim_start_matches("./");
            if !tops.iter().any(|t| rel.starts_with(t)) {
                continue;
            }
            // Relative to the repository, or to the document's folder.
            let here = doc.parent().unwrap().join(rel);
            if !root().join(rel).exists() && !here.exists() {
                missing.push(format!("{}: {rel}", doc.display()));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "cited but missing:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_readme_keeps_its_two_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for cmd in ["cargo run --release -- demo", "./scripts/test"] {
        assert!(readme.contains(cmd), "README.md lost `{cmd}`");
    }
    ok(&riskpool(&["--help"]));
}

/// Every `RISKPOOL_*` variable the binaries read is in
/// `riskpool_kernels::env`, and the README lists each one.
#[test]
fn every_environment_variable_is_read_in_one_place_and_listed() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let vars = riskpool_kernels::env::ALL
        .iter()
        .chain(riskpool_kernels::env::hooks::ALL.iter());
    for v in vars {
        assert!(
            readme.contains(&format!("`{}`", v.name)),
            "README.md does not list {}",
            v.name
        );
    }
    // No other source reads one: `var("RISKPOOL_` and `var_os("RISKPOOL_`
    // appear in env.rs alone.
    let mut stray = Vec::new();
    let needles = [r#"var("RISKPOOL_"#, r#"var_os("RISKPOOL_"#];
    let mut dirs = vec![
        root().join("runner"),
        root().join("kernels/src"),
        root().join("imagebuild/src"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") && !path.ends_with("src/env.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if needles.iter().any(|n| text.contains(n)) {
                    stray.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        stray.is_empty(),
        "RISKPOOL_ variables read outside kernels/src/env.rs: {stray:?}"
    );
}
