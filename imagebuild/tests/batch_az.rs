//! run.sh, the job's whole run, with the real Azure CLI against endpoints on
//! 127.0.0.1 only: a request-recording server stands in for the Batch
//! account and Azure Resource Manager (`az batch` over http with shared-key
//! auth, `az rest` with `RISKPOOL_ARM_ENDPOINT`), and Azurite for blob
//! storage (`AZURE_STORAGE_CONNECTION_STRING`). The bodies that arrive equal
//! the generated files; the book goes up and the checked results come down.
//!
//! The CLI is `target/azure-cli/bin/az` (or `$RISKPOOL_AZ`, or `az` on
//! PATH) and Azurite `target/azurite/node_modules/.bin/azurite-blob` (or
//! `$RISKPOOL_AZURITE`): scripts/test installs both there, once, and sets
//! RISKPOOL_REQUIRE_AZ=1 so that CI cannot skip. Elsewhere it skips, saying
//! which is missing.

#[allow(dead_code)]
use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const IDENTITY: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/riskpool";
const ACCOUNT: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct";
/// Azurite's published development account key.
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// The tool at `env`, else under target/, else on PATH.
fn find(env: &str, local: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let p = target().join(local);
    if p.is_file() {
        return Some(p);
    }
    riskpool_imagebuild::tools::present(name).then(|| PathBuf::from(name))
}

/// One request as it arrived.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    query: String,
    body: Value,
}

/// A Batch account and Azure Resource Manager on 127.0.0.1 that record what
/// they are sent and answer as the services do.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = serve(s, &log);
                });
            }
        });
        Recorder { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers requests on one connection until the client closes it.
fn serve(s: TcpStream, log: &Mutex<Vec<Request>>) -> std::io::Result<()> {
    let mut r = BufReader::new(s.try_clone()?);
    let mut w = s;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body)?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let req = Request {
            method: method.clone(),
            path: path.to_string(),
            query: query.to_string(),
            body: body.clone(),
        };
        log.lock().unwrap().push(req);
        let (status, answer): (&str, Option<Value>) = match (method.as_str(), path) {
            // The pool does not exist yet: run.sh must create it.
            ("GET", p) if p.contains("/pools/") => (
                "404 Not Found",
                Some(json!({"error": {"code": "ResourceNotFound", "message": "not found"}})),
            ),
            ("PUT", _) => ("200 OK", Some(body)),
            ("POST", "/jobs") => ("201 Created", None),
            ("POST", p) if p.ends_with("/addtaskcollection") => {
                let ids: Vec<Value> = body["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| json!({"status": "success", "taskId": t["id"]}))
                    .collect();
                ("200 OK", Some(json!({"value": ids})))
            }
            ("PATCH", _) => ("200 OK", None),
            ("GET", p) if p.ends_with("/tasks") => (
                "200 OK",
                Some(json!({"value": [
                    {"id": "split", "state": "completed", "executionInfo": {"result": "success", "exitCode": 0}},
                    {"id": "0", "state": "completed", "executionInfo": {"result": "failure", "exitCode": 3}},
                    {"id": "1", "state": "running"},
                    {"id": "concat", "state": "active"},
                ]})),
            ),
            ("GET", p) if p.starts_with("/jobs/") => (
                "200 OK",
                Some(json!({"id": p.trim_start_matches("/jobs/"), "state": "completed"})),
            ),
            _ => (
                "400 Bad Request",
                Some(
                    json!({"error": {"code": "Unexpected", "message": format!("{method} {path}")}}),
                ),
            ),
        };
        let data = answer.map(|a| a.to_string()).unwrap_or_default();
        write!(
            w,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nETag: 0x1\r\nDataServiceId: http://127.0.0.1/jobs/x\r\n\r\n{data}",
            data.len()
        )?;
        w.flush()?;
    }
}

/// Azurite's blob service on 127.0.0.1, stopped on drop.
struct Azurite {
    child: Child,
    port: u16,
}

impl Azurite {
    fn start(bin: &Path, dir: &Path) -> Azurite {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ])
            .arg("--location")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let a = Azurite { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Azurite did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        a
    }

    fn connection_string(&self) -> String {
        format!("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;", self.port)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    az_dir: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let mut paths = vec![self.az_dir.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        c.env("PATH", std::env::join_paths(paths).unwrap());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn az(&self, args: &[&str]) -> Output {
        let o = self
            .command(&self.az_dir.join("az"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "az {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }
}

fn image(dir: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn run_sh_drives_the_real_azure_cli_against_local_endpoints() {
    let az = find("RISKPOOL_AZ", "azure-cli/bin/az", "az");
    let azurite = find(
        "RISKPOOL_AZURITE",
        "azurite/node_modules/.bin/azurite-blob",
        "azurite-blob",
    );
    let (Some(az), Some(azurite)) = (az, azurite) else {
        let why =
            "the Azure CLI (pip install azure-cli) or Azurite (npm install azurite) is missing";
        assert_ne!(
            std::env::var("RISKPOOL_REQUIRE_AZ").as_deref(),
            Ok("1"),
            "RISKPOOL_REQUIRE_AZ=1 but {why}"
        );
        eprintln!("skipped: {why}");
        return;
    };
    let az_dir = if az.is_absolute() {
        az.parent().unwrap().to_path_buf()
    } else {
        // On PATH: found by name.
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .find(|d| d.join(&az).is_file())
            .unwrap()
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let rec = Recorder::start();
    let blobs = root.join("azurite");
    std::fs::create_dir_all(&blobs).unwrap();
    let store = Azurite::start(&azurite, &blobs);
    let env = Env {
        az_dir,
        vars: vec![
            (
                "AZURE_CONFIG_DIR".into(),
                root.join("az-config").display().to_string(),
            ),
            ("AZURE_CORE_COLLECT_TELEMETRY".into(), "false".into()),
            ("AZURE_CORE_NO_COLOR".into(), "true".into()),
            ("AZURE_BATCH_ACCOUNT".into(), "acct".into()),
            (
                "AZURE_BATCH_ACCESS_KEY".into(),
                "a2V5LWZvci10aGUtdGVzdA==".into(),
            ),
            ("AZURE_BATCH_ENDPOINT".into(), rec.url()),
            ("RISKPOOL_ARM_ENDPOINT".into(), rec.url()),
            (
                "AZURE_STORAGE_CONNECTION_STRING".into(),
                store.connection_string(),
            ),
            ("RISKPOOL_POLL_SECONDS".into(), "1".into()),
        ],
    };
    env.az(&[
        "storage",
        "container",
        "create",
        "--name",
        "work",
        "--only-show-errors",
    ]);

    // The pool, the job on a book, and the book.
    image(
        root,
        &[
            "batch",
            "pool",
            "--id",
            "gpu",
            "--vm-size",
            "Standard_NC24ads_A100_v4",
            "--image",
            "myacr.azurecr.io/riskpool:cuda",
            "--registry",
            "myacr.azurecr.io",
            "--identity",
            IDENTITY,
            "--dedicated",
            "2",
            "--output",
            "pool.json",
        ],
    );
    image(
        root,
        &[
            "batch",
            "job",
            "--id",
            "run1",
            "--pool-id",
            "gpu",
            "--image",
            "myacr.azurecr.io/riskpool:cuda",
            "--trades",
            "40",
            "--tasks",
            "4",
            "--book",
            "books/book.csv",
            "--storage-url",
            "https://acct.blob.core.windows.net/work",
            "--identity",
            IDENTITY,
            "--pool-body",
            "pool.json",
            "--account-id",
            ACCOUNT,
            "--output-dir",
            "run1",
        ],
    );
    let runner = common::runner();
    let book = root.join("book.csv");
    let o = Command::new(&runner)
        .args(["generate", "--trades", "40", "--seed", "5", "--output"])
        .arg(&book)
        .output()
        .unwrap();
    assert!(o.status.success());
    let run_sh = root.join("run1/run.sh");
    let run = |args: &[&str]| {
        env.command(&run_sh)
            .current_dir(root)
            .args(args)
            .output()
            .unwrap()
    };

    // A book of another size is refused before anything is sent.
    let short = root.join("short.csv");
    let text = std::fs::read_to_string(&book).unwrap();
    std::fs::write(
        &short,
        text.lines().take(30).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let o = run(&["submit", "short.csv"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds 29 trades; this job was made for 40")
    );
    assert!(rec.requests().is_empty());

    // submit: the book up, the pool created (it was missing), the job, the tasks, terminatejob.
    let o = run(&["submit", "book.csv"]);
    assert!(
        o.status.success(),
        "submit: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = root.join("book.down.csv");
    env.az(&[
        "storage",
        "blob",
        "download",
        "--container-name",
        "work",
        "--name",
        "books/book.csv",
        "--file",
        got.to_str().unwrap(),
        "--no-progress",
        "--only-show-errors",
    ]);
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&book).unwrap());
    let reqs = rec.requests();
    let calls: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let pool_path = format!("{ACCOUNT}/pools/gpu");
    assert_eq!(
        calls,
        vec![
            format!("GET {pool_path}"),
            format!("PUT {pool_path}"),
            "POST /jobs".to_string(),
            "POST /jobs/run1/addtaskcollection".to_string(),
            "PATCH /jobs/run1".to_string(),
        ]
    );
    assert_eq!(reqs[1].query, "api-version=2024-07-01");
    // The bodies that arrived are the generated files.
    assert_eq!(reqs[1].body, read(&root.join("pool.json")));
    assert_eq!(reqs[1].body, read(&root.join("run1/pool.json")));
    assert_eq!(reqs[2].body, read(&root.join("run1/job.json")));
    let by_id = |v: &Value| -> BTreeMap<String, Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
            .collect()
    };
    assert_eq!(
        by_id(&reqs[3].body["value"]),
        by_id(&read(&root.join("run1/tasks-0000.json")))
    );
    assert_eq!(reqs[4].body, read(&root.join("run1/job-terminate.json")));

    // status and wait: counts, the failed task's exit code and its stderr.txt.
    let o = run(&["wait"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "wait: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("tasks: 1 active, 1 running, 2 completed (1 failed)"),
        "{out}"
    );
    assert!(
        out.contains(
            "failed: 0\t exit 3\thttps://acct.blob.core.windows.net/work/run1/logs/0/stderr.txt"
        ),
        "{out}"
    );

    // download: the results as concat would upload them, checked; then a doubled row refused.
    let results = root.join("results.csv");
    let o = Command::new(&runner)
        .args(["price", "--input"])
        .arg(&book)
        .arg("--output")
        .arg(&results)
        .output()
        .unwrap();
    assert!(o.status.success());
    let upload = |f: &Path| {
        env.az(&[
            "storage",
            "blob",
            "upload",
            "--container-name",
            "work",
            "--name",
            "run1/results.csv",
            "--file",
            f.to_str().unwrap(),
            "--overwrite",
            "--no-progress",
            "--only-show-errors",
        ])
    };
    upload(&results);
    let o = run(&["download", "out/priced.csv"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "no out/ folder yet: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::create_dir_all(root.join("out")).unwrap();
    let o = run(&["download", "out/priced.csv"]);
    assert!(
        o.status.success(),
        "download: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(root.join("out/priced.csv")).unwrap(),
        std::fs::read(&results).unwrap()
    );
    let text = std::fs::read_to_string(&results).unwrap();
    let second = text.lines().nth(1).unwrap();
    let doubled = root.join("doubled.csv");
    std::fs::write(
        &doubled,
        text.lines()
            .take(40)
            .chain([second])
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    upload(&doubled);
    let o = run(&["download", "out/doubled.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("has 40 rows and 39 distinct trades, not the book's 40"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!root.join("out/doubled.csv").exists());
}
