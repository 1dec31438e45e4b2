//! run.sh, the job's whole run, with the real Azure CLI against endpoints on
//! 127.0.0.1 only: a request-recording server stands in for the Batch
//! account and Azure Resource Manager (`az batch` over http with shared-key
//! auth, `az rest` with `RISKPOOL_ARM_ENDPOINT`), and Azurite for blob
//! storage (`AZURE_STORAGE_CONNECTION_STRING`). The bodies that arrive equal
//! the generated files; the book goes up and the checked results come down.
//! The stand-in answers for the job, its tasks and its pool as the test
//! sets them: a job ended by a failed task, by its time limit or by a stop;
//! a pool whose resize failed; a task collection the service refuses. Every
//! `az` run.sh starts is logged with its arguments, as `ps` would show them.
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

/// What the stand-in Batch account says about the job, its tasks and its
/// pool.
#[derive(Clone, Debug)]
struct World {
    /// Get Job's answer.
    job: Value,
    /// Every task, as List Tasks gives them (the `$filter` for failed ones
    /// applied); task counts are counted from them.
    tasks: Vec<Value>,
    /// The data plane's Get Pool answer; None: 404.
    pool: Option<Value>,
    /// The task collection (0-based) whose every task the service refuses.
    refuse_collection: Option<usize>,
    /// Terminate Job fails.
    refuse_terminate: bool,
    /// Task collections added so far.
    collections: usize,
}

/// A task as List Tasks gives it.
fn task(id: &str, state: &str, result: Option<&str>, exit: Option<i32>) -> Value {
    let mut t = json!({"id": id, "state": state});
    if let Some(r) = result {
        t["executionInfo"] =
            json!({"result": r, "exitCode": exit, "retryCount": 0, "requeueCount": 0});
    }
    t
}

/// A job as Get Job gives it; `reason` once it has ended.
fn job_state(id: &str, state: &str, reason: Option<&str>) -> Value {
    let mut j = json!({"id": id, "state": state, "poolInfo": {"poolId": "gpu"},
        "executionInfo": {"startTime": "2026-01-01T00:00:00Z", "poolId": "gpu"}});
    if let Some(r) = reason {
        j["executionInfo"]["terminateReason"] = json!(r);
        j["executionInfo"]["endTime"] = json!("2026-01-01T01:00:00Z");
    }
    j
}

/// A pool as the data plane's Get Pool gives it.
fn pool_state(allocation: &str, dedicated: u32, errors: &[(&str, &str)]) -> Value {
    let mut p = json!({"id": "gpu", "state": "active", "allocationState": allocation,
        "currentDedicatedNodes": dedicated, "currentLowPriorityNodes": 0,
        "targetDedicatedNodes": 2, "targetLowPriorityNodes": 0});
    if !errors.is_empty() {
        p["resizeErrors"] = errors
            .iter()
            .map(|(c, m)| json!({"code": c, "message": m}))
            .collect();
    }
    p
}

impl World {
    /// Job `id` ended as it should: every task succeeded.
    fn succeeded(id: &str) -> World {
        World {
            job: job_state(id, "completed", Some("AllTasksComplete")),
            tasks: ["split", "0", "1", "2", "3", "concat"]
                .iter()
                .map(|t| task(t, "completed", Some("success"), Some(0)))
                .collect(),
            pool: Some(pool_state("steady", 2, &[])),
            refuse_collection: None,
            refuse_terminate: false,
            collections: 0,
        }
    }

    fn counts(&self) -> Value {
        let n = |f: &dyn Fn(&Value) -> bool| self.tasks.iter().filter(|t| f(t)).count();
        let state = |s: &'static str| move |t: &Value| t["state"] == s;
        let result = |r: &'static str| move |t: &Value| t["executionInfo"]["result"] == r;
        json!({
            "taskCounts": {"active": n(&state("active")), "running": n(&state("running")),
                "completed": n(&state("completed")), "succeeded": n(&result("success")),
                "failed": n(&result("failure"))},
            "taskSlotCounts": {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
        })
    }
}

/// A Batch account and Azure Resource Manager on 127.0.0.1 that record what
/// they are sent and answer as the services do.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
    world: Arc<Mutex<World>>,
}

impl Recorder {
    fn start(world: World) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let world = Arc::new(Mutex::new(world));
        let (log, w) = (seen.clone(), world.clone());
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (log, w) = (log.clone(), w.clone());
                std::thread::spawn(move || {
                    let _ = serve(s, &log, &w);
                });
            }
        });
        Recorder { port, seen, world }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests since the first `from`, as `METHOD PATH`.
    fn calls_since(&self, from: usize) -> Vec<String> {
        self.requests()[from..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    fn set(&self, f: impl FnOnce(&mut World)) {
        f(&mut self.world.lock().unwrap())
    }
}

/// Answers requests on one connection until the client closes it.
fn serve(s: TcpStream, log: &Mutex<Vec<Request>>, world: &Mutex<World>) -> std::io::Result<()> {
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
        let mut world = world.lock().unwrap();
        let bad = |m: String| {
            (
                "400 Bad Request",
                Some(json!({"error": {"code": "Unexpected", "message": m}})),
            )
        };
        let (status, answer): (&str, Option<Value>) = match (method.as_str(), path) {
            // Azure Resource Manager: the pool does not exist yet, so run.sh must create it.
            ("GET", p) if p.starts_with("/subscriptions/") => (
                "404 Not Found",
                Some(json!({"error": {"code": "ResourceNotFound", "message": "not found"}})),
            ),
            ("PUT", _) => ("200 OK", Some(body)),
            ("POST", "/jobs") => ("201 Created", None),
            ("POST", p) if p.ends_with("/addtaskcollection") => {
                let refused = world.refuse_collection == Some(world.collections);
                world.collections += 1;
                let ids: Vec<Value> = body["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        if refused {
                            json!({"status": "clienterror", "taskId": t["id"],
                                   "error": {"code": "InvalidPropertyValue", "message": "refused by the test"}})
                        } else {
                            json!({"status": "success", "taskId": t["id"]})
                        }
                    })
                    .collect();
                ("200 OK", Some(json!({"value": ids})))
            }
            ("POST", p) if p.ends_with("/terminate") => {
                if world.refuse_terminate {
                    (
                        "409 Conflict",
                        Some(
                            json!({"error": {"code": "JobNotActive", "message": "refused by the test"}}),
                        ),
                    )
                } else {
                    ("202 Accepted", None)
                }
            }
            ("PATCH", _) => ("200 OK", None),
            ("GET", p) if p.ends_with("/taskcounts") => ("200 OK", Some(world.counts())),
            ("GET", p) if p.ends_with("/tasks") => {
                // The one filter run.sh sends: executionInfo/result eq 'failure'.
                let failed_only = query.contains("failure");
                if !query.is_empty() && query.contains("filter") && !failed_only {
                    let (s, a) = bad(format!("unexpected filter {query}"));
                    (s, a)
                } else {
                    let v: Vec<Value> = world
                        .tasks
                        .iter()
                        .filter(|t| !failed_only || t["executionInfo"]["result"] == "failure")
                        .cloned()
                        .collect();
                    ("200 OK", Some(json!({"value": v})))
                }
            }
            ("GET", p) if p.starts_with("/jobs/") => ("200 OK", Some(world.job.clone())),
            ("GET", p) if p.starts_with("/pools/") => match &world.pool {
                Some(pool) => ("200 OK", Some(pool.clone())),
                None => (
                    "404 Not Found",
                    Some(json!({"error": {"code": "PoolNotFound", "message": "not found"}})),
                ),
            },
            _ => bad(format!("{method} {path}")),
        };
        drop(world);
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
    /// Before the CLI on PATH: an `az` that logs its arguments, then runs it.
    shim_dir: PathBuf,
    az_dir: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let mut paths = vec![self.shim_dir.clone(), self.az_dir.clone()];
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

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The CLI, Azurite, the stand-in Batch account, and a folder to work in.
struct Harness {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rec: Recorder,
    _store: Azurite,
    env: Env,
    /// Every `az` run.sh started, one a line, with its arguments.
    argv_log: PathBuf,
}

/// The harness, or None (said why) where the CLI or Azurite is missing.
fn harness(world: World) -> Option<Harness> {
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
        return None;
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
    let root = d.path().to_path_buf();
    let rec = Recorder::start(world);
    let blobs = root.join("azurite");
    std::fs::create_dir_all(&blobs).unwrap();
    let store = Azurite::start(&azurite, &blobs);
    let shim_dir = root.join("shim");
    std::fs::create_dir_all(&shim_dir).unwrap();
    let argv_log = root.join("az-argv.log");
    let shim = shim_dir.join("az");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
            riskpool_imagebuild::batch::script::sh_quote(&argv_log.display().to_string()),
            riskpool_imagebuild::batch::script::sh_quote(&az_dir.join("az").display().to_string()),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = Env {
        shim_dir,
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
    Some(Harness {
        _dir: d,
        root,
        rec,
        _store: store,
        env,
        argv_log,
    })
}

impl Harness {
    /// riskpool-image in the work folder; it must succeed.
    fn image(&self, args: &[&str]) {
        let o = Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
            .current_dir(&self.root)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    }

    /// The job `id` on pool gpu, written to the folder `id`.
    fn job(&self, id: &str, extra: &[&str]) {
        let mut a = vec![
            "batch",
            "job",
            "--id",
            id,
            "--pool-id",
            "gpu",
            "--image",
            "myacr.azurecr.io/riskpool:cuda",
            "--storage-url",
            "https://acct.blob.core.windows.net/work",
            "--identity",
            IDENTITY,
            "--output-dir",
            id,
        ];
        a.extend_from_slice(extra);
        self.image(&a);
    }

    /// `JOB/run.sh ARGS` in the work folder, with `vars` besides.
    fn run_with(&self, job: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = self.env.command(&self.root.join(job).join("run.sh"));
        c.current_dir(&self.root).args(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn run(&self, job: &str, args: &[&str]) -> Output {
        self.run_with(job, args, &[])
    }

    /// `file` (in the work folder) to the blob `name` of the container.
    fn upload(&self, file: &str, name: &str) {
        self.env.az(&[
            "storage",
            "blob",
            "upload",
            "--container-name",
            "work",
            "--name",
            name,
            "--file",
            self.root.join(file).to_str().unwrap(),
            "--overwrite",
            "--no-progress",
            "--only-show-errors",
        ]);
    }

    /// `riskpool ARGS` in the work folder; it must succeed.
    fn riskpool(&self, args: &[&str]) {
        let o = Command::new(common::runner())
            .current_dir(&self.root)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    }
}

#[test]
fn run_sh_drives_the_real_azure_cli_against_local_endpoints() {
    let Some(h) = harness(World::succeeded("run1")) else {
        return;
    };
    let (root, rec) = (&h.root, &h.rec);

    // The pool, the job on a book, and the book.
    h.image(&[
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
    ]);
    h.job(
        "run1",
        &[
            "--trades",
            "40",
            "--tasks",
            "4",
            "--book",
            "books/book.csv",
            "--pool-body",
            "pool.json",
            "--account-id",
            ACCOUNT,
        ],
    );
    h.riskpool(&[
        "generate", "--trades", "40", "--seed", "5", "--output", "book.csv",
    ]);
    let book = root.join("book.csv");

    // A book of another size is refused before anything is sent.
    let short = root.join("short.csv");
    let all = std::fs::read_to_string(&book).unwrap();
    std::fs::write(
        &short,
        all.lines().take(30).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let o = h.run("run1", &["submit", "short.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("holds 29 trades; this job was made for 40"));
    // So is a portfolio book (JSON Lines): a price job splits azfinsim CSV only.
    let lines: String = (0..40)
        .map(|i| format!("{{\"id\": \"t{i}\", \"model\": \"gbm\"}}\n"))
        .collect();
    std::fs::write(
        root.join("book.jsonl"),
        format!("{{\"id\": \"h\"}}\n{lines}"),
    )
    .unwrap();
    let o = h.run("run1", &["submit", "book.jsonl"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("is not an azfinsim CSV trade file"),
        "{}",
        text(&o.stderr)
    );
    assert!(rec.requests().is_empty());

    // submit: the book up, the pool created (it was missing), the job, the tasks, terminatejob.
    let o = h.run("run1", &["submit", "book.csv"]);
    assert!(o.status.success(), "submit: {}", text(&o.stderr));
    let got = root.join("book.down.csv");
    h.env.az(&[
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
    let pool_path = format!("{ACCOUNT}/pools/gpu");
    assert_eq!(
        rec.calls_since(0),
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

    // status: the counts in one call, and no task list while none failed.
    let n = rec.requests().len();
    let o = h.run("run1", &["status"]);
    assert!(o.status.success(), "status: {}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "tasks: 0 active, 0 running, 6 completed (0 failed)\n"
    );
    assert_eq!(rec.calls_since(n), vec!["GET /jobs/run1/taskcounts"]);
    // With a failed task: the counts, then the failed tasks only, with
    // their exit codes and stderr.txt.
    rec.set(|w| {
        w.job = job_state("run1", "active", None);
        w.tasks = vec![
            task("split", "completed", Some("success"), Some(0)),
            task("0", "completed", Some("failure"), Some(3)),
            task("1", "running", None, None),
            task("concat", "active", None, None),
        ];
    });
    let n = rec.requests().len();
    let o = h.run("run1", &["status"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "status: {}", text(&o.stderr));
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
    assert!(
        !out.contains("failed: split") && !out.contains("failed: 1"),
        "{out}"
    );
    assert_eq!(
        rec.calls_since(n),
        vec!["GET /jobs/run1/taskcounts", "GET /jobs/run1/tasks"]
    );
    let list = &rec.requests()[n + 1];
    assert!(
        list.query.contains("filter") && list.query.contains("failure"),
        "{}",
        list.query
    );

    // wait: the job ends with every task done.
    rec.set(|w| *w = World::succeeded("run1"));
    let o = h.run("run1", &["wait"]);
    assert!(o.status.success(), "wait: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("job run1 succeeded"),
        "{}",
        text(&o.stderr)
    );

    // download: the results as concat would upload them, checked; then a doubled row refused.
    h.riskpool(&["price", "--input", "book.csv", "--output", "results.csv"]);
    let results = root.join("results.csv");
    h.upload("results.csv", "run1/results.csv");
    let o = h.run("run1", &["download", "out/priced.csv"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "no out/ folder yet: {}",
        text(&o.stderr)
    );
    std::fs::create_dir_all(root.join("out")).unwrap();
    let o = h.run("run1", &["download", "out/priced.csv"]);
    assert!(o.status.success(), "download: {}", text(&o.stderr));
    assert_eq!(
        std::fs::read(root.join("out/priced.csv")).unwrap(),
        std::fs::read(&results).unwrap()
    );
    let all = std::fs::read_to_string(&results).unwrap();
    let second = all.lines().nth(1).unwrap();
    std::fs::write(
        root.join("doubled.csv"),
        all.lines()
            .take(40)
            .chain([second])
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    h.upload("doubled.csv", "run1/results.csv");
    let o = h.run("run1", &["download", "out/doubled.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("has 40 rows and 39 distinct trades, not the book's 40"),
        "{}",
        text(&o.stderr)
    );
    assert!(!root.join("out/doubled.csv").exists());

    // The storage connection string (its account key) was on no command
    // line: az read it from the environment.
    let argv = std::fs::read_to_string(&h.argv_log).unwrap();
    assert!(argv.contains("storage blob upload"), "{argv}");
    assert!(argv.contains("storage blob download"), "{argv}");
    for line in argv.lines() {
        assert!(
            !line.contains(DEV_KEY)
                && !line.contains("AccountKey")
                && !line.contains("connection-string"),
            "a secret on a command line: {line}"
        );
    }
}

/// A job that did not succeed (ended by a failed task, by its time limit
/// or by a stop; or with a failed task whatever its exit code) is reported
/// by `wait` with its failed tasks, and `download` takes nothing from it,
/// though a results blob of an earlier run under the same id is there.
#[test]
fn a_job_that_did_not_succeed_is_reported_and_nothing_is_downloaded() {
    let mut world = World::succeeded("run2");
    world.job = job_state("run2", "completed", Some("TaskFailed"));
    world.tasks[1] = task("0", "completed", Some("failure"), Some(3));
    // Exit 0 but failed: its outputs could not be uploaded.
    world.tasks[2] = task("1", "completed", Some("failure"), Some(0));
    world.tasks[2]["executionInfo"]["failureInfo"] =
        json!({"category": "UserError", "code": "FileUploadError", "message": "upload failed"});
    let Some(h) = harness(world) else {
        return;
    };
    let root = &h.root;
    h.job("run2", &["--trades", "40", "--tasks", "4"]);
    h.riskpool(&["generate", "--trades", "40", "--output", "book.csv"]);
    h.riskpool(&["price", "--input", "book.csv", "--output", "earlier.csv"]);
    // What an earlier job under this id left: 40 good rows.
    h.upload("earlier.csv", "run2/results.csv");

    let o = h.run("run2", &["wait"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "wait: {err}");
    assert!(
        err.contains("job run2 did not succeed") && err.contains("(TaskFailed)"),
        "{err}"
    );
    assert!(err.contains("failed: 0\t exit 3\t"), "{err}");
    assert!(
        err.contains("failed: 1\t exit 0\t") && err.contains("FileUploadError"),
        "{err}"
    );

    let refused = |h: &Harness, words: &[&str]| {
        let o = h.run("run2", &["download", "out.csv"]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "download: {err}");
        for w in words {
            assert!(err.contains(w), "wanted `{w}` in {err}");
        }
        assert!(err.contains("not downloading run2/results.csv"), "{err}");
        assert!(!root.join("out.csv").exists() && !root.join("out.csv.part").exists());
    };
    refused(&h, &["(TaskFailed)", "failed: 0\t exit 3"]);
    // Ended as if all went well, but a task failed.
    h.rec
        .set(|w| w.job = job_state("run2", "completed", Some("AllTasksComplete")));
    refused(&h, &["tasks failed", "failed: 1\t exit 0"]);
    // No failed task, but the job ran out of time (its tasks cut short) or was stopped.
    h.rec.set(|w| {
        *w = World::succeeded("run2");
        w.job = job_state("run2", "completed", Some("MaxWallClockTimeExpiry"));
    });
    refused(&h, &["time limit, PT24H (MaxWallClockTimeExpiry)"]);
    h.rec
        .set(|w| w.job = job_state("run2", "completed", Some("UserTerminate")));
    refused(&h, &["it was stopped: UserTerminate"]);
    // Not ended yet: nothing is final.
    h.rec.set(|w| w.job = job_state("run2", "active", None));
    let o = h.run("run2", &["download", "out.csv"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("job run2 is active, not completed"));
    assert!(!root.join("out.csv").exists());
    // Once it succeeds, its results come down.
    h.rec.set(|w| *w = World::succeeded("run2"));
    let o = h.run("run2", &["download", "out.csv"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(root.join("out.csv").is_file());

    // A risk job's figures likewise.
    h.job(
        "risk2",
        &[
            "--kind",
            "risk",
            "--book",
            "b.jsonl",
            "--scenarios",
            "s.csv",
            "--trades",
            "10",
            "--tasks",
            "2",
        ],
    );
    h.rec.set(|w| {
        w.job = job_state("risk2", "completed", Some("TaskFailed"));
        w.tasks = vec![task("0", "completed", Some("failure"), Some(1))];
    });
    std::fs::create_dir_all(root.join("fig")).unwrap();
    let o = h.run("risk2", &["download", "fig"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("not downloading its figures"));
    assert_eq!(std::fs::read_dir(root.join("fig")).unwrap().count(), 0);
}

/// `wait` stops when the pool has no node and its resize ended in errors
/// (a quota), reporting them; and at `RISKPOOL_WAIT_SECONDS` whatever the job does.
#[test]
fn wait_stops_on_a_pool_that_cannot_grow_and_at_its_time_limit() {
    let mut world = World::succeeded("run3");
    world.job = job_state("run3", "active", None);
    for t in &mut world.tasks {
        *t = task(t["id"].as_str().unwrap(), "active", None, None);
    }
    let quota = (
        "AccountCoreQuotaReached",
        "The specified account has reached VM core quota",
    );
    world.pool = Some(pool_state("steady", 0, &[quota]));
    let Some(h) = harness(world) else {
        return;
    };
    h.job("run3", &["--trades", "40", "--tasks", "4"]);
    let t0 = Instant::now();
    let o = h.run("run3", &["wait"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "wait: {err}");
    assert!(
        err.contains("AccountCoreQuotaReached: The specified account has reached VM core quota"),
        "{err}"
    );
    assert!(
        err.contains("pool gpu has no node and cannot grow"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));

    // A pool that has nodes though its resize failed: the job runs on them,
    // the error said; the wait ends at its limit.
    h.rec
        .set(|w| w.pool = Some(pool_state("steady", 1, &[quota])));
    let t0 = Instant::now();
    let o = h.run_with("run3", &["wait"], &[("RISKPOOL_WAIT_SECONDS", "3")]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "wait: {err}");
    assert!(
        err.contains("runs on the nodes it has (1 dedicated"),
        "{err}"
    );
    assert!(
        err.contains("gave up waiting after 3 seconds (RISKPOOL_WAIT_SECONDS): job run3 is active"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
    // A pool still growing, without errors: only the limit ends the wait.
    h.rec.set(|w| w.pool = Some(pool_state("resizing", 0, &[])));
    let o = h.run_with("run3", &["wait"], &[("RISKPOOL_WAIT_SECONDS", "0")]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "wait: {err}");
    assert!(
        err.contains("gave up waiting after 0 seconds") && !err.contains("resize error"),
        "{err}"
    );
    // A limit that is not a number is refused.
    let o = h.run_with("run3", &["wait"], &[("RISKPOOL_WAIT_SECONDS", "1h")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("RISKPOOL_WAIT_SECONDS=1h: give a whole number of seconds"));
}

/// A `submit` that fails half-way (a task collection refused) stops the job
/// it made, so that it neither runs part of the graph nor stays active for
/// ever, and exits 1 saying so.
#[test]
fn a_half_finished_submit_stops_its_job() {
    let mut world = World::succeeded("run4");
    world.refuse_collection = Some(1);
    let Some(h) = harness(world) else {
        return;
    };
    // 152 tasks: two collections, the second refused.
    h.job("run4", &["--trades", "150", "--tasks", "150"]);
    assert!(h.root.join("run4/tasks-0001.json").is_file());
    let o = h.run("run4", &["submit"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "submit: {err}");
    assert!(
        err.contains("adding the tasks of tasks-0001.json failed"),
        "{err}"
    );
    assert!(err.contains("job run4 was stopped (terminated)"), "{err}");
    assert_eq!(
        h.rec.calls_since(0),
        vec![
            "POST /jobs",
            "POST /jobs/run4/addtaskcollection",
            "POST /jobs/run4/addtaskcollection",
            "POST /jobs/run4/terminate",
        ]
    );
    assert_eq!(
        h.rec.requests()[3].body["terminateReason"],
        "riskpool: submit failed"
    );

    // When stopping fails too, it says so, and what to do.
    h.rec.set(|w| {
        w.refuse_collection = Some(w.collections);
        w.refuse_terminate = true;
    });
    h.job("run5", &["--trades", "10", "--tasks", "2"]);
    let o = h.run("run5", &["submit"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "submit: {err}");
    assert!(err.contains("stopping job run5 failed too"), "{err}");
}

/// A risk job made with `--market`: `run.sh submit BOOK SCENARIOS MARKET`
/// uploads the three files to their blobs, byte for byte, before the job
/// is created; a market file that is not there is refused (exit 2) before
/// anything is sent.
#[test]
fn a_risk_job_submits_its_book_scenarios_and_market() {
    let Some(h) = harness(World::succeeded("risk3")) else {
        return;
    };
    let root = &h.root;
    h.job(
        "risk3",
        &[
            "--kind",
            "risk",
            "--book",
            "books/dated.jsonl",
            "--scenarios",
            "scen/s.csv",
            "--market",
            "markets/2026-12-04.json",
            "--trades",
            "1",
            "--tasks",
            "1",
        ],
    );
    let files = [
        ("dated.jsonl", "books/dated.jsonl", "{\"id\": \"spx-call\", \"underlying\": \"SPX\", \"payoff\": {\"type\": \"european\", \"option\": \"call\", \"strike\": 6000}, \"expiry\": \"2028-06-04\", \"steps_per_year\": 12, \"paths\": 2000}\n"),
        ("s.csv", "scen/s.csv", "scenario,underlying,spot,vol,rate\ndown,SPX,-0.05,,\n"),
        ("market.json", "markets/2026-12-04.json", "{\"valuation_date\": \"2026-12-04\", \"curves\": {\"USD\": {\"dates\": [\"2027-12-04\"], \"zero_rates\": [0.038]}}, \"underlyings\": {\"SPX\": {\"spot\": 6000, \"currency\": \"USD\", \"vol\": {\"flat\": 0.2}}}}\n"),
    ];
    for (file, _, body) in files {
        std::fs::write(root.join(file), body).unwrap();
    }
    let o = h.run("risk3", &["submit", "dated.jsonl", "s.csv", "missing.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("missing.json: no such file"),
        "{}",
        text(&o.stderr)
    );
    assert!(h.rec.requests().is_empty());
    // Nor was the book or the scenario file uploaded: every file is
    // checked first.
    let argv = std::fs::read_to_string(&h.argv_log).unwrap_or_default();
    assert!(!argv.contains("blob upload"), "{argv}");

    let o = h.run("risk3", &["submit", "dated.jsonl", "s.csv", "market.json"]);
    assert!(o.status.success(), "submit: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("uploading"), "{}", text(&o.stderr));
    for (file, blob, body) in files {
        let got = root.join(format!("{file}.down"));
        h.env.az(&[
            "storage",
            "blob",
            "download",
            "--container-name",
            "work",
            "--name",
            blob,
            "--file",
            got.to_str().unwrap(),
            "--no-progress",
            "--only-show-errors",
        ]);
        assert_eq!(std::fs::read_to_string(&got).unwrap(), body, "{blob}");
    }
    assert_eq!(
        h.rec.calls_since(0),
        vec![
            "POST /jobs",
            "POST /jobs/risk3/addtaskcollection",
            "PATCH /jobs/risk3",
        ]
    );
    // The shard task that arrived reads the market.
    let sent = h.rec.requests()[1].body["value"].clone();
    let shard = sent
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "0")
        .unwrap();
    let cmd = shard["commandLine"].as_str().unwrap();
    assert!(cmd.contains("--market market.json"), "{cmd}");

    // A market file for a job made without --market, whose tasks would
    // not read it, is refused before anything is sent.
    h.job(
        "risk4",
        &[
            "--kind",
            "risk",
            "--book",
            "books/dated.jsonl",
            "--scenarios",
            "scen/s.csv",
            "--trades",
            "1",
            "--tasks",
            "1",
        ],
    );
    let n = h.rec.requests().len();
    let o = h.run("risk4", &["submit", "dated.jsonl", "s.csv", "market.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("job risk4 was made without --market"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(h.rec.requests().len(), n);
}
