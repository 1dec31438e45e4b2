//! Running the real tools (buildah, skopeo, podman, debootstrap, az)
//! through `duct`, each checked for first with a clear message, and every
//! failure reported with the tool's own words, secrets scrubbed.

use std::path::Path;

/// A tool failed, or is missing.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool} not found on PATH: install Debian's `{package}` package")]
    Missing { tool: String, package: String },
    #[error("{tool} failed: {message}")]
    Failed { tool: String, message: String },
}

/// Errors of the image pipeline: a tool's, or one of riskpool-image's own.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("{0}")]
    Other(String),
}

/// An [`ImageError::Other`] from anything printable.
pub fn other(e: impl std::fmt::Display) -> ImageError {
    ImageError::Other(e.to_string())
}

/// Owned arguments from string slices.
pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Whether `tool` is on PATH.
pub fn present(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Fails unless `tool` is on PATH.
pub fn require(tool: &str, package: &str) -> Result<(), ToolError> {
    if present(tool) {
        Ok(())
    } else {
        Err(ToolError::Missing {
            tool: tool.into(),
            package: package.into(),
        })
    }
}

/// Replaces every secret in `text` by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// Runs `tool args`, returning its stdout; on failure, its stderr (scrubbed).
pub fn run(
    tool: &str,
    args: &[String],
    secrets: &[String],
    env: &[(&str, &Path)],
) -> Result<String, ToolError> {
    use std::os::unix::process::CommandExt;
    // A process group of its own, so that a signal's cleanup ends the tool
    // and whatever it started (crate::cleanup).
    let own_group = crate::cleanup::installed();
    let mut expr = duct::cmd(tool, args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .before_spawn(move |c| {
            if own_group {
                c.process_group(0);
            }
            Ok(())
        });
    for (k, v) in env {
        expr = expr.env(k, v);
    }
    let failed = |e: std::io::Error| ToolError::Failed {
        tool: tool.into(),
        message: e.to_string(),
    };
    let handle = expr.start().map_err(failed)?;
    let pids = handle.pids();
    if own_group {
        pids.iter().for_each(|&p| crate::cleanup::register_group(p));
    }
    let out = handle.into_output();
    pids.iter().for_each(|&p| crate::cleanup::forget_group(p));
    let out = out.map_err(failed)?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // The last line of stderr, or of stdout for tools that report there.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last_line = |t: &str| {
        t.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::to_string)
    };
    let last = last_line(&stderr)
        .or_else(|| last_line(&stdout))
        .unwrap_or_else(|| "(no message)".into());
    Err(ToolError::Failed {
        tool: tool.into(),
        message: scrub(last.trim(), secrets),
    })
}
