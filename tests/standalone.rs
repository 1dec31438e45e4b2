//! The repository stands alone: a clone with nothing beside it has every
//! contract, API definition and test input the code reads or cites. No
//! tracked file may name the steering folder that sits beside the checkout
//! on the developers' and CI's machines (where it would hide a missing
//! file), so this test fails on any mention of it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of the checkout: git's list where this is a git checkout,
/// else every file under the root but `target/` and dot-folders.
fn files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output();
    if let Ok(o) = listed {
        if o.status.success() {
            return o
                .stdout
                .split(|&b| b == 0)
                .filter(|n| !n.is_empty())
                .map(|n| root.join(String::from_utf8_lossy(n).as_ref()))
                .filter(|p| p.is_file())
                .collect();
        }
    }
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (d == root && name == "target") {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn no_file_reads_or_cites_anything_beside_the_checkout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Spelt in pieces so that this file does not hold what it looks for.
    let folder = ["sha", "red/"].concat();
    let mut found = Vec::new();
    let files = files(root);
    assert!(files.len() > 50, "only {} files found", files.len());
    for path in files {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        for (n, line) in text.lines().enumerate() {
            // The folder as a path of its own, not the tail of a longer word.
            let hit = line.match_indices(&folder).any(|(i, _)| {
                !line[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
            });
            if hit {
                found.push(format!(
                    "{}:{}: {}",
                    path.strip_prefix(root).unwrap_or(&path).display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "files that name a folder outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_batch_api_definitions_travel_with_the_repository() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("imagebuild/batch-api");
    for name in [
        "BatchService-2024-07-01.20.0.definitions.json",
        "BatchManagement-2024-07-01.pool-definitions.json",
        "README.md",
    ] {
        assert!(
            api.join(name).is_file(),
            "{name} missing from imagebuild/batch-api"
        );
    }
}
