//! Helpers every end-to-end test shares: running the `riskpool` binary cargo
//! built for these tests (wherever `CARGO_TARGET_DIR` puts it) and small
//! file chores.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The runner, ready for arguments.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskpool"))
}

/// The runner run to completion with `args`.
pub fn riskpool(args: &[&str]) -> Output {
    bin().args(args).output().expect("run riskpool")
}

/// The runner run in `dir` with `args`.
pub fn riskpool_in(dir: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run riskpool")
}

/// A run's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A path as a command-line argument (the tests' paths are UTF-8).
pub fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Writes `text` to `dir/name` and gives its path.
pub fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap();
    f
}

/// Asserts that a run succeeded, showing its stderr if not.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Whether the runner has its test hooks (stalls at named points, injected
/// engine failures, stand-in GPUs): the cargo feature `test-hooks`, which
/// `scripts/test` turns on. A test that needs them returns early, saying
/// so, where they are not built in.
pub fn hooks() -> bool {
    if !cfg!(feature = "test-hooks") {
        eprintln!("skipped: the runner was built without the test-hooks feature (scripts/test turns it on)");
    }
    cfg!(feature = "test-hooks")
}

/// The rows of a JSON Lines result file.
pub fn jsonl_rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
