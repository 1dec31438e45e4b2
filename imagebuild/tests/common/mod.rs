//! Shared by the image tests: which tools are missing (a skip here, a
//! failure where scripts/test installed them), the runner binary, the
//! cache of base root file systems, and a container storage of their own.

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

/// A container storage (buildah's and podman's images and layers) in a
/// temporary folder, removed with everything in it on drop: the tests'
/// images never reach the host's storage, where each run would otherwise
/// leave about a gigabyte of vfs layers behind. Pass [`Self::env`] to
/// every command that runs buildah or podman.
pub struct ContainerStorage {
    conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl ContainerStorage {
    pub fn new() -> ContainerStorage {
        let dir = tempfile::tempdir().expect("a temporary folder for the container storage");
        let conf = dir.path().join("storage.conf");
        std::fs::write(
            &conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                dir.path().join("graph").display(),
                dir.path().join("run").display()
            ),
        )
        .expect("storage.conf written");
        ContainerStorage { conf, _dir: dir }
    }

    /// The variable containers/storage reads (buildah, podman, skopeo).
    pub fn env(&self) -> (&'static str, &Path) {
        ("CONTAINERS_STORAGE_CONF", self.conf.as_path())
    }
}
