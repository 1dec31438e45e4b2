//! Batch pool and job JSON: what riskpool-image writes passes the REST API
//! definitions in `imagebuild/batch-api/` (the management plane's `Pool` and the
//! data plane's bodies), each documented service rule refuses its bad value
//! with exit 2 naming the field, and bodies broken in each way the checker
//! knows are refused with their path.

use std::path::{Path, PathBuf};
use std::process::Command;

use riskpool_imagebuild::schema::Definitions;
use serde_json::{json, Value};

/// A file of `imagebuild/batch-api/`, the API definitions the crate carries.
fn batch_api(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("batch-api")
        .join(name)
}

fn schema() -> PathBuf {
    batch_api("BatchService-2024-07-01.20.0.definitions.json")
}

fn management() -> PathBuf {
    batch_api("BatchManagement-2024-07-01.pool-definitions.json")
}

fn image(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .args(args)
        .output()
        .unwrap()
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const IDENTITY: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/riskpool";
const GALLERY: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/riskpool/versions/1.0.0";
const ACR: &str = "myacr.azurecr.io";

/// Every string in a body, for scans such as "no --gpus anywhere".
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

fn no_gpus_flag(v: &Value) {
    let mut s = Vec::new();
    strings(v, &mut s);
    assert!(!s.iter().any(|x| x.contains("--gpus")), "--gpus in {v}");
}

#[test]
fn generated_pools_pass_the_management_definitions() {
    let m = management();
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        // A GPU container pool, images from ACR through the pool's managed identity, spot nodes.
        vec![
            "--id",
            "gpu",
            "--vm-size",
            "Standard_NC24ads_A100_v4",
            "--image",
            "myacr.azurecr.io/riskpool:cuda",
            "--registry",
            ACR,
            "--identity",
            IDENTITY,
            "--dedicated",
            "2",
            "--spot",
            "8",
        ],
        // A CPU container pool, 64 tasks a node.
        vec![
            "--id",
            "cpu",
            "--vm-size",
            "Standard_D16s_v5",
            "--image",
            "myacr.azurecr.io/riskpool:cpu",
            "--registry",
            ACR,
            "--identity",
            IDENTITY,
            "--dedicated",
            "4",
            "--task-slots",
            "64",
        ],
        // An 8-GPU node shared by 8 tasks, autoscaled spot nodes.
        vec![
            "--id",
            "nd",
            "--vm-size",
            "Standard_ND96isr_H100_v5",
            "--image",
            "myacr.azurecr.io/riskpool:cuda",
            "--registry",
            ACR,
            "--identity",
            IDENTITY,
            "--task-slots",
            "8",
            "--autoscale",
            "$TargetLowPriorityNodes = min(10, $PendingTasks.GetSample(1) / 8);",
            "--autoscale-interval",
            "PT15M",
        ],
        // A custom-image pool from a gallery, with the identity its tasks move files with.
        vec![
            "--id",
            "vm",
            "--vm-size",
            "Standard_D16s_v5",
            "--gallery-image",
            GALLERY,
            "--identity",
            IDENTITY,
            "--dedicated",
            "4",
        ],
    ];
    for (i, c) in cases.iter().enumerate() {
        let out = d.path().join(format!("pool{i}.json"));
        let arm = d.path().join(format!("pool{i}.arm.json"));
        let mut args = vec![
            "batch",
            "pool",
            "--output",
            out.to_str().unwrap(),
            "--arm-template",
            arm.to_str().unwrap(),
        ];
        // Half the cases name the definitions file, half use the embedded
        // one: both check the same body.
        if i % 2 == 0 {
            args.extend(["--schema", m.to_str().unwrap()]);
        }
        args.extend(c.iter().copied());
        let o = image(&args);
        assert!(
            o.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("az rest --method put --url \"https://management.azure.com/subscriptions/$SUBSCRIPTION/resourceGroups/$RESOURCE_GROUP/providers/Microsoft.Batch/batchAccounts/$BATCH_ACCOUNT/pools/{}?api-version=2024-07-01\" --body @{}", c[1], out.display())),
            "{err}"
        );
        let body = read(&out);
        assert_eq!(body["properties"]["vmSize"], c[3]);
        assert_eq!(body["identity"]["type"], "UserAssigned");
        assert_eq!(
            body["identity"]["userAssignedIdentities"][IDENTITY],
            json!({})
        );
        no_gpus_flag(&body);
        // The ARM template carries the same pool.
        let t = read(&arm);
        assert_eq!(
            t["resources"][0]["type"],
            "Microsoft.Batch/batchAccounts/pools"
        );
        assert_eq!(t["resources"][0]["properties"], body["properties"]);
        assert_eq!(t["resources"][0]["identity"], body["identity"]);
        // Spot: the allocation mode is named.
        if c.contains(&"--spot") || c.contains(&"--autoscale") {
            assert!(
                err.contains("UserSubscription pool allocation mode"),
                "{err}"
            );
        }
    }
    let p = read(&d.path().join("pool0.json"));
    let vm = &p["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"];
    let cc = &vm["containerConfiguration"];
    assert_eq!(cc["type"], "DockerCompatible");
    assert_eq!(
        cc["containerImageNames"][0],
        "myacr.azurecr.io/riskpool:cuda"
    );
    assert_eq!(
        cc["containerRegistries"][0]["identityReference"]["resourceId"],
        IDENTITY
    );
    assert!(
        cc["containerRegistries"][0].get("password").is_none(),
        "no secret in the pool"
    );
    assert_eq!(vm["imageReference"]["sku"], "2204");
    assert_eq!(
        p["properties"]["scaleSettings"]["fixedScale"],
        json!({"targetDedicatedNodes": 2, "targetLowPriorityNodes": 8})
    );
    let nd = read(&d.path().join("pool2.json"));
    assert_eq!(
        nd["properties"]["scaleSettings"]["autoScale"]["evaluationInterval"],
        "PT15M"
    );
    let custom = read(&d.path().join("pool3.json"));
    assert_eq!(
        custom["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
            ["imageReference"],
        json!({"id": GALLERY})
    );

    // Microsoft's own example bodies pass the same check (allOf, maps of identities).
    let defs = Definitions::load(&m).unwrap();
    for ex in [
        "PoolCreate_UserAssignedIdentities.json",
        "PoolCreate_SharedImageGallery.json",
    ] {
        let e = read(&batch_api(&format!("examples/{ex}")));
        let errs = defs.check("Pool", &e["parameters"]["parameters"], "pool");
        assert!(errs.is_empty(), "{ex}: {errs:?}");
    }
}

#[test]
fn data_plane_pools_are_for_pools_without_an_identity() {
    let s = schema();
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "--id",
            "cpu",
            "--vm-size",
            "Standard_D16s_v5",
            "--image",
            "myacr.azurecr.io/riskpool:cpu",
            "--registry",
            ACR,
            "--dedicated",
            "2",
        ],
        vec![
            "--id",
            "vm",
            "--vm-size",
            "Standard_NC24ads_A100_v4",
            "--gallery-image",
            GALLERY,
            "--autoscale",
            "$TargetDedicatedNodes = 1;",
        ],
    ];
    for (i, c) in cases.iter().enumerate() {
        let out = d.path().join(format!("pool{i}.json"));
        let mut args = vec![
            "batch",
            "pool",
            "--plane",
            "data",
            "--schema",
            s.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend(c.iter().copied());
        let o = image(&args);
        assert!(
            o.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!(
            "az batch pool create --json-file {}",
            out.display()
        )));
        let body = read(&out);
        assert_eq!(body["id"], c[1]);
        assert!(body.get("identity").is_none());
        no_gpus_flag(&body);
    }
    assert_eq!(
        read(&d.path().join("pool1.json"))["virtualMachineConfiguration"]["imageReference"],
        json!({"virtualMachineImageId": GALLERY})
    );
    // A data-plane body cannot carry the identity: refused, nothing written.
    let out = d.path().join("refused.json");
    let o = image(&[
        "batch",
        "pool",
        "--plane",
        "data",
        "--output",
        out.to_str().unwrap(),
        "--id",
        "p",
        "--vm-size",
        "Standard_D2s_v5",
        "--image",
        "myacr.azurecr.io/riskpool:cpu",
        "--registry",
        ACR,
        "--identity",
        IDENTITY,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("--identity: a data-plane pool (Pool_Add) cannot have a managed identity"));
    assert!(!out.exists());
}

#[test]
fn each_pool_rule_refuses_its_bad_value_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("pool.json");
    let base = [
        "--id",
        "gpu",
        "--vm-size",
        "Standard_NC24ads_A100_v4",
        "--image",
        "myacr.azurecr.io/riskpool:cuda",
        "--registry",
        ACR,
        "--identity",
        IDENTITY,
    ];
    let set = |flag: &str, value: &str| -> Vec<String> {
        let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        match v.iter().position(|a| a == flag) {
            Some(i) => v[i + 1] = value.to_string(),
            None => v.extend([flag.to_string(), value.to_string()]),
        }
        v
    };
    let long = "p".repeat(65);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (set("--id", "my pool!"), "--id (id): `my pool!` is not a Batch id"),
        (set("--id", &long), "--id (id)"),
        (set("--task-slots", "0"), "--task-slots (taskSlotsPerNode): 0 is outside"),
        (set("--task-slots", "100000"), "--task-slots (taskSlotsPerNode): 100000 is outside"),
        // 4 a vCPU: a 24-vCPU size takes at most 96.
        (set("--task-slots", "97"), "1 to 96 on Standard_NC24ads_A100_v4"),
        ([set("--autoscale", "$TargetDedicatedNodes = 1;"), vec!["--autoscale-interval".into(), "PT1M".into()]].concat(),
         "--autoscale-interval (autoScaleEvaluationInterval): `PT1M` is outside 5 minutes"),
        ([set("--autoscale", "$TargetDedicatedNodes = 1;"), vec!["--autoscale-interval".into(), "every minute".into()]].concat(),
         "is not an ISO 8601 duration"),
        (set("--identity", "notaresourceid"), "--identity (identity.userAssignedIdentities): `notaresourceid`"),
        (set("--vm-size", "not a size!"), "--vm-size (vmSize): `not a size!`"),
        (set("--image", "otheracr.azurecr.io/riskpool:cuda"), "--image (containerImageNames): `otheracr.azurecr.io/riskpool:cuda` is not in the registry `myacr.azurecr.io`"),
        (set("--image", "riskpool:cuda"), "--image (containerImageNames)"),
        (set("--low-priority", "8"), "--low-priority 8: Batch-managed accounts' low-priority VMs were retired on 2025-09-30; use --spot 8"),
        (set("--account-id", "/subscriptions/x/batchAccounts/a"), "--account-id"),
    ];
    for (args, want) in &cases {
        let mut a: Vec<&str> = vec!["batch", "pool", "--output", out.to_str().unwrap()];
        a.extend(args.iter().map(String::as_str));
        let o = image(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: wanted `{want}` in {err}");
        assert!(!out.exists(), "{args:?}: a refused pool was written");
    }
    // The gallery image's shape too.
    let o = image(&[
        "batch",
        "pool",
        "--id",
        "vm",
        "--vm-size",
        "Standard_D4s_v5",
        "--gallery-image",
        "/subscriptions/x/images/y",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--gallery-image (imageReference.id)"));
}

fn job_args<'a>(dir: &'a str, id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
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
        dir,
    ];
    a.extend_from_slice(extra);
    a
}

/// Every task of a job folder, in file order.
fn job_tasks(dir: &Path) -> Vec<Value> {
    let mut tasks = Vec::new();
    for i in 0.. {
        let f = dir.join(format!("tasks-{i:04}.json"));
        if !f.exists() {
            break;
        }
        let c = read(&f);
        let v = c
            .as_array()
            .expect("a bare list, as az batch task create --json-file takes");
        assert!(!v.is_empty() && v.len() <= 100);
        tasks.extend(v.iter().cloned());
    }
    tasks
}

#[test]
fn generated_jobs_pass_and_form_the_task_graph() {
    let d = tempfile::tempdir().unwrap();
    let s = schema();
    let dir = d.path().join("j");
    let o = image(&job_args(
        dir.to_str().unwrap(),
        "j",
        &[
            "--trades",
            "1000000",
            "--tasks",
            "250",
            "--schema",
            s.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let job = read(&dir.join("job.json"));
    assert_eq!(job["usesTaskDependencies"], true);
    // Created with noaction; terminatejob only once the tasks are in.
    assert_eq!(job["onAllTasksComplete"], "noaction");
    assert_eq!(
        read(&dir.join("job-terminate.json")),
        json!({"onAllTasksComplete": "terminatejob"})
    );
    let script = std::fs::read_to_string(dir.join("run.sh")).unwrap();
    let create = script.find("az batch task create").unwrap();
    let set = script.find("--on-all-tasks-complete terminatejob").unwrap();
    assert!(create < set, "terminatejob must come after the tasks");
    let sh = Command::new("sh")
        .arg("-n")
        .arg(dir.join("run.sh"))
        .output()
        .unwrap();
    assert!(
        sh.status.success(),
        "run.sh: {}",
        String::from_utf8_lossy(&sh.stderr)
    );

    let tasks = job_tasks(&dir);
    assert!(!dir.join("tasks-0003.json").exists());
    assert_eq!(tasks.len(), 2 + 250 + 1);
    assert_eq!(tasks[0]["id"], "generate");
    assert_eq!(tasks[1]["dependsOn"]["taskIds"][0], "generate");
    assert_eq!(
        tasks[1]["resourceFiles"][0]["httpUrl"],
        "https://acct.blob.core.windows.net/work/j/trades.csv"
    );
    assert_eq!(tasks[2]["id"], "0");
    assert!(tasks[2]["commandLine"]
        .as_str()
        .unwrap()
        .contains("riskpool azfinsim --cache-path trades.0.csv"));
    assert_eq!(
        tasks[2]["resourceFiles"][0]["httpUrl"],
        "https://acct.blob.core.windows.net/work/j/parts/trades.0.csv"
    );
    assert_eq!(
        tasks[2]["resourceFiles"][0]["identityReference"]["resourceId"],
        IDENTITY
    );
    assert_eq!(tasks[2]["containerSettings"]["containerRunOptions"], "--rm");
    assert_eq!(
        tasks[2]["outputFiles"][0]["destination"]["container"]["path"],
        "j/results/trades.0.results.csv"
    );
    // The price task's summary too (issue 22 item 21), beside the parts
    // rather than among the blobs concat reads.
    assert_eq!(
        tasks[2]["outputFiles"][1]["filePattern"],
        "results/trades.0.results.csv.summary.json"
    );
    assert_eq!(
        tasks[2]["outputFiles"][1]["destination"]["container"]["path"],
        "j/summaries/trades.0.results.csv.summary.json"
    );
    assert_eq!(
        tasks[2]["outputFiles"][1]["uploadOptions"]["uploadCondition"],
        "tasksuccess"
    );
    assert_eq!(
        tasks[2]["outputFiles"][2]["destination"]["container"]["path"],
        "j/logs/0"
    );
    // Time limits on the job and on every task, bounded retries (issue 22
    // item 17): a hung task does not keep a node billed for ever.
    assert_eq!(
        job["constraints"],
        json!({"maxTaskRetryCount": 3, "maxWallClockTime": "PT24H"})
    );
    for t in &tasks {
        assert_eq!(
            t["constraints"],
            json!({"maxTaskRetryCount": 3, "maxWallClockTime": "PT2H"}),
            "{}",
            t["id"]
        );
    }
    for t in &tasks {
        no_gpus_flag(t);
    }
    let concat = tasks.last().unwrap();
    assert_eq!(concat["id"], "concat");
    assert_eq!(
        concat["dependsOn"]["taskIdRanges"][0],
        json!({"start": 0, "end": 249})
    );
    assert!(
        concat["commandLine"]
            .as_str()
            .unwrap()
            .contains("riskpool concat --expect 250 "),
        "{}",
        concat["commandLine"]
    );
    assert_eq!(concat["resourceFiles"][0]["blobPrefix"], "j/results/");

    // An existing book: no generate task, split reads the book's blob.
    let dir = d.path().join("b");
    let o = image(&job_args(
        dir.to_str().unwrap(),
        "b",
        &[
            "--trades",
            "10",
            "--tasks",
            "3",
            "--book",
            "books/mybook.csv",
            "--schema",
            s.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tasks = job_tasks(&dir);
    assert_eq!(tasks[0]["id"], "split");
    assert!(tasks[0].get("dependsOn").is_none());
    assert_eq!(
        tasks[0]["resourceFiles"][0]["httpUrl"],
        "https://acct.blob.core.windows.net/work/books/mybook.csv"
    );
    // 10 trades in 3 tasks: 4 a file, so 3 files.
    assert_eq!(tasks.len(), 1 + 3 + 1);
    assert!(tasks[4]["commandLine"]
        .as_str()
        .unwrap()
        .contains("--expect 3 "));
}

#[test]
fn risk_jobs_form_the_shard_and_merge_graph() {
    let d = tempfile::tempdir().unwrap();
    let s = schema();
    let dir = d.path().join("r");
    let o = image(&job_args(
        dir.to_str().unwrap(),
        "r",
        &[
            "--kind",
            "risk",
            "--trades",
            "1000",
            "--tasks",
            "4",
            "--book",
            "books/book.jsonl",
            "--scenarios",
            "scen/2026.csv",
            "--seed",
            "7",
            "--schema",
            s.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tasks = job_tasks(&dir);
    assert_eq!(tasks.len(), 4 + 1);
    let url = "https://acct.blob.core.windows.net/work";
    for (k, t) in tasks[..4].iter().enumerate() {
        assert_eq!(t["id"], k.to_string());
        assert!(t.get("dependsOn").is_none());
        let cmd = t["commandLine"].as_str().unwrap();
        assert!(
            cmd.contains(&format!(
                "riskpool risk --input book.jsonl --scenarios scenarios.csv --seed 7 --shard {k}/4 --output risk.{k}.part.jsonl"
            )),
            "{cmd}"
        );
        let files = t["resourceFiles"].as_array().unwrap();
        assert_eq!(files[0]["httpUrl"], format!("{url}/books/book.jsonl"));
        assert_eq!(files[0]["filePath"], "book.jsonl");
        assert_eq!(files[1]["httpUrl"], format!("{url}/scen/2026.csv"));
        assert_eq!(files[1]["filePath"], "scenarios.csv");
        assert_eq!(files[1]["identityReference"]["resourceId"], IDENTITY);
        assert_eq!(
            t["outputFiles"][0]["destination"]["container"]["path"],
            format!("r/risk-parts/risk.{k}.part.jsonl")
        );
        no_gpus_flag(t);
    }
    let merge = &tasks[4];
    assert_eq!(merge["id"], "merge");
    assert_eq!(
        merge["dependsOn"]["taskIdRanges"][0],
        json!({"start": 0, "end": 3})
    );
    assert_eq!(merge["resourceFiles"][0]["blobPrefix"], "r/risk-parts/");
    let cmd = merge["commandLine"].as_str().unwrap();
    assert!(
        cmd.contains(
            "riskpool risk-merge --output pnl.csv --by-trade by-trade.csv --report risk.html -- ./"
        ),
        "{cmd}"
    );
    let script = std::fs::read_to_string(dir.join("run.sh")).unwrap();
    assert!(script.contains("KIND=risk") && script.contains("SCENARIOS_BLOB=scen/2026.csv"));
    let sh = Command::new("sh")
        .arg("-n")
        .arg(dir.join("run.sh"))
        .output()
        .unwrap();
    assert!(
        sh.status.success(),
        "run.sh: {}",
        String::from_utf8_lossy(&sh.stderr)
    );
    let written = written_blobs(&tasks[4..]);
    for want in [
        "r/pnl.csv",
        "r/pnl.csv.summary.json",
        "r/by-trade.csv",
        "r/risk.html",
    ] {
        assert!(written.iter().any(|w| w == want), "{want}: {written:?}");
    }

    // A risk job needs its book and its scenarios.
    for (drop, flag) in [("--scenarios", "--scenarios"), ("--book", "--book")] {
        let dir = d.path().join(format!("bad{flag}"));
        let mut extra = vec!["--kind", "risk", "--trades", "10", "--tasks", "2"];
        if drop != "--book" {
            extra.extend(["--book", "b.jsonl"]);
        }
        if drop != "--scenarios" {
            extra.extend(["--scenarios", "s.csv"]);
        }
        let o = image(&job_args(dir.to_str().unwrap(), "x", &extra));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(flag), "{flag}: {err}");
        assert!(!dir.join("job.json").exists());
    }
}

/// Every blob name a job's tasks write.
fn written_blobs(tasks: &[Value]) -> Vec<String> {
    let mut v = Vec::new();
    for t in tasks {
        for o in t["outputFiles"].as_array().unwrap() {
            v.push(
                o["destination"]["container"]["path"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    v
}

#[test]
fn two_jobs_write_disjoint_paths() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    // Job ids that prefix each other, the hard case for blob prefixes.
    assert!(image(&job_args(
        a.to_str().unwrap(),
        "run1",
        &["--trades", "2000", "--tasks", "10"]
    ))
    .status
    .success());
    assert!(image(&job_args(
        b.to_str().unwrap(),
        "run10",
        &["--trades", "2000", "--tasks", "4"]
    ))
    .status
    .success());
    let (ta, tb) = (job_tasks(&a), job_tasks(&b));
    let (wa, wb) = (written_blobs(&ta), written_blobs(&tb));
    assert!(wa.iter().all(|p| p.starts_with("run1/")), "{wa:?}");
    assert!(wb.iter().all(|p| p.starts_with("run10/")), "{wb:?}");
    for p in &wa {
        assert!(!wb.contains(p), "{p} written by both jobs");
    }
    // What concat reads: its own job's folder only, a prefix the other job's blobs do not match.
    let prefix = |t: &[Value]| {
        t.last().unwrap()["resourceFiles"][0]["blobPrefix"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (pa, pb) = (prefix(&ta), prefix(&tb));
    assert!(
        !wb.iter().any(|p| p.starts_with(&pa)),
        "{pa} matches job run10's blobs"
    );
    assert!(!wa.iter().any(|p| p.starts_with(&pb)));
    // A folder holding a job is not overwritten.
    let o = image(&job_args(
        a.to_str().unwrap(),
        "run1",
        &["--trades", "2000", "--tasks", "10"],
    ));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn each_job_rule_refuses_its_bad_value_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let long = "j".repeat(70);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--id", &long, "--trades", "10", "--tasks", "2"],
            "--id (id)",
        ),
        (
            vec!["--id", "j", "--trades", "10", "--tasks", "1000000"],
            "--tasks: 1000000 is outside",
        ),
        (
            vec!["--id", "j", "--trades", "10", "--tasks", "11"],
            "--tasks: 11 is outside 1 to 10",
        ),
        (
            vec!["--id", "j", "--trades", "0", "--tasks", "1"],
            "--trades: 0 is outside",
        ),
        (
            vec![
                "--id", "j", "--trades", "10", "--tasks", "2", "--book", "../x.csv",
            ],
            "--book",
        ),
    ];
    for (extra, want) in &cases {
        let mut a = vec![
            "batch",
            "job",
            "--pool-id",
            "gpu",
            "--storage-url",
            "https://acct.blob.core.windows.net/work",
            "--identity",
            IDENTITY,
            "--output-dir",
            dir.to_str().unwrap(),
        ];
        a.extend(extra.iter().copied());
        let o = image(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: wanted `{want}` in {err}");
        assert!(!dir.exists(), "{extra:?}: a refused job wrote files");
    }
    for (flag, bad, want) in [
        (
            "--storage-url",
            "http://acct.blob.core.windows.net/work",
            "--storage-url",
        ),
        (
            "--identity",
            "notaresourceid",
            "--identity (identityReference.resourceId)",
        ),
        ("--pool-id", "my pool!", "--pool-id (poolInfo.poolId)"),
    ] {
        let mut a = job_args(
            dir.to_str().unwrap(),
            "j",
            &["--trades", "10", "--tasks", "2"],
        );
        let i = a.iter().position(|x| *x == flag).unwrap();
        a[i + 1] = bad;
        let o = image(&a);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains(want));
        assert!(!dir.exists());
    }
}

#[test]
fn broken_bodies_are_refused_with_their_path() {
    let defs = Definitions::load(&schema()).unwrap();
    let good = json!({"id": "p", "vmSize": "Standard_D2s_v3", "virtualMachineConfiguration": {
        "imageReference": {"publisher": "a", "offer": "b", "sku": "c", "version": "latest"}, "nodeAgentSKUId": "batch.node.ubuntu 22.04"},
        "targetDedicatedNodes": 1, "resizeTimeout": "PT15M"});
    assert!(defs.check("PoolAddParameter", &good, "pool").is_empty());
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        defs.check("PoolAddParameter", &b, "pool")
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let e =
        broken(&|b| b["virtualMachineConfiguration"]["imageReference"]["colour"] = json!("red"));
    assert!(
        e.contains("pool.virtualMachineConfiguration.imageReference.colour: is not a property"),
        "{e}"
    );
    let e = broken(&|b| {
        b.as_object_mut().unwrap().remove("vmSize");
    });
    assert!(
        e.contains("pool: missing required property `vmSize`"),
        "{e}"
    );
    let e = broken(&|b| b["targetDedicatedNodes"] = json!("one"));
    assert!(
        e.contains("pool.targetDedicatedNodes: expected integer"),
        "{e}"
    );
    let e = broken(&|b| b["targetDedicatedNodes"] = json!(5_000_000_000i64));
    assert!(e.contains("does not fit int32"), "{e}");
    let e = broken(&|b| b["targetNodeCommunicationMode"] = json!("telepathy"));
    assert!(e.contains("is not one of"), "{e}");
    let e = broken(&|b| b["resizeTimeout"] = json!("15 minutes"));
    assert!(e.contains("not an ISO 8601 duration"), "{e}");
    let e = broken(&|b| b["virtualMachineConfiguration"] = json!({"imageReference": {}}));
    assert!(
        e.contains("missing required property `nodeAgentSKUId`"),
        "{e}"
    );

    // The management plane: read-only properties, inherited ones (allOf), bounds.
    let m = Definitions::load(&management()).unwrap();
    let pool = json!({"properties": {"vmSize": "Standard_D2s_v5", "currentDedicatedNodes": 3,
        "upgradePolicy": {"mode": "automatic", "rollingUpgradePolicy": {"maxBatchInstancePercent": 500}}},
        "tags": {"team": "risk"}, "etag": "x", "identity": {"type": "Sometimes"}});
    let e: Vec<String> = m
        .check("Pool", &pool, "pool")
        .iter()
        .map(|e| e.to_string())
        .collect();
    let e = e.join("; ");
    assert!(
        e.contains("pool.properties.currentDedicatedNodes: is read-only"),
        "{e}"
    );
    assert!(e.contains("pool.etag: is read-only"), "{e}");
    assert!(!e.contains("pool.tags"), "{e}");
    assert!(
        e.contains("maxBatchInstancePercent: 500 is above the maximum 100"),
        "{e}"
    );
    assert!(
        e.contains("pool.identity.type: \"Sometimes\" is not one of"),
        "{e}"
    );

    // Through the command line: exit 2, each problem listed.
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("bad.json");
    let mut b = good.clone();
    b["extra"] = json!(1);
    b["taskSlotsPerNode"] = json!(true);
    std::fs::write(&f, b.to_string()).unwrap();
    let o = image(&[
        "check",
        "--schema",
        schema().to_str().unwrap(),
        "--definition",
        "PoolAddParameter",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("body.extra") && err.contains("body.taskSlotsPerNode: expected integer"),
        "{err}"
    );

    // Without --schema the embedded definitions check the same body, the
    // data plane's or the management plane's as the definition asks.
    refused(
        &[
            "check",
            "--definition",
            "PoolAddParameter",
            f.to_str().unwrap(),
        ],
        &["body.extra", "body.taskSlotsPerNode: expected integer"],
    );
    let g = d.path().join("good.json");
    std::fs::write(&g, good.to_string()).unwrap();
    let o = image(&[
        "check",
        "--definition",
        "PoolAddParameter",
        g.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ex = batch_api("examples/PoolCreate_SharedImageGallery.json");
    let pool = d.path().join("management.json");
    std::fs::write(&pool, read(&ex)["parameters"]["parameters"].to_string()).unwrap();
    let o = image(&["check", "--definition", "Pool", pool.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs riskpool-image, which must exit 2 saying each of `words`.
fn refused(args: &[&str], words: &[&str]) {
    let o = image(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for w in words {
        assert!(err.contains(w), "{args:?}: no `{w}` in {err}");
    }
}

/// An executable shell script at `path`.
fn script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A task's command line run as Batch runs it (no shell of its own: the
/// line starts one), in `wd`, with `bin` first on PATH.
fn run_task(task: &Value, wd: &Path, bin: &Path) -> std::process::Output {
    let line = task["commandLine"].as_str().unwrap();
    let words = shell_words(line);
    assert_eq!(&words[..2], ["/bin/sh", "-c"], "{line}");
    assert_eq!(words.len(), 3, "{line}: one command for sh");
    Command::new(&words[0])
        .args(&words[1..])
        .current_dir(wd)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap()
}

/// The words sh makes of `line` (by asking sh).
fn shell_words(line: &str) -> Vec<String> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("for w in {line}; do printf '%s\\0' \"$w\"; done"))
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout)
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn ids_and_books_beginning_with_a_hyphen_make_commands_that_work() {
    // Batch ids are letters, digits, `-` and `_` anywhere: `-x` is one, and
    // every command the job writes must take it as a name, not an option.
    let d = tempfile::tempdir().unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // riskpool: prints its arguments, one a line.
    script(
        &bin.join("riskpool"),
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n",
    );
    // az: logs its arguments, answers what run.sh asks.
    let log = d.path().join("az.log");
    script(
        &bin.join("az"),
        r#"#!/bin/sh
for a in "$@"; do printf '%s\n' "$a" >> "$AZLOG"; done
echo %%END >> "$AZLOG"
case "$*" in
  *"job show"*) printf 'completed\tAllTasksComplete\n' ;;
  *"task-counts show"*) printf '0\t0\t6\t6\t0\n' ;;
  *"task list"*) ;;
  *"blob download"*)
    for a in "$@"; do case "$a" in --file=*)
      f=${a#--file=}; echo trade,pv > "$f"; i=1
      while [ $i -le 10 ]; do echo "$i,1" >> "$f"; i=$((i + 1)); done ;;
    esac; done ;;
esac
exit 0
"#,
    );
    let pool_body = d.path().join("pool.json");
    let o = image(&[
        "batch",
        "pool",
        "--id",
        "gpu",
        "--vm-size",
        "Standard_NC24ads_A100_v4",
        "--image",
        "myacr.azurecr.io/riskpool:cuda",
        "--registry",
        ACR,
        "--identity",
        IDENTITY,
        "--output",
        pool_body.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A resource group with parentheses (Azure allows them): a shell word only when quoted.
    let account = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg(1)/providers/Microsoft.Batch/batchAccounts/acct";
    for (n, id) in ["-x", "--help", "--", "-", "-_-"].into_iter().enumerate() {
        let dir = d.path().join(format!("job{n}"));
        let id_flag = format!("--id={id}");
        let pool_flag = format!("--pool-id={id}");
        let book = format!("--book={id}/-b.csv");
        let body = format!("--pool-body={}", pool_body.display());
        let acct = format!("--account-id={account}");
        let mut a = job_args(dir.to_str().unwrap(), "j", &[]);
        a.retain(|x| *x != "--id" && *x != "j" && *x != "--pool-id" && *x != "gpu");
        a.extend([
            id_flag.as_str(),
            pool_flag.as_str(),
            book.as_str(),
            body.as_str(),
            acct.as_str(),
            "--trades",
            "10",
            "--tasks",
            "4",
        ]);
        let o = image(&a);
        assert!(
            o.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let tasks = job_tasks(&dir);
        assert_eq!(read(&dir.join("job.json"))["id"], id);

        // split: checks the book's rows, naming the book.
        let wd = d.path().join(format!("split{n}"));
        std::fs::create_dir(&wd).unwrap();
        std::fs::write(wd.join("trades.csv"), "h\n1\n2\n").unwrap();
        let o = run_task(&tasks[0], &wd, &bin);
        assert_eq!(o.status.code(), Some(2), "{id}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("split: {id}/-b.csv holds 2 trades")),
            "{id}: {err}"
        );

        // concat: the job's parts, in part order, as files.
        let wd = d.path().join(format!("concat{n}"));
        let results = wd.join(id).join("results");
        std::fs::create_dir_all(&results).unwrap();
        for k in [0, 1, 2] {
            std::fs::write(results.join(format!("trades.{k}.results.csv")), "x\n").unwrap();
        }
        let o = run_task(tasks.last().unwrap(), &wd, &bin);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.is_empty(), "{id}: {err}");
        let args = String::from_utf8(o.stdout).unwrap();
        let args: Vec<&str> = args.lines().collect();
        let sep = args
            .iter()
            .position(|a| *a == "--")
            .expect("-- before the files");
        let files: Vec<String> = (0..3)
            .map(|k| format!("./{id}/results/trades.{k}.results.csv"))
            .collect();
        assert_eq!(args[sep + 1..], files, "{id}: {args:?}");
        assert!(args[..sep].contains(&"--expect"));

        // run.sh: every value reaches az as --flag=VALUE, never as a word of its own.
        let sh = Command::new("sh")
            .arg("-n")
            .arg(dir.join("run.sh"))
            .output()
            .unwrap();
        assert!(
            sh.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&sh.stderr)
        );
        let book_file = d.path().join(format!("book {n}.csv"));
        let rows: String = (1..=10).map(|i| format!("{i},x\n")).collect();
        std::fs::write(&book_file, format!("tradenum,x\n{rows}")).unwrap();
        let _ = std::fs::remove_file(&log);
        let o = Command::new(dir.join("run.sh"))
            .args(["all", book_file.to_str().unwrap()])
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("AZLOG", &log)
            .env("RISKPOOL_ARM_ENDPOINT", "http://127.0.0.1:9")
            .env("RISKPOOL_POLL_SECONDS", "0")
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(dir.join("results.csv").exists(), "{id}");
        let logged = std::fs::read_to_string(&log).unwrap();
        let words: Vec<&str> = logged.lines().collect();
        for want in [
            format!("--job-id={id}"),
            format!("--name={id}/-b.csv"),
            format!("--name={id}/results.csv"),
            format!("--url=http://127.0.0.1:9{account}/pools/{id}?api-version=2024-07-01"),
        ] {
            assert!(
                words.contains(&want.as_str()),
                "{id}: no `{want}` in {words:?}"
            );
        }
        assert!(
            !words
                .iter()
                .any(|w| *w == id || w.starts_with(&format!("{id}/"))),
            "{id}: a bare value az would read as an option: {words:?}"
        );
    }
}

#[test]
fn image_references_follow_the_distribution_grammar() {
    let d = tempfile::tempdir().unwrap();
    let bad: &[(&str, &str)] = &[
        ("myacr.azurecr.io/x':$(id)", "path component"),
        ("myacr.azurecr.io/x`id`:y", "path component"),
        ("myacr.azurecr.io/UPPER:x", "path component `UPPER`"),
        ("myacr.azurecr.io/x:", "the tag ``"),
        ("myacr.azurecr.io/x:-t", "the tag `-t`"),
        ("myacr.azurecr.io//x:y", "path component ``"),
        ("myacr.azurecr.io/x/:y", "path component ``"),
        ("myacr.azurecr.io/x:a\tb", "'\\t'"),
        ("myacr.azurecr.io/x:a b", "' '"),
        ("myacr.azurecr.io/x:y\n", "'\\n'"),
        ("myacr.azurecr.io/x@sha256:zz", "the digest `sha256:zz`"),
        ("myacr.azurecr.io/x@sha256:ABCDEF", "the digest"),
        ("myacr.azurecr.io/x@md5:00", "the digest algorithm `md5`"),
        ("myacr.azurecr.io/x@", "the digest"),
        ("myacr.azurecr.io/a..b:x", "path component `a..b`"),
        ("myacr.azurecr.io/a___b:x", "path component"),
        ("myacr.azurecr.io/-a:x", "path component `-a`"),
        ("myacr.azurecr.io/a.:x", "path component"),
        ("myacr.azurecr.io/:x", "the repository path is empty"),
        ("myacr.azurecr.io/x:y:z", "path component `x:y`"),
        ("myacr..io/x:y", "the registry"),
        ("-myacr.io/x:y", "the registry"),
        ("myacr.io:99999/x:y", "the registry"),
        ("myacr.io:/x:y", "the registry"),
        ("riskpool:cuda", "no registry"),
    ];
    let long_tag = format!("myacr.azurecr.io/x:{}", "t".repeat(129));
    let digest = format!("myacr.azurecr.io/riskpool@sha256:{}", "0a".repeat(32));
    let tagged_digest = format!("myacr.azurecr.io/riskpool:cuda@sha256:{}", "f".repeat(64));
    let good = [
        "myacr.azurecr.io/riskpool:cuda",
        "myacr.azurecr.io/riskpool",
        "myacr.azurecr.io/team/risk-pool__x/a.b_c--d:_v1.0-rc.1",
        digest.as_str(),
        tagged_digest.as_str(),
    ];
    let mut all_bad: Vec<(&str, &str)> = bad.to_vec();
    all_bad.push((&long_tag, "the tag"));
    for (n, (img, want)) in all_bad.iter().enumerate() {
        let dir = d.path().join(format!("j{n}"));
        let mut a = job_args(
            dir.to_str().unwrap(),
            "j",
            &["--trades", "10", "--tasks", "2"],
        );
        let i = a.iter().position(|x| *x == "--image").unwrap();
        let flag = format!("--image={img}");
        a[i] = &flag;
        a.remove(i + 1);
        let o = image(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{img:?}: {err}");
        assert!(
            err.contains("--image (containerSettings.imageName)"),
            "{img:?}: {err}"
        );
        assert!(err.contains(want), "{img:?}: wanted `{want}` in {err}");
        assert!(!dir.exists(), "{img:?}: a refused job wrote files");

        // The pool, in the registry it names where it has one.
        let out = d.path().join(format!("pool{n}.json"));
        let registry = img
            .split_once('/')
            .map(|(r, _)| r)
            .filter(|r| !r.starts_with('-'))
            .unwrap_or(ACR);
        let o = image(&[
            "batch",
            "pool",
            "--id",
            "p",
            "--vm-size",
            "Standard_D4s_v5",
            &flag,
            "--registry",
            registry,
            "--identity",
            IDENTITY,
            "--dedicated",
            "1",
            "--output",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "pool {img:?}: {err}");
        assert!(
            err.contains("--image (containerImageNames)"),
            "pool {img:?}: {err}"
        );
        assert!(!out.exists(), "pool {img:?}: written");
    }
    for (n, img) in good.iter().enumerate() {
        let dir = d.path().join(format!("good{n}"));
        let mut a = job_args(
            dir.to_str().unwrap(),
            "j",
            &["--trades", "10", "--tasks", "2"],
        );
        let i = a.iter().position(|x| *x == "--image").unwrap();
        a[i + 1] = img;
        let o = image(&a);
        assert!(
            o.status.success(),
            "{img}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = image(&[
            "batch",
            "pool",
            "--id",
            "p",
            "--vm-size",
            "Standard_D4s_v5",
            "--image",
            img,
            "--registry",
            ACR,
            "--identity",
            IDENTITY,
            "--dedicated",
            "1",
        ]);
        assert!(
            o.status.success(),
            "pool {img}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A registry with a port, and localhost.
    for (img, reg) in [
        ("myacr.io:5000/x:y", "myacr.io:5000"),
        ("localhost:5000/x", "localhost:5000"),
    ] {
        let o = image(&[
            "batch",
            "pool",
            "--id",
            "p",
            "--vm-size",
            "Standard_D4s_v5",
            "--image",
            img,
            "--registry",
            reg,
            "--identity",
            IDENTITY,
            "--dedicated",
            "1",
        ]);
        assert!(
            o.status.success(),
            "pool {img}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn free_text_pool_flags_are_checked_before_they_reach_the_body() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("pool.json");
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "batch",
            "pool",
            "--id",
            "p",
            "--vm-size",
            "Standard_D4s_v5",
            "--image",
            "myacr.azurecr.io/riskpool:cpu",
            "--registry",
            ACR,
            "--identity",
            IDENTITY,
            "--output",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--node-agent", ""], "--node-agent (nodeAgentSkuId)"),
        (&["--node-agent", " "], "--node-agent (nodeAgentSkuId)"),
        (&["--node-agent", "\n"], "--node-agent (nodeAgentSkuId)"),
        (
            &["--node-agent", "batch.node.ubuntu 22.04\n"],
            "--node-agent (nodeAgentSkuId)",
        ),
        (
            &["--node-agent", "batch.node.ubuntu\t22.04"],
            "--node-agent (nodeAgentSkuId)",
        ),
        (
            &["--node-agent", "batch.node."],
            "--node-agent (nodeAgentSkuId)",
        ),
        (
            &["--node-agent", "batch.node. "],
            "--node-agent (nodeAgentSkuId)",
        ),
        (
            &["--node-agent", "ubuntu 22.04"],
            "--node-agent (nodeAgentSkuId)",
        ),
        (
            &["--node-agent", "batch.node.ubuntu 22.04'$(id)"],
            "--node-agent (nodeAgentSkuId)",
        ),
        (
            &["--node-image", "a:b:c d:latest"],
            "--node-image (imageReference.sku)",
        ),
        (
            &["--node-image", "-a:b:c:latest"],
            "--node-image (imageReference.publisher)",
        ),
        (
            &["--node-image", "a:b\n:c:latest"],
            "--node-image (imageReference.offer)",
        ),
        (
            &["--autoscale", "$TargetDedicatedNodes = 1;\u{7}"],
            "--autoscale (autoScaleFormula): the formula holds the control character",
        ),
        (
            &["--registry", "my acr.io"],
            "--registry (containerRegistries[].registryServer)",
        ),
        (
            &["--registry", "myacr.azurecr.io\n"],
            "--registry (containerRegistries[].registryServer)",
        ),
    ];
    for (extra, want) in cases {
        let mut a = base(&[]);
        for pair in extra.chunks(2) {
            let flag = format!("{}={}", pair[0], pair[1]);
            match a.iter().position(|x| x == pair[0]) {
                Some(i) => {
                    a[i] = flag;
                    a.remove(i + 1);
                }
                None => a.push(flag),
            }
        }
        let o = image(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: wanted `{want}` in {err}");
        assert!(!out.exists(), "{extra:?}: written");
    }
    // What is fine: other agents, multi-line formulas.
    for extra in [
        &["--node-agent", "batch.node.el 8"][..],
        &["--node-agent", "batch.node.mariner 2.0"][..],
        &["--autoscale", "$a = 1;\r\n$TargetDedicatedNodes = $a;\n"][..],
    ] {
        let o = image(&base(extra).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let body = read(&out);
        if extra[0] == "--node-agent" {
            assert_eq!(
                body["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
                    ["nodeAgentSkuId"],
                extra[1]
            );
        }
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn shell_characters_in_ids_and_books_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    for (flag, bad, want) in [
        ("--book", "my book.csv", "--book"),
        ("--book", "a$(id).csv", "--book"),
        ("--book", "a'b.csv", "--book"),
        ("--book", "x\n.csv", "--book"),
        ("--id", "a;b", "--id (id)"),
        ("--id", "a\tb", "--id (id)"),
        ("--id", "", "--id (id)"),
        ("--pool-id", "`p`", "--pool-id (poolInfo.poolId)"),
        ("--pool-id", "p\n", "--pool-id (poolInfo.poolId)"),
    ] {
        let mut a = job_args(
            dir.to_str().unwrap(),
            "j",
            &["--trades", "10", "--tasks", "2"],
        );
        let flag_value = format!("{flag}={bad}");
        match a.iter().position(|x| *x == flag) {
            Some(i) => {
                a[i] = &flag_value;
                a.remove(i + 1);
            }
            None => a.push(&flag_value),
        }
        let o = image(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {bad:?}: {err}");
        assert!(
            err.contains(want),
            "{flag} {bad:?}: wanted `{want}` in {err}"
        );
        assert!(!dir.exists(), "{flag} {bad:?}: a refused job wrote files");
    }
}

/// Files the user names are read as files: a FIFO, a folder or a missing
/// body is refused (exit 2) rather than waited on; an unknown definition
/// is a usage error listing what there is; a self-referencing definitions
/// file is walked once; an output that is a folder is refused and leaves
/// no temporary file.
#[test]
fn named_files_and_definitions_are_refused_clearly() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("fifo.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let good = d.path().join("good.json");
    std::fs::write(&good, "{}").unwrap();
    for args in [
        vec![
            "check",
            "--definition",
            "PoolAddParameter",
            fifo.to_str().unwrap(),
        ],
        vec![
            "check",
            "--definition",
            "PoolAddParameter",
            d.path().to_str().unwrap(),
        ],
        vec!["check", "--definition", "PoolAddParameter", "missing.json"],
        vec![
            "check",
            "--schema",
            fifo.to_str().unwrap(),
            "--definition",
            "A",
            good.to_str().unwrap(),
        ],
    ] {
        let o = image(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    refused(
        &[
            "check",
            "--definition",
            "NoSuchThing",
            good.to_str().unwrap(),
        ],
        &["--definition NoSuchThing", "PoolAddParameter"],
    );
    let selfref = d.path().join("selfref.json");
    let a = r##"{"$ref": "#/definitions/A"}"##;
    std::fs::write(
        &selfref,
        format!(r#"{{"definitions": {{"A": {{"allOf": [{a}, {a}, {a}, {a}], "properties": {{"x": {{"type": "string"}}}}}}}}}}"#),
    )
    .unwrap();
    let o = image(&[
        "check",
        "--schema",
        selfref.to_str().unwrap(),
        "--definition",
        "A",
        good.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = d.path().join("pool-dir");
    std::fs::create_dir(&out).unwrap();
    let o = image(&[
        "batch",
        "pool",
        "--id",
        "cpu",
        "--vm-size",
        "Standard_D16s_v5",
        "--image",
        "myacr.azurecr.io/riskpool:cpu",
        "--registry",
        ACR,
        "--dedicated",
        "1",
        "--plane",
        "data",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a folder"));
    assert!(
        !d.path().join("pool-dir.tmp").exists() && !d.path().join("pool-dir.json.tmp").exists()
    );
}

/// A `--pool-body` is held to the management plane's `Pool` before run.sh
/// would send it.
#[test]
fn a_pool_body_the_api_would_refuse_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let body = d.path().join("pool.json");
    std::fs::write(&body, r#"{"properties": {"bogus": 1, "vmSize": 5}}"#).unwrap();
    let dir = d.path().join("job");
    let flag = format!("--pool-body={}", body.display());
    let mut a = job_args(dir.to_str().unwrap(), "j", &[]);
    a.extend([
        flag.as_str(),
        "--account-id=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct",
        "--trades",
        "10",
        "--tasks",
        "2",
    ]);
    let o = image(&a);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--pool-body.properties.bogus") && err.contains("vmSize"),
        "{err}"
    );
    assert!(!dir.join("run.sh").exists());
}

/// Without `--seed` a job passes none, so its tasks take riskpool's own
/// default, as a local run with default flags does (issue 22, item 22).
#[test]
fn a_job_without_a_seed_leaves_the_runners_default() {
    let d = tempfile::tempdir().unwrap();
    for (kind, extra) in [
        ("price", vec!["--trades", "100", "--tasks", "2"]),
        (
            "risk",
            vec![
                "--trades",
                "100",
                "--tasks",
                "2",
                "--book",
                "b.jsonl",
                "--scenarios",
                "s.csv",
            ],
        ),
    ] {
        let dir = d.path().join(kind);
        let mut args = vec!["--kind", kind];
        args.extend(extra);
        let o = image(&job_args(dir.to_str().unwrap(), kind, &args));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let tasks = job_tasks(&dir);
        let commands: Vec<&str> = tasks
            .iter()
            .map(|t| t["commandLine"].as_str().unwrap())
            .collect();
        assert!(
            commands.iter().all(|c| !c.contains("--seed")),
            "{commands:?}"
        );
        assert!(
            commands
                .iter()
                .any(|c| c.contains("riskpool generate") || c.contains("riskpool risk")),
            "{commands:?}"
        );
    }
}

/// Time limits on the job and its tasks, and bounded retries (issue 22
/// item 17): the flags reach the bodies; Batch's -1 (retry without limit)
/// and limits out of bounds are refused, naming the flag.
#[test]
fn time_limits_and_bounded_retries() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t");
    let s = schema();
    let o = image(&job_args(
        dir.to_str().unwrap(),
        "t",
        &[
            "--trades",
            "10",
            "--tasks",
            "2",
            "--task-time-limit",
            "PT30M",
            "--job-time-limit",
            "PT6H",
            "--max-retries",
            "0",
            "--schema",
            s.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read(&dir.join("job.json"))["constraints"],
        json!({"maxTaskRetryCount": 0, "maxWallClockTime": "PT6H"})
    );
    for t in job_tasks(&dir) {
        assert_eq!(
            t["constraints"],
            json!({"maxTaskRetryCount": 0, "maxWallClockTime": "PT30M"})
        );
    }
    // run.sh waits, by default, the job's limit and a quarter of an hour.
    let script = std::fs::read_to_string(dir.join("run.sh")).unwrap();
    assert!(
        script.contains(&format!("WAIT_SECONDS_DEFAULT={}", 6 * 3600 + 900)),
        "{script}"
    );

    let bad = d.path().join("bad");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--max-retries", "-1"],
            vec![
                "--max-retries (constraints.maxTaskRetryCount): -1 is outside 0 to 10",
                "retry without limit",
            ],
        ),
        (
            vec!["--max-retries=-1"],
            vec!["--max-retries (constraints.maxTaskRetryCount): -1 is outside 0 to 10"],
        ),
        (
            vec!["--max-retries", "11"],
            vec!["--max-retries (constraints.maxTaskRetryCount): 11 is outside 0 to 10"],
        ),
        (
            vec!["--task-time-limit", "2h"],
            vec!["--task-time-limit (constraints.maxWallClockTime of every task): `2h` is not an ISO 8601 duration"],
        ),
        (
            vec!["--task-time-limit", "PT30S"],
            vec!["--task-time-limit", "`PT30S` is outside PT1M to P7D"],
        ),
        (
            vec!["--task-time-limit", "P8D", "--job-time-limit", "P9D"],
            vec!["--task-time-limit", "`P8D` is outside PT1M to P7D"],
        ),
        (
            vec!["--job-time-limit", "P31D"],
            vec![
                "--job-time-limit (constraints.maxWallClockTime of the job)",
                "`P31D` is outside PT1M to P30D",
            ],
        ),
        (
            vec!["--task-time-limit", "PT3H", "--job-time-limit", "PT2H"],
            vec!["--job-time-limit", "`PT2H` is shorter than --task-time-limit `PT3H`"],
        ),
    ];
    for (extra, words) in &cases {
        let mut a = vec!["--trades", "10", "--tasks", "2"];
        a.extend(extra.iter().copied());
        let args = job_args(bad.to_str().unwrap(), "t", &a);
        refused(&args, words);
        assert!(!bad.exists(), "{extra:?}: a refused job wrote files");
    }
}

/// A job is held to the pool body it carries (issue 22 item 20): its
/// identity must be one of the pool's, and `--image` is given exactly when
/// the pool runs containers, from a registry the pool logs in to.
#[test]
fn a_job_is_checked_against_its_pool_body() {
    let d = tempfile::tempdir().unwrap();
    let pool = |name: &str, extra: &[&str]| -> PathBuf {
        let p = d.path().join(name);
        let mut a = vec![
            "batch",
            "pool",
            "--id",
            "gpu",
            "--vm-size",
            "Standard_NC24ads_A100_v4",
            "--output",
            p.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        let o = image(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        p
    };
    let image_ref = "myacr.azurecr.io/riskpool:cuda";
    let containers = pool(
        "containers.json",
        &[
            "--image",
            image_ref,
            "--registry",
            ACR,
            "--identity",
            IDENTITY,
        ],
    );
    let anonymous = pool("anonymous.json", &["--image", image_ref, "--registry", ACR]);
    let custom = pool(
        "custom.json",
        &["--gallery-image", GALLERY, "--identity", IDENTITY],
    );
    let other = IDENTITY.replace("/riskpool", "/other");
    let job = |body: &Path, identity: &str, image_flag: Option<&str>| -> Vec<String> {
        let dir = d.path().join("job");
        let mut a: Vec<String> = [
            "batch",
            "job",
            "--id",
            "j",
            "--pool-id",
            "gpu",
            "--trades",
            "10",
            "--tasks",
            "2",
            "--storage-url",
            "https://acct.blob.core.windows.net/work",
            "--account-id",
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct",
            "--output-dir",
            dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(format!("--identity={identity}"));
        a.push(format!("--pool-body={}", body.display()));
        if let Some(i) = image_flag {
            a.push(format!("--image={i}"));
        }
        a
    };
    let run = |a: &[String]| image(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (cs, an, cu) = (
        containers.display().to_string(),
        anonymous.display().to_string(),
        custom.display().to_string(),
    );
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            job(&containers, &other, Some(image_ref)),
            vec![
                "--identity (identityReference.resourceId)".into(),
                format!("`{other}` is not one of the pool's identities in {cs} (--pool-body)"),
                format!("its identities are {IDENTITY}"),
            ],
        ),
        (
            job(&anonymous, IDENTITY, Some(image_ref)),
            vec![format!(
                "is not one of the pool's identities in {an} (--pool-body): it has no user-assigned identity"
            )],
        ),
        (
            job(&containers, IDENTITY, None),
            vec![
                "--image (containerSettings.imageName)".into(),
                format!("the pool in {cs} (--pool-body) runs tasks in containers"),
            ],
        ),
        (
            job(&custom, IDENTITY, Some(image_ref)),
            vec![
                "--image (containerSettings.imageName)".into(),
                format!("the pool in {cu} (--pool-body) has no containerConfiguration"),
            ],
        ),
        (
            job(&containers, IDENTITY, Some("otheracr.azurecr.io/riskpool:cuda")),
            vec![format!(
                "`otheracr.azurecr.io/riskpool:cuda` is not in a registry the pool in {cs} (--pool-body) logs in to (myacr.azurecr.io)"
            )],
        ),
    ];
    for (args, words) in &cases {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w.as_str()), "{args:?}: wanted `{w}` in {err}");
        }
        assert!(!d.path().join("job").exists(), "{args:?}: files written");
    }
    // What matches is accepted: the identity as the pool names it (resource
    // ids are compared without case), the image from its registry; a
    // custom-image pool's job without --image.
    let o = run(&job(
        &containers,
        &IDENTITY.replace("resourceGroups", "resourcegroups"),
        Some("myacr.azurecr.io/riskpool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(d.path().join("job")).unwrap();
    let o = run(&job(&custom, IDENTITY, None));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A price job splits azfinsim CSV only (`riskpool split` reads no other
/// format), so a portfolio book is refused before anything is written
/// (issue 22 item 23); a risk job takes one.
#[test]
fn a_price_job_refuses_a_portfolio_book() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("p");
    for book in ["books/book.jsonl", "books/book.json", "books/book"] {
        let args = job_args(
            dir.to_str().unwrap(),
            "p",
            &["--trades", "10", "--tasks", "2", "--book", book],
        );
        refused(
            &args,
            &[
                "--book",
                &format!("`{book}` is not named as an azfinsim CSV trade file (NAME.csv)"),
                "a price job splits and prices azfinsim CSV only",
                "--kind risk",
            ],
        );
        assert!(!dir.exists());
    }
    let o = image(&job_args(
        dir.to_str().unwrap(),
        "p",
        &["--trades", "10", "--tasks", "2", "--book", "books/BOOK.CSV"],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A risk job's `--market NAME` (issue 23): every shard task gets the
/// market file as a resource file and passes `--market market.json`; the
/// merge task, which revalues nothing, gets neither; run.sh uploads it.
/// The bodies pass the service's definitions.
#[test]
fn risk_jobs_carry_the_market_file_to_every_shard() {
    let d = tempfile::tempdir().unwrap();
    let s = schema();
    let dir = d.path().join("m");
    let o = image(&job_args(
        dir.to_str().unwrap(),
        "m",
        &[
            "--kind",
            "risk",
            "--trades",
            "100",
            "--tasks",
            "3",
            "--book",
            "books/dated.jsonl",
            "--scenarios",
            "scen/2026.csv",
            "--market",
            "markets/2026-12-04.json",
            "--seed",
            "7",
            "--schema",
            s.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tasks = job_tasks(&dir);
    assert_eq!(tasks.len(), 3 + 1);
    let url = "https://acct.blob.core.windows.net/work";
    for (k, t) in tasks[..3].iter().enumerate() {
        let cmd = t["commandLine"].as_str().unwrap();
        assert!(
            cmd.contains(&format!(
                "riskpool risk --input book.jsonl --scenarios scenarios.csv --market market.json --seed 7 --shard {k}/3 --output risk.{k}.part.jsonl"
            )),
            "{cmd}"
        );
        let files = t["resourceFiles"].as_array().unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(
            files[2],
            json!({"httpUrl": format!("{url}/markets/2026-12-04.json"), "filePath": "market.json",
                   "identityReference": {"resourceId": IDENTITY}})
        );
    }
    let merge = &tasks[3];
    assert_eq!(merge["id"], "merge");
    let mut words = Vec::new();
    strings(merge, &mut words);
    assert!(
        !words.iter().any(|w| w.contains("market")),
        "the merge revalues nothing: {merge}"
    );
    // The job and every task collection, as sent, against the definitions.
    let defs = Definitions::load(&s).unwrap();
    let job = read(&dir.join("job.json"));
    assert!(defs.check("JobAddParameter", &job, "job").is_empty());
    let body = json!({"value": read(&dir.join("tasks-0000.json"))});
    let problems = defs.check("TaskAddCollectionParameter", &body, "tasks");
    assert!(problems.is_empty(), "{problems:?}");
    let script = std::fs::read_to_string(dir.join("run.sh")).unwrap();
    assert!(
        script.contains("MARKET_BLOB=markets/2026-12-04.json"),
        "{script}"
    );
    let sh = Command::new("sh")
        .arg("-n")
        .arg(dir.join("run.sh"))
        .output()
        .unwrap();
    assert!(
        sh.status.success(),
        "{}",
        String::from_utf8_lossy(&sh.stderr)
    );

    // Without --market: no market anywhere, as before.
    let plain = d.path().join("p");
    let o = image(&job_args(
        plain.to_str().unwrap(),
        "p",
        &[
            "--kind",
            "risk",
            "--trades",
            "100",
            "--tasks",
            "3",
            "--book",
            "b.jsonl",
            "--scenarios",
            "s.csv",
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for t in job_tasks(&plain) {
        let mut words = Vec::new();
        strings(&t, &mut words);
        assert!(!words.iter().any(|w| w.contains("market")), "{t}");
    }
}

/// `--market` on a price job is refused naming the flag: a price job
/// prices azfinsim CSV, whose trades are never priced through a market
/// file. A market blob name is held to the book's rules.
#[test]
fn a_price_job_refuses_a_market_and_market_names_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    for extra in [
        vec!["--trades", "10", "--tasks", "2", "--market", "m.json"],
        vec![
            "--trades", "10", "--tasks", "2", "--book", "b.csv", "--market", "m.json",
        ],
    ] {
        refused(
            &job_args(dir.to_str().unwrap(), "j", &extra),
            &[
                "--market",
                "a price job prices azfinsim CSV trades",
                "--kind risk",
                "riskpool price --market",
            ],
        );
        assert!(!dir.exists());
    }
    for bad in [
        "my market.json",
        "a$(id).json",
        "../m.json",
        "m/",
        "x\n.json",
    ] {
        let flag = format!("--market={bad}");
        refused(
            &job_args(
                dir.to_str().unwrap(),
                "j",
                &[
                    "--kind",
                    "risk",
                    "--trades",
                    "10",
                    "--tasks",
                    "2",
                    "--book",
                    "b.jsonl",
                    "--scenarios",
                    "s.csv",
                    &flag,
                ],
            ),
            &["--market", "is not a blob name"],
        );
        assert!(!dir.exists(), "{bad:?}");
    }
}
