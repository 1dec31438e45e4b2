//! The container pipeline end to end with real tools on 127.0.0.1: a real
//! registry (Debian's docker-registry, TLS with a generated certificate,
//! htpasswd auth); each variant built with buildah on a Debian minbase from
//! the host's mirror, pushed, inspected with skopeo, pulled back and run
//! with podman and runc, its prices compared with the host binary's; no
//! credential in any pushed layer or config; and clear failures for a wrong
//! password, missing credentials and an untrusted certificate.
//!
//! scripts/test installs the tools and sets RISKPOOL_REQUIRE_IMAGE_TOOLS=1,
//! so CI cannot skip this; elsewhere it skips, saying which tool is missing.

use crate::common;

use crate::common::{cache, runner};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "alice";
const PASSWORD: &str = "Tr0ub4dor-riskpool-3";

fn tools_missing() -> Option<String> {
    common::missing(
        &[
            "buildah",
            "podman",
            "skopeo",
            "docker-registry",
            "htpasswd",
            "openssl",
            "debootstrap",
            "runc",
        ],
        &[],
    )
}

/// A docker-registry with TLS and htpasswd on 127.0.0.1, stopped on drop.
struct Registry {
    child: Child,
    addr: String,
    certs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(d.join("key.pem"))
            .arg("-out")
            .arg(d.join("cert.pem"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        let certs = d.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(d.join("cert.pem"), certs.join("ca.crt")).unwrap();
        let h = Command::new("htpasswd")
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .unwrap();
        std::fs::write(d.join("htpasswd"), h.stdout).unwrap();
        std::fs::write(
            d.join("config.yml"),
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: riskpool-test\n    path: {}\n",
                d.join("data").display(),
                d.join("cert.pem").display(),
                d.join("key.pem").display(),
                d.join("htpasswd").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the registry did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child,
            addr,
            certs,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn image(storage: &common::ContainerStorage, args: &[&str]) -> Output {
    let (k, v) = storage.env();
    Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .args(args)
        .env(k, v)
        .output()
        .unwrap()
}

/// Every file of the pushed image (layers decompressed, config, manifest)
/// searched for the password and its base64 auth token.
fn assert_no_secret_in(reg: &Registry, reference: &str) {
    let dir = tempfile::tempdir().unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    let o = Command::new("skopeo")
        .args(["copy", "--dest-decompress", "--src-creds", &creds])
        .arg(format!("--src-cert-dir={}", reg.certs.display()))
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.path().display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let token = {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' '{creds}' | base64 -w0"))
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    let mut files = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        files += 1;
        for needle in [PASSWORD.as_bytes(), token.as_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "a credential is in the pushed image"
            );
        }
    }
    assert!(files >= 3, "manifest, config and layers expected");
}

#[test]
fn every_variant_is_built_pushed_verified_and_free_of_secrets() {
    if let Some(why) = tools_missing() {
        eprintln!("skipping: {why}");
        return;
    }
    let reg = Registry::start();
    let storage = common::ContainerStorage::new();
    let certs = reg.certs.display().to_string();
    let creds = format!("{USER}:{PASSWORD}");
    let runner = runner().display().to_string();
    let cache = cache().display().to_string();
    for variant in ["cpu", "cuda", "wgpu"] {
        let t0 = Instant::now();
        let reference = format!("{}/riskpool:{variant}", reg.addr);
        let digest_file = tempfile::NamedTempFile::new().unwrap();
        let o = image(
            &storage,
            &[
                "container",
                "--variant",
                variant,
                "--tag",
                &reference,
                "--push",
                "--creds",
                &creds,
                "--cert-dir",
                &certs,
                "--runner",
                &runner,
                "--cache-dir",
                &cache,
                "--digest-file",
                digest_file.path().to_str().unwrap(),
            ],
        );
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{variant}: {err}");
        assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
        let digest = std::fs::read_to_string(digest_file.path()).unwrap();
        assert!(
            digest.starts_with("sha256:") && out.contains(digest.trim()),
            "{out} / {digest}"
        );

        let o = image(
            &storage,
            &[
                "verify",
                &reference,
                "--creds",
                &creds,
                "--cert-dir",
                &certs,
                "--runner",
                &runner,
            ],
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{variant}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains(&format!(
                "variant {variant}, user 10001:10001, 40 prices equal to the host's"
            )),
            "{out}"
        );
        assert_no_secret_in(&reg, &reference);
        eprintln!(
            "{variant}: built, pushed, verified in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
    }

    // Registry failures: clear, exit 1, and never the password.
    let reference = format!("{}/riskpool:cpu", reg.addr);
    let wrong = format!("{USER}:not-{PASSWORD}");
    for (args, words) in [
        (
            vec![
                "verify",
                reference.as_str(),
                "--creds",
                wrong.as_str(),
                "--cert-dir",
                certs.as_str(),
            ],
            "refused the credentials",
        ),
        (
            vec!["verify", reference.as_str(), "--cert-dir", certs.as_str()],
            "refused the credentials",
        ),
        (
            vec!["verify", reference.as_str(), "--creds", creds.as_str()],
            "certificate is not trusted",
        ),
        (
            vec![
                "container",
                "--variant",
                "cpu",
                "--tag",
                reference.as_str(),
                "--push",
                "--creds",
                wrong.as_str(),
                "--cert-dir",
                certs.as_str(),
                "--runner",
                runner.as_str(),
                "--cache-dir",
                cache.as_str(),
            ],
            "refused the credentials",
        ),
    ] {
        let o = image(&storage, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(!err.contains(PASSWORD), "a password in the error: {err}");
    }
}
