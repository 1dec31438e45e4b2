//! Shared by the image tests: which tools are missing (a skip here, a
//! failure where scripts/test installed them), the runner binary, and the
//! cache of base root file systems.

use std::path::{Path, PathBuf};

/// Why the test cannot run, if a tool or file is missing. With
/// RISKPOOL_REQUIRE_IMAGE_TOOLS=1 (scripts/test) a missing one fails.
pub fn missing(tools: &[&str], files: &[(&str, &str)]) -> Option<String> {
    let mut missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !riskpool_imagebuild::tools::present(t))
        .collect();
    for (path, package) in files {
        if !Path::new(path).exists() {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        return None;
    }
    let why = format!("missing tools: {}", missing.join(", "));
    if std::env::var("RISKPOOL_REQUIRE_IMAGE_TOOLS").as_deref() == Ok("1") {
        panic!("RISKPOOL_REQUIRE_IMAGE_TOOLS=1 but {why}");
    }
    Some(why)
}

/// The runner the images carry: the `riskpool` cargo built beside
/// `riskpool-image`, wherever the target folder is (`CARGO_TARGET_DIR`).
pub fn runner() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_riskpool-image")).with_file_name("riskpool");
    assert!(
        p.is_file(),
        "{} missing: cargo build --release --workspace first (scripts/test does)",
        p.display()
    );
    p
}

/// Base root file systems, kept between runs (in cargo's target folder).
pub fn cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-cache")
}
