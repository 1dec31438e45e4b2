//! Azure Batch request bodies for riskpool: the pool (container pool with
//! the image from a private registry pulled by a managed identity, or a
//! custom-image pool from a gallery image), the job, and the task graph
//! generate -> split -> price_0..N-1 -> concat with task dependencies, in
//! collections of at most 100 tasks (the Task_AddCollection limit).
//!
//! Files are shared between tasks through a blobfuse mount of the pool
//! (`mountConfiguration`), so every node sees the same folder under
//! `$AZ_BATCH_NODE_MOUNTS_DIR`.

use serde_json::{json, Value};

/// Most tasks in one Task_AddCollection request.
pub const MAX_TASKS_PER_COLLECTION: usize = 100;

/// A marketplace image for the pool's nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketplaceImage {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

impl MarketplaceImage {
    /// Ubuntu 22.04 HPC (NVIDIA drivers and a container runtime included),
    /// which Batch's GPU container pools run on.
    pub fn ubuntu_hpc() -> MarketplaceImage {
        MarketplaceImage {
            publisher: "microsoft-dsvm".into(),
            offer: "ubuntu-hpc".into(),
            sku: "2204".into(),
            version: "latest".into(),
        }
    }

    /// `PUBLISHER:OFFER:SKU:VERSION`.
    pub fn parse(s: &str) -> Option<MarketplaceImage> {
        let p: Vec<&str> = s.split(':').collect();
        match p.as_slice() {
            [a, b, c, d] if p.iter().all(|x| !x.is_empty()) => Some(MarketplaceImage {
                publisher: a.to_string(),
                offer: b.to_string(),
                sku: c.to_string(),
                version: d.to_string(),
            }),
            _ => None,
        }
    }
}

/// What the pool's nodes run.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeImage {
    /// riskpool in a container: the node image, and the container image
    /// from a private registry (Azure Container Registry) pulled with a
    /// user-assigned managed identity.
    Container {
        node: MarketplaceImage,
        image: String,
        registry: String,
        identity: String,
    },
    /// A custom VM image (riskpool installed, `riskpool-image vm`) from an
    /// Azure Compute Gallery.
    Custom { gallery_image_id: String },
}

/// How many nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Scale {
    Fixed {
        dedicated: u32,
        low_priority: u32,
    },
    /// An autoscale formula, evaluated every `interval` (ISO 8601, e.g. PT5M).
    Auto {
        formula: String,
        interval: String,
    },
}

/// The blob container mounted on every node for the tasks' shared files.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedStorage {
    pub account: String,
    pub container: String,
    /// The managed identity that reads and writes it.
    pub identity: String,
}

/// Folder the blob container is mounted at, relative to the mounts dir.
pub const MOUNT: &str = "riskpool";

#[derive(Clone, Debug, PartialEq)]
pub struct PoolOptions {
    pub id: String,
    pub vm_size: String,
    pub node_agent_sku: String,
    pub image: NodeImage,
    pub task_slots: u32,
    pub scale: Scale,
    pub storage: Option<SharedStorage>,
}

/// The Pool_Add body.
pub fn pool(o: &PoolOptions) -> Value {
    let vm = match &o.image {
        NodeImage::Container {
            node,
            image,
            registry,
            identity,
        } => json!({
            "imageReference": {"publisher": node.publisher, "offer": node.offer, "sku": node.sku, "version": node.version},
            "nodeAgentSKUId": o.node_agent_sku,
            "containerConfiguration": {
                "type": "dockerCompatible",
                "containerImageNames": [image],
                "containerRegistries": [{"registryServer": registry, "identityReference": {"resourceId": identity}}],
            },
        }),
        NodeImage::Custom { gallery_image_id } => json!({
            "imageReference": {"virtualMachineImageId": gallery_image_id},
            "nodeAgentSKUId": o.node_agent_sku,
        }),
    };
    let mut p = json!({
        "id": o.id,
        "vmSize": o.vm_size,
        "virtualMachineConfiguration": vm,
        "taskSlotsPerNode": o.task_slots,
        "taskSchedulingPolicy": {"nodeFillType": "spread"},
        "targetNodeCommunicationMode": "simplified",
        // Prints what each node really has (GPUs, size, engine) to the start task's log.
        "startTask": {
            "commandLine": start_command(&o.image),
            "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
            "maxTaskRetryCount": 1,
            "waitForSuccess": false,
        },
    });
    match &o.scale {
        Scale::Fixed {
            dedicated,
            low_priority,
        } => {
            p["targetDedicatedNodes"] = json!(dedicated);
            p["targetLowPriorityNodes"] = json!(low_priority);
        }
        Scale::Auto { formula, interval } => {
            p["enableAutoScale"] = json!(true);
            p["autoScaleFormula"] = json!(formula);
            p["autoScaleEvaluationInterval"] = json!(interval);
        }
    }
    if let Some(s) = &o.storage {
        p["mountConfiguration"] = json!([{"azureBlobFileSystemConfiguration": {
            "accountName": s.account, "containerName": s.container, "relativeMountPath": MOUNT,
            "identityReference": {"resourceId": s.identity},
        }}]);
    }
    p
}

fn start_command(image: &NodeImage) -> String {
    match image {
        // Container pools prefetch the image; the probe runs in the first task.
        NodeImage::Container { .. } => "/bin/sh -c 'nvidia-smi || true'".into(),
        NodeImage::Custom { .. } => "/bin/sh -c 'riskpool probe'".into(),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobOptions {
    pub id: String,
    pub pool_id: String,
    /// The container image the tasks run in (None on custom-image pools).
    pub image: Option<String>,
    /// Run containers with every GPU of the node.
    pub gpus: bool,
    pub trades: u64,
    pub price_tasks: u64,
    /// `pvonly` or `deltavega`.
    pub algorithm: String,
    pub seed: u64,
    /// Where the tasks' shared files live on every node.
    pub shared_dir: String,
    /// Retries for a failed task (pre-emptions are rerun regardless).
    pub max_retries: i32,
    /// A blob container URL each task's stdout/stderr go to, written with
    /// this managed identity (resource id); `None`: logs stay on the node.
    pub logs: Option<(String, String)>,
}

/// The Job_Add body.
pub fn job(o: &JobOptions) -> Value {
    json!({
        "id": o.id,
        "poolInfo": {"poolId": o.pool_id},
        "usesTaskDependencies": true,
        "onAllTasksComplete": "terminatejob",
        "onTaskFailure": "performexitoptionsjobaction",
        "constraints": {"maxTaskRetryCount": o.max_retries},
        "metadata": [{"name": "created-by", "value": "riskpool-image"}],
    })
}

fn task(o: &JobOptions, id: &str, command: String, depends: Option<Value>) -> Value {
    let mut t = json!({
        "id": id,
        // Batch runs the command without a shell; sh expands the variables.
        "commandLine": format!("/bin/sh -c '{command}'"),
        "constraints": {"maxTaskRetryCount": o.max_retries},
        "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
    });
    if let Some(image) = &o.image {
        let run = if o.gpus { "--rm --gpus all" } else { "--rm" };
        t["containerSettings"] = json!({"imageName": image, "containerRunOptions": run, "workingDirectory": "taskWorkingDirectory"});
    }
    if let Some(d) = depends {
        t["dependsOn"] = d;
    }
    if let Some((url, identity)) = &o.logs {
        t["outputFiles"] = json!([{
            "filePattern": "../std*.txt",
            "destination": {"container": {"containerUrl": url, "path": format!("{}/{id}", o.id), "identityReference": {"resourceId": identity}}},
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        }]);
    }
    t
}

/// The task graph, as Task_AddCollection bodies of at most 100 tasks. The
/// price tasks have numeric ids `0..N-1` so concat can depend on their range.
pub fn task_collections(o: &JobOptions) -> Vec<Value> {
    let n = o.price_tasks.max(1);
    let per_file = o.trades.div_ceil(n).max(1);
    let files = o.trades.div_ceil(per_file);
    let dir = &o.shared_dir;
    let mut tasks = vec![
        task(o, "generate", format!("riskpool generate --trades {} --seed {} --output {dir}/trades.csv", o.trades, o.seed), None),
        task(
            o,
            "split",
            format!("riskpool split --input {dir}/trades.csv --trades-per-file {per_file} --output-dir {dir}/parts"),
            Some(json!({"taskIds": ["generate"]})),
        ),
    ];
    for k in 0..files {
        tasks.push(task(
            o,
            &k.to_string(),
            format!(
                "riskpool azfinsim --cache-path {dir}/parts/trades.{k}.csv --algorithm {} --output-path {dir}/results",
                o.algorithm
            ),
            Some(json!({"taskIds": ["split"]})),
        ));
    }
    tasks.push(task(
        o,
        "concat",
        format!("riskpool concat --output {dir}/results.csv $(ls {dir}/results/trades.*.results.csv | sort -t. -k2 -n)"),
        Some(json!({"taskIdRanges": [{"start": 0, "end": files as i64 - 1}]})),
    ));
    tasks
        .chunks(MAX_TASKS_PER_COLLECTION)
        .map(|c| json!({"value": c}))
        .collect()
}
