//! The job riskpool-image writes, run here as Batch runs it: each task in
//! its own working directory under a node root laid out as Batch lays it out
//! (`workitems/JOB/job-1/TASK/wd`, stdout.txt and stderr.txt beside `wd`),
//! its `resourceFiles` fetched from a folder standing in for the blob
//! container, its command run by `/bin/sh` as Batch runs it (no shell of its
//! own), its `outputFiles` uploaded back by their patterns and upload
//! conditions. The price tasks run in shuffled order, one of them killed
//! mid-run and rerun in the same folder. Two jobs share the container, the
//! second pricing an existing book; each job's results hold exactly its
//! book's rows, with the prices one run over the whole book gives.
//!
//! A risk job (--kind risk) runs the same way: its shard tasks shuffled,
//! one killed and rerun, then the merge, whose P&L equals one unsharded run.
//!
//! The runner is target/release/riskpool (scripts/test builds it first).

#[allow(dead_code)]
use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const IDENTITY: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/riskpool";
const URL: &str = "https://acct.blob.core.windows.net/work";

/// A node and a blob container on local disk.
struct Batch {
    blobs: PathBuf,
    node: PathBuf,
    path: std::ffi::OsString,
    /// Whether this runner's concat has `--expect` (added on another branch).
    expect: bool,
}

impl Batch {
    fn new(root: &Path) -> Batch {
        let runner = common::runner();
        let bin = runner.parent().unwrap().to_path_buf();
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let help = Command::new(&runner)
            .args(["concat", "--help"])
            .output()
            .unwrap();
        let expect = String::from_utf8_lossy(&help.stdout).contains("--expect");
        if !expect {
            eprintln!("NOTE: this riskpool's concat has no --expect yet: the concat task runs without it, and the count is checked here instead");
        }
        let b = Batch {
            blobs: root.join("blobs"),
            node: root.join("node"),
            path: std::env::join_paths(paths).unwrap(),
            expect,
        };
        std::fs::create_dir_all(&b.blobs).unwrap();
        std::fs::create_dir_all(b.node.join("shared")).unwrap();
        b
    }

    fn blob(&self, url: &str) -> PathBuf {
        let name = url
            .strip_prefix(URL)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or_else(|| panic!("{url} is not in {URL}"));
        self.blobs.join(name)
    }

    /// Every blob name under the container, sorted.
    fn blob_names(&self) -> Vec<String> {
        fn walk(d: &Path, base: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.blobs, &self.blobs, &mut v);
        v.sort();
        v
    }

    fn task_dir(&self, job: &str, task: &str) -> PathBuf {
        self.node
            .join("workitems")
            .join(job)
            .join("job-1")
            .join(task)
    }

    /// Downloads the task's resource files into its working directory.
    fn fetch(&self, task: &Value, wd: &Path) {
        for r in task["resourceFiles"].as_array().into_iter().flatten() {
            assert_eq!(r["identityReference"]["resourceId"], IDENTITY);
            if let Some(url) = r["httpUrl"].as_str() {
                let to = wd.join(r["filePath"].as_str().unwrap());
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(self.blob(url), &to).unwrap_or_else(|e| panic!("{url}: {e}"));
            } else {
                assert_eq!(r["storageContainerUrl"], URL);
                let prefix = r["blobPrefix"].as_str().unwrap();
                let into = wd.join(r["filePath"].as_str().unwrap_or(""));
                for name in self
                    .blob_names()
                    .into_iter()
                    .filter(|n| n.starts_with(prefix))
                {
                    let to = into.join(&name);
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    std::fs::copy(self.blobs.join(&name), to).unwrap();
                }
            }
        }
    }

    /// Uploads the task's output files whose condition holds.
    fn upload(&self, task: &Value, wd: &Path, success: bool) {
        for o in task["outputFiles"].as_array().into_iter().flatten() {
            let when = o["uploadOptions"]["uploadCondition"].as_str().unwrap();
            if when == "tasksuccess" && !success || when == "taskfailure" && success {
                continue;
            }
            let c = &o["destination"]["container"];
            assert_eq!(c["containerUrl"], URL);
            assert_eq!(c["identityReference"]["resourceId"], IDENTITY);
            let path = c["path"].as_str().unwrap();
            let pattern = o["filePattern"].as_str().unwrap();
            let put = |from: &Path, name: &str| {
                let to = self.blobs.join(name);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(from, to).unwrap();
            };
            match pattern
                .rsplit_once('/')
                .map_or(("", pattern), |(d, f)| (d, f))
            {
                (dir, file) if file.contains('*') => {
                    // A virtual folder: each match under its own file name.
                    let (pre, post) = file.split_once('*').unwrap();
                    let d = wd.join(dir);
                    for e in std::fs::read_dir(&d).unwrap() {
                        let name = e.unwrap().file_name().to_string_lossy().into_owned();
                        if name.starts_with(pre)
                            && name.ends_with(post)
                            && name.len() >= pre.len() + post.len()
                        {
                            put(&d.join(&name), &format!("{path}/{name}"));
                        }
                    }
                }
                _ => {
                    let f = wd.join(pattern);
                    assert!(
                        f.is_file(),
                        "{}: {pattern} missing after success",
                        task["id"]
                    );
                    put(&f, path);
                }
            }
        }
    }

    /// The task's command as Batch starts it, in a process group of its own.
    fn start(&self, job: &str, task: &Value) -> (std::process::Child, PathBuf) {
        let id = task["id"].as_str().unwrap();
        let dir = self.task_dir(job, id);
        let wd = dir.join("wd");
        std::fs::create_dir_all(&wd).unwrap();
        self.fetch(task, &wd);
        let mut line = task["commandLine"].as_str().unwrap().to_string();
        if !self.expect {
            let n = line
                .split("--expect ")
                .nth(1)
                .map(|r| r.split(' ').next().unwrap().to_string());
            if let Some(n) = n {
                line = line.replace(&format!("--expect {n} "), "");
            }
        }
        use std::os::unix::process::CommandExt;
        let child = Command::new("/bin/sh")
            .process_group(0)
            .arg("-c")
            .arg(&line)
            .current_dir(&wd)
            .env("PATH", &self.path)
            .env_remove("AZ_BATCH_NODE_ID")
            .env("AZ_BATCH_TASK_WORKING_DIR", &wd)
            .env("AZ_BATCH_TASK_DIR", &dir)
            .env("AZ_BATCH_TASK_ID", id)
            .env("AZ_BATCH_JOB_ID", job)
            .env("AZ_BATCH_NODE_SHARED_DIR", self.node.join("shared"))
            .env("AZ_BATCH_NODE_ROOT_DIR", &self.node)
            .stdout(std::fs::File::create(dir.join("stdout.txt")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
            .spawn()
            .unwrap();
        (child, wd)
    }

    /// Runs a task to its end; its exit code.
    fn run(&self, job: &str, task: &Value) -> i32 {
        let (mut child, wd) = self.start(job, task);
        let status = child.wait().unwrap();
        self.upload(task, &wd, status.success());
        status.code().unwrap_or(-1)
    }

    fn stderr(&self, job: &str, task: &str) -> String {
        std::fs::read_to_string(self.task_dir(job, task).join("stderr.txt")).unwrap()
    }
}

fn make_job(dir: &Path, id: &str, extra: &[&str]) -> Vec<Value> {
    let mut a = vec![
        "batch",
        "job",
        "--id",
        id,
        "--pool-id",
        "cpu",
        "--storage-url",
        URL,
        "--identity",
        IDENTITY,
        "--output-dir",
        dir.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    let o = Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .args(&a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut tasks = Vec::new();
    for i in 0.. {
        let f = dir.join(format!("tasks-{i:04}.json"));
        if !f.exists() {
            break;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        tasks.extend(v.as_array().unwrap().iter().cloned());
    }
    tasks
}

/// tradenum -> "pv,stderr" of an azfinsim results file; no trade twice.
fn table(path: &Path) -> BTreeMap<u64, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("tradenum,pv,pv_time,pv_stderr"),
        "{}",
        path.display()
    );
    let mut m = BTreeMap::new();
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        let prev = m.insert(c[0].parse().unwrap(), format!("{},{}", c[1], c[3]));
        assert!(prev.is_none(), "{}: trade {} twice", path.display(), c[0]);
    }
    m
}

/// A small shuffle, seeded from the clock and printed, so a failure can be replayed.
fn shuffle<T>(v: &mut [T]) -> u64 {
    let seed = std::env::var("RISKPOOL_SHUFFLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    seed
}

/// Runs a whole job: the first tasks in order, the price tasks shuffled with
/// one killed and rerun, concat last; checks the results against one run.
fn run_job(b: &Batch, job: &str, tasks: &[Value], book: &Path, trades: u64) {
    let price: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["id"].as_str().unwrap().parse::<u64>().is_ok())
        .collect();
    let first: Vec<&Value> = tasks
        .iter()
        .take_while(|t| t["id"].as_str().unwrap().parse::<u64>().is_err())
        .collect();
    for t in &first {
        assert_eq!(
            b.run(job, t),
            0,
            "{job}/{}: {}",
            t["id"],
            b.stderr(job, t["id"].as_str().unwrap())
        );
    }
    let mut order = price.clone();
    let seed = shuffle(&mut order);
    eprintln!("{job}: price tasks in the order of seed {seed} (RISKPOOL_SHUFFLE_SEED)");
    for (i, t) in order.iter().enumerate() {
        let id = t["id"].as_str().unwrap();
        if i == 0 {
            // Pre-empted: killed mid-run, nothing uploaded, rerun in the same folder.
            let (mut child, wd) = b.start(job, t);
            std::thread::sleep(std::time::Duration::from_millis(40));
            // The whole process group, as a node going away takes every process.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let status = child.wait().unwrap();
            // The shell is reaped; its riskpool may still be dying (and
            // holding its output's lock) on a loaded machine. A node that
            // went away has no such process: wait until the group is gone.
            let t0 = std::time::Instant::now();
            while Command::new("kill")
                .args(["-0", "--", &format!("-{}", child.id())])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                assert!(
                    t0.elapsed().as_secs() < 10,
                    "the killed task's processes live on"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            b.upload(t, &wd, status.success());
        }
        assert_eq!(b.run(job, t), 0, "{job}/{id}: {}", b.stderr(job, id));
    }
    // Each price task's summary was uploaded with its results (issue 22
    // item 21), under the job's summaries/, apart from the parts concat reads.
    for t in &price {
        let id = t["id"].as_str().unwrap();
        let f = b
            .blobs
            .join(job)
            .join("summaries")
            .join(format!("trades.{id}.results.csv.summary.json"));
        let text = std::fs::read_to_string(&f)
            .unwrap_or_else(|e| panic!("{job}/{id}: no summary uploaded ({e})"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.is_object(), "{job}/{id}: {text}");
    }
    let concat = tasks.last().unwrap();
    assert_eq!(concat["id"], "concat");
    assert_eq!(
        b.run(job, concat),
        0,
        "{job}/concat: {}",
        b.stderr(job, "concat")
    );
    let results = table(&b.blobs.join(job).join("results.csv"));
    assert_eq!(results.len() as u64, trades, "{job}: rows");
    // The prices one run over the whole book gives.
    let whole = b.node.join(format!("{job}-whole.results.csv"));
    let o = Command::new(common::runner())
        .args(["price", "--input"])
        .arg(book)
        .arg("--output")
        .arg(&whole)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        table(&whole),
        results,
        "{job}: prices differ from one run over the book"
    );
    // Logs of every task, success or not.
    for t in tasks {
        let id = t["id"].as_str().unwrap();
        assert!(
            b.blobs
                .join(job)
                .join("logs")
                .join(id)
                .join("stderr.txt")
                .is_file(),
            "{job}/{id}: no log uploaded"
        );
    }
}

#[test]
fn two_jobs_run_as_batch_runs_them_and_keep_to_themselves() {
    let d = tempfile::tempdir().unwrap();
    let b = Batch::new(d.path());

    // Job run1 generates 300 trades and prices them in 5 tasks.
    let ta = make_job(
        &d.path().join("a"),
        "run1",
        &["--trades", "300", "--tasks", "5", "--seed", "3"],
    );
    assert_eq!(ta.len(), 2 + 5 + 1);
    run_job(&b, "run1", &ta, &b.blobs.join("run1/trades.csv"), 300);

    // Job run10 (its id extends run1's) prices an existing book of 300
    // trades in 2 tasks, in the same container after run1 (the overlap that
    // once doubled rows: a glob over a shared folder took run1's parts too).
    let book = b.blobs.join("books/book.csv");
    std::fs::create_dir_all(book.parent().unwrap()).unwrap();
    let o = Command::new(common::runner())
        .args(["generate", "--trades", "300", "--seed", "9", "--output"])
        .arg(&book)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    let tb = make_job(
        &d.path().join("b"),
        "run10",
        &[
            "--trades",
            "300",
            "--tasks",
            "2",
            "--book",
            "books/book.csv",
        ],
    );
    assert_eq!(tb[0]["id"], "split");
    run_job(&b, "run10", &tb, &book, 300);

    // Every blob a job wrote is under its id.
    let names = b.blob_names();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("run1/") || n.starts_with("run10/") || n == "books/book.csv"),
        "{names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("run1/results/"))
            .count(),
        5
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("run10/results/"))
            .count(),
        2
    );

    // A job made for another count than the book holds stops at split, exit 2.
    let tc = make_job(
        &d.path().join("c"),
        "run2",
        &[
            "--trades",
            "301",
            "--tasks",
            "2",
            "--book",
            "books/book.csv",
        ],
    );
    assert_eq!(b.run("run2", &tc[0]), 2);
    let err = b.stderr("run2", "split");
    assert!(
        err.contains("books/book.csv holds 300 trades, the job was made for 301"),
        "{err}"
    );
    assert!(
        !b.blobs.join("run2/parts").exists(),
        "a failed split uploaded parts"
    );

    // concat --expect: one part too many or too few is refused.
    if b.expect {
        let parts: Vec<PathBuf> = (0..5)
            .map(|k| b.blobs.join(format!("run1/results/trades.{k}.results.csv")))
            .collect();
        let out = d.path().join("x.csv");
        let concat = |files: &[PathBuf]| {
            Command::new(common::runner())
                .args(["concat", "--expect", "5", "--output"])
                .arg(&out)
                .args(files)
                .output()
                .unwrap()
        };
        let mut more = parts.clone();
        more.push(b.blobs.join("run10/results/trades.0.results.csv"));
        assert_eq!(concat(&more).status.code(), Some(2));
        assert_eq!(concat(&parts[..4]).status.code(), Some(2));
        assert!(!out.exists());
        assert!(concat(&parts).status.success());
    } else {
        eprintln!("NOTE: concat --expect refusals not checked: this riskpool has no --expect yet");
    }
}

/// A book of `n` European options on three named underlyings (one trade in
/// five names none), as portfolio JSON Lines.
fn risk_book(n: usize) -> String {
    let names = ["SPX", "EURUSD", "GOLD"];
    (0..n)
        .map(|i| {
            let u = if i % 5 == 4 {
                String::new()
            } else {
                format!(r#", "underlying": "{}""#, names[i % 3])
            };
            format!(
                r#"{{"id": "t{i}", "model": {{"type": "gbm", "spot": 100, "rate": 0.02, "vol": {}{u}}}, "payoff": {{"type": "european", "option": "{}", "strike": {}}}, "maturity": 1, "steps": 1, "paths": 4000}}"#,
                0.15 + 0.01 * (i % 7) as f64,
                if i % 2 == 0 { "call" } else { "put" },
                90 + i % 20
            ) + "\n"
        })
        .collect()
}

/// Runs a risk job's graph as Batch runs it: the shard tasks in shuffled
/// order, the first killed mid-run and rerun in the same folder, then the
/// merge. Every task must succeed.
fn run_risk_job(b: &Batch, job: &str, tasks: &[Value]) {
    let merge = tasks.last().unwrap();
    assert_eq!(merge["id"], "merge");
    let mut order: Vec<&Value> = tasks[..tasks.len() - 1].iter().collect();
    let seed = shuffle(&mut order);
    eprintln!("{job}: shard tasks in the order of seed {seed} (RISKPOOL_SHUFFLE_SEED)");
    for (i, t) in order.iter().enumerate() {
        let id = t["id"].as_str().unwrap();
        if i == 0 {
            let (mut child, wd) = b.start(job, t);
            std::thread::sleep(std::time::Duration::from_millis(40));
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let status = child.wait().unwrap();
            let t0 = std::time::Instant::now();
            while Command::new("kill")
                .args(["-0", "--", &format!("-{}", child.id())])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                assert!(t0.elapsed().as_secs() < 10, "the killed task lives on");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            b.upload(t, &wd, status.success());
        }
        assert_eq!(b.run(job, t), 0, "{job}/{id}: {}", b.stderr(job, id));
    }
    assert_eq!(
        b.run(job, merge),
        0,
        "{job}/merge: {}",
        b.stderr(job, "merge")
    );
}

#[test]
fn a_risk_job_runs_as_batch_runs_it_and_equals_one_run() {
    let d = tempfile::tempdir().unwrap();
    let b = Batch::new(d.path());
    let book = b.blobs.join("books/book.jsonl");
    let scen = b.blobs.join("scen/s.csv");
    std::fs::create_dir_all(book.parent().unwrap()).unwrap();
    std::fs::create_dir_all(scen.parent().unwrap()).unwrap();
    std::fs::write(&book, risk_book(40)).unwrap();
    let mut s = String::from("scenario,underlying,spot,vol,rate\n");
    for k in 0..12 {
        let x = (k as f64 - 5.5) / 50.0;
        s += &format!(
            "d{k},SPX,{x},{},\nd{k},EURUSD,{},,{}\n",
            -x / 2.0,
            -x,
            x / 10.0
        );
    }
    std::fs::write(&scen, s).unwrap();
    let tasks = make_job(
        &d.path().join("r"),
        "risk1",
        &[
            "--kind",
            "risk",
            "--trades",
            "40",
            "--tasks",
            "3",
            "--seed",
            "5",
            "--book",
            "books/book.jsonl",
            "--scenarios",
            "scen/s.csv",
        ],
    );
    assert_eq!(tasks.len(), 3 + 1);
    run_risk_job(&b, "risk1", &tasks);
    for f in [
        "pnl.csv",
        "pnl.csv.summary.json",
        "by-trade.csv",
        "risk.html",
    ] {
        assert!(b.blobs.join("risk1").join(f).is_file(), "{f} not uploaded");
    }
    // One unsharded run of the same book and scenarios: the same bytes.
    let whole = b.node.join("whole.csv");
    let o = Command::new(common::runner())
        .args(["risk", "--seed", "5", "--input"])
        .arg(&book)
        .arg("--scenarios")
        .arg(&scen)
        .arg("--output")
        .arg(&whole)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(b.blobs.join("risk1/pnl.csv")).unwrap(),
        "the merged P&L differs from one run over the book"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(b.blobs.join("risk1/pnl.csv.summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["trades"], 40);
    assert_eq!(summary["scenarios"], 12);
    assert_eq!(summary["shards"], 3);
    assert_eq!(summary["unnamed_trades"], 8);
    // GOLD is in no scenario: its trades and the unnamed ones do not move.
    assert_eq!(summary["unmoved_trades"], 8 + 11);
}

/// A market file (docs/formats.md, "Market file and dated trades"): USD
/// curves, SPX on a flat vol with a dividend yield, SX5E with Heston
/// parameters.
const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04", "2031-12-04"], "zero_rates": [0.041, 0.038, 0.035]}},
 "underlyings": {
   "SPX": {"spot": 6000, "currency": "USD",
           "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.013]},
           "vol": {"flat": 0.2}},
   "SX5E": {"spot": 5000, "currency": "USD", "vol": {"flat": 0.18},
            "heston": {"v0": 0.04, "kappa": 1.5, "theta": 0.045, "xi": 0.5, "rho": -0.7}}},
 "correlations": [{"a": "SPX", "b": "SX5E", "rho": 0.7}]}
"#;

/// A book of `n` dated trades on the market's underlyings (Europeans and
/// digitals, black and heston), with an inline trade in every six.
fn dated_book(n: usize) -> String {
    let expiries = ["2027-06-04", "2027-12-04", "2028-06-04", "2029-12-04"];
    (0..n)
        .map(|i| {
            if i % 6 == 5 {
                return format!(
                    r#"{{"id": "inline{i}", "model": {{"type": "gbm", "spot": 100, "rate": 0.02, "vol": 0.2, "underlying": "GOLD"}}, "payoff": {{"type": "european", "option": "call", "strike": 100}}, "maturity": 1, "steps": 1, "paths": 2000}}"#
                ) + "\n";
            }
            let (u, spot, model) = if i % 2 == 0 {
                ("SPX", 6000, "black")
            } else {
                ("SX5E", 5000, "heston")
            };
            let option = if i % 4 < 2 { "call" } else { "put" };
            let strike = spot * (90 + (i % 5) * 5) / 100;
            let payoff = if i % 3 == 0 {
                format!(
                    r#"{{"type": "digital", "option": "{option}", "strike": {strike}, "cash": 100}}"#
                )
            } else {
                format!(r#"{{"type": "european", "option": "{option}", "strike": {strike}}}"#)
            };
            format!(
                r#"{{"id": "d{i}", "underlying": "{u}", "model": "{model}", "payoff": {payoff}, "expiry": "{}", "steps_per_year": 12, "paths": 3000}}"#,
                expiries[i % 4]
            ) + "\n"
        })
        .collect()
}

/// A risk job on a book of dated trades, made with `--market`: each shard
/// task fetches the market file and revalues through it, and the merged
/// figures equal one local `riskpool risk --market` run byte for byte. The
/// same job made without `--market` stops at its first shard, exit 2
/// naming the flag.
#[test]
fn a_risk_job_on_dated_trades_takes_its_market_and_equals_one_run() {
    let d = tempfile::tempdir().unwrap();
    let b = Batch::new(d.path());
    let (book, scen, market) = (
        b.blobs.join("books/dated.jsonl"),
        b.blobs.join("scen/s.csv"),
        b.blobs.join("markets/2026-12-04.json"),
    );
    for f in [&book, &scen, &market] {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    }
    std::fs::write(&book, dated_book(30)).unwrap();
    std::fs::write(&market, MARKET).unwrap();
    let mut s = String::from("scenario,underlying,spot,vol,rate\n");
    for k in 0..8 {
        let x = (k as f64 - 3.5) / 40.0;
        s += &format!(
            "m{k},SPX,{x},{},{}\nm{k},SX5E,{},,{}\n",
            -x / 2.0,
            x / 20.0,
            -x,
            x / 20.0
        );
    }
    std::fs::write(&scen, s).unwrap();
    let args = [
        "--kind",
        "risk",
        "--trades",
        "30",
        "--tasks",
        "3",
        "--seed",
        "11",
        "--book",
        "books/dated.jsonl",
        "--scenarios",
        "scen/s.csv",
    ];
    let mut with_market = args.to_vec();
    with_market.extend(["--market", "markets/2026-12-04.json"]);
    let tasks = make_job(&d.path().join("m"), "dated1", &with_market);
    assert_eq!(tasks.len(), 3 + 1);
    run_risk_job(&b, "dated1", &tasks);
    // Each shard had the market as a file of its own working directory.
    for k in 0..3 {
        let got = b.task_dir("dated1", &k.to_string()).join("wd/market.json");
        assert_eq!(std::fs::read(got).unwrap(), MARKET.as_bytes());
    }

    // One unsharded run of the same book, scenarios and market.
    let (whole, whole_by_trade) = (b.node.join("whole.csv"), b.node.join("whole-by-trade.csv"));
    let o = Command::new(common::runner())
        .args(["risk", "--seed", "11", "--input"])
        .arg(&book)
        .arg("--scenarios")
        .arg(&scen)
        .arg("--market")
        .arg(&market)
        .arg("--output")
        .arg(&whole)
        .arg("--by-trade")
        .arg(&whole_by_trade)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (local, merged) in [(&whole, "pnl.csv"), (&whole_by_trade, "by-trade.csv")] {
        assert_eq!(
            std::fs::read_to_string(local).unwrap(),
            std::fs::read_to_string(b.blobs.join("dated1").join(merged)).unwrap(),
            "{merged}: the job's differs from one local run"
        );
    }
    let pnl = std::fs::read_to_string(&whole).unwrap();
    assert_eq!(pnl.lines().count(), 1 + 8, "{pnl}");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(b.blobs.join("dated1/pnl.csv.summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["trades"], 30);
    assert_eq!(summary["shards"], 3);
    // GOLD, the inline trades' underlying, is in no scenario.
    assert_eq!(summary["unmoved_trades"], 5);

    // Without --market the dated trades cannot be priced: the first shard
    // stops, naming the flag, and uploads no part.
    let tasks = make_job(&d.path().join("n"), "dated2", &args);
    assert_eq!(b.run("dated2", &tasks[0]), 2);
    let err = b.stderr("dated2", "0");
    assert!(err.contains("give --market FILE"), "{err}");
    assert!(!b.blobs.join("dated2/risk-parts").exists());
}
