//! Batch pool and job JSON against the REST API definitions in
//! shared/azure-batch/: what riskpool-image writes passes, and bodies
//! broken in each way the checker knows are refused with their path.

use std::path::{Path, PathBuf};
use std::process::Command;

use riskpool_imagebuild::schema::Definitions;
use serde_json::{json, Value};

/// The API definitions in `shared/azure-batch/`, beside the checkout.
fn schema() -> PathBuf {
    let name = "shared/azure-batch/BatchService-2024-07-01.20.0.definitions.json";
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found beside the checkout: CI clones the repository with shared/ beside it"))
}

fn image(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .args(args)
        .output()
        .unwrap()
}

const IDENTITY: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/riskpool";

#[test]
fn generated_pools_pass_the_api_definitions() {
    let s = schema();
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        // A GPU container pool, images from ACR through a managed identity, shared blob mount.
        vec!["--id", "gpu", "--vm-size", "Standard_NC24ads_A100_v4", "--image", "myacr.azurecr.io/riskpool:cuda",
             "--registry", "myacr.azurecr.io", "--identity", IDENTITY, "--dedicated", "2", "--low-priority", "8",
             "--task-slots", "1", "--storage-account", "acct", "--storage-container", "work"],
        // An 8-GPU node shared by 8 tasks, autoscaled.
        vec!["--id", "nd", "--vm-size", "Standard_ND96isr_H100_v5", "--image", "myacr.azurecr.io/riskpool:cuda",
             "--registry", "myacr.azurecr.io", "--identity", IDENTITY, "--task-slots", "8",
             "--autoscale", "$TargetLowPriorityNodes = min(10, $PendingTasks.GetSample(1) / 8);"],
        // A custom-image pool.
        vec!["--id", "vm", "--vm-size", "Standard_D16s_v5", "--gallery-image",
             "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/riskpool/versions/1.0.0",
             "--dedicated", "4"],
    ];
    for (i, c) in cases.iter().enumerate() {
        let out = d.path().join(format!("pool{i}.json"));
        let mut args = vec![
            "batch",
            "pool",
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
        let body: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(body["vmSize"], c[3]);
    }
    let p: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("pool0.json")).unwrap())
            .unwrap();
    let cc = &p["virtualMachineConfiguration"]["containerConfiguration"];
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
}

#[test]
fn generated_jobs_pass_and_form_the_task_graph() {
    let d = tempfile::tempdir().unwrap();
    let s = schema();
    let o = image(&[
        "batch",
        "job",
        "--id",
        "j",
        "--pool-id",
        "gpu",
        "--image",
        "myacr.azurecr.io/riskpool:cuda",
        "--gpus",
        "--trades",
        "1000000",
        "--tasks",
        "250",
        "--logs-container-url",
        "https://acct.blob.core.windows.net/logs",
        "--logs-identity",
        IDENTITY,
        "--schema",
        s.to_str().unwrap(),
        "--output-dir",
        d.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let job: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("job.json")).unwrap()).unwrap();
    assert_eq!(job["usesTaskDependencies"], true);
    let mut tasks = Vec::new();
    for i in 0..3 {
        let c: Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join(format!("tasks-{i:04}.json"))).unwrap(),
        )
        .unwrap();
        let v = c["value"].as_array().unwrap();
        assert!(v.len() <= 100);
        tasks.extend(v.iter().cloned());
    }
    assert!(!d.path().join("tasks-0003.json").exists());
    assert_eq!(tasks.len(), 2 + 250 + 1);
    assert_eq!(tasks[0]["id"], "generate");
    assert_eq!(tasks[1]["dependsOn"]["taskIds"][0], "generate");
    assert_eq!(tasks[2]["id"], "0");
    assert!(tasks[2]["commandLine"].as_str().unwrap().contains(
        "riskpool azfinsim --cache-path $AZ_BATCH_NODE_MOUNTS_DIR/riskpool/parts/trades.0.csv"
    ));
    assert_eq!(
        tasks[2]["containerSettings"]["containerRunOptions"],
        "--rm --gpus all"
    );
    assert_eq!(
        tasks[2]["outputFiles"][0]["destination"]["container"]["path"],
        "j/0"
    );
    let concat = tasks.last().unwrap();
    assert_eq!(concat["id"], "concat");
    assert_eq!(
        concat["dependsOn"]["taskIdRanges"][0],
        json!({"start": 0, "end": 249})
    );
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
}
