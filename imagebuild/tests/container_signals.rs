//! SIGTERM or SIGINT during `riskpool-image container`: the registry auth
//! file (the credentials in base64) does not stay in the temporary folder,
//! and the buildah it started does not keep running.
//!
//! A real run: buildah pulls the base from a "registry" on 127.0.0.1 that
//! accepts the connection and never answers, so the signal lands while
//! buildah is working with the auth file in place.
//!
//! Skips, saying so, without buildah (scripts/test installs it and sets
//! RISKPOOL_REQUIRE_IMAGE_TOOLS=1, so CI cannot skip).

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pids whose parent is `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: the comm may hold spaces, so after the last ')'.
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if rest.split_whitespace().nth(1) == Some(&pid.to_string()) {
            v.push(p);
        }
    }
    v
}

/// Whether `pid` still runs (a zombie awaiting its reaper does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            !matches!(rest.split_whitespace().next(), Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Every file under `dir` holding `needle`.
fn files_with(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            hits.extend(files_with(&p, needle));
        } else if let Ok(b) = std::fs::read(&p) {
            if b.windows(needle.len()).any(|w| w == needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

fn stop_during_build(signal: &str, code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let storage = common::ContainerStorage::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
            let _ = tx.send(());
        }
    });
    let registry = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .args([
            "container",
            "--variant",
            "cpu",
            "--tls-verify=false",
            "--creds",
            "alice:Tr0ub4dor-signal-3",
        ])
        .arg("--tag")
        .arg(format!("{registry}/riskpool:signal"))
        .arg("--base")
        .arg(format!("{registry}/base:1"))
        // Any file will do: the run stops before the runner is copied in.
        .arg("--runner")
        .arg(env!("CARGO_BIN_EXE_riskpool-image"))
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .env("TMPDIR", tmp.path())
        .env(storage.env().0, storage.env().1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // buildah has connected (with the auth file in place): now.
    rx.recv_timeout(Duration::from_secs(60))
        .expect("buildah never reached the registry");
    let auth: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("riskpool-image-")
        })
        .map(|e| e.path().join("auth.json"))
        .collect();
    assert!(
        auth.len() == 1 && auth[0].is_file(),
        "no auth file while buildah runs: {auth:?}"
    );
    let kids = children(pid);
    assert!(!kids.is_empty(), "no buildah child of {pid}");
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "riskpool-image still running 20 s after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(code), "{signal}: {err}");
    assert!(err.contains("stopped by signal"), "{err}");
    for k in &kids {
        assert!(
            !alive(*k),
            "{signal}: child {k} of riskpool-image still runs"
        );
    }
    assert!(
        !auth[0].exists() && !auth[0].parent().unwrap().exists(),
        "{signal}: {} left behind",
        auth[0].display()
    );
    // base64("alice:Tr0ub4dor-signal-3"): nowhere in the temporary folder.
    let hits = files_with(tmp.path(), b"YWxpY2U6VHIwdWI0ZG9yLXNpZ25hbC0z");
    assert!(
        hits.is_empty(),
        "{signal}: the credentials remain in {hits:?}"
    );
}

#[test]
fn sigterm_and_sigint_end_buildah_and_remove_the_auth_file() {
    if let Some(why) = common::missing(&["buildah"], &[]) {
        eprintln!("skipped: {why}");
        return;
    }
    stop_during_build("-TERM", 128 + 15);
    stop_during_build("-INT", 128 + 2);
}
