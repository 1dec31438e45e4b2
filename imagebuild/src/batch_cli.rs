//! `riskpool-image batch pool|job`: flags, the service's rules, the bodies
//! and the files written (a module of the binary).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use riskpool_imagebuild::batch::{
    self, JobOptions, MarketplaceImage, NodeImage, Plane, PoolOptions, Scale, Storage,
};
use serde_json::Value;

use crate::{check, write, UsageError};

#[derive(Subcommand)]
pub enum BatchCommand {
    /// The pool body: the management plane's (identity + properties, created
    /// with `az rest --method put`), or the data plane's Pool_Add.
    Pool(PoolArgs),
    /// The Job_Add body, the task collections of the task graph and run.sh.
    Job(JobArgs),
}

#[derive(clap::Args)]
pub struct PoolArgs {
    /// Pool id: 1 to 64 letters, digits, hyphens and underscores.
    #[arg(long)]
    id: String,
    /// Azure VM size, e.g. Standard_NC24ads_A100_v4.
    #[arg(long)]
    vm_size: String,
    /// Which API the body is for: `management` (Azure Resource Manager; the
    /// only one that can attach --identity) or `data` (Pool_Add, no identity).
    #[arg(long, value_enum, default_value = "management")]
    plane: Plane,
    /// Container image (a container pool), e.g. myacr.azurecr.io/riskpool:cuda.
    #[arg(long, requires = "registry", conflicts_with = "gallery_image")]
    image: Option<String>,
    /// The registry server the image is in, e.g. myacr.azurecr.io.
    #[arg(long)]
    registry: Option<String>,
    /// Resource id of the user-assigned managed identity the nodes pull images and move files with.
    #[arg(long)]
    identity: Option<String>,
    /// Gallery image id of a custom VM image (a custom-image pool).
    #[arg(long)]
    gallery_image: Option<String>,
    /// Node image of container pools, PUBLISHER:OFFER:SKU:VERSION (default
    /// microsoft-dsvm:ubuntu-hpc:2204:latest, a Generation 2 image).
    #[arg(long)]
    node_image: Option<String>,
    /// Batch node agent SKU (default: `batch.node.ubuntu 22.04` for container
    /// pools, `batch.node.debian 12` for the Debian image `riskpool-image vm` builds).
    #[arg(long)]
    node_agent: Option<String>,
    /// Tasks a node runs at once: 1 to 256, and at most 4 a vCPU.
    #[arg(long, default_value_t = 1)]
    task_slots: u32,
    #[arg(long, default_value_t = 0)]
    dedicated: u32,
    /// Spot nodes (the API's targetLowPriorityNodes): the Batch account must
    /// be in UserSubscription pool allocation mode.
    #[arg(long, default_value_t = 0)]
    spot: u32,
    /// Refused: Batch-managed low-priority VMs were retired on 2025-09-30 (use --spot).
    #[arg(long, hide = true)]
    low_priority: Option<u32>,
    /// An autoscale formula instead of fixed node counts.
    #[arg(long, conflicts_with_all = ["dedicated", "spot"])]
    autoscale: Option<String>,
    /// How often the formula is evaluated: PT5M to PT168H.
    #[arg(long, default_value = "PT5M")]
    autoscale_interval: String,
    /// Another API definitions file to check the body against before
    /// writing it, instead of the embedded ones (BatchManagement 2024-07-01
    /// for --plane management, BatchService 2024-07-01.20.0 for data).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Where to write the body (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write an ARM template with the pool (management plane).
    #[arg(long)]
    arm_template: Option<PathBuf>,
    /// The Batch account's resource id, for the printed `az rest` command
    /// (/subscriptions/S/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/A).
    #[arg(long)]
    account_id: Option<String>,
}

#[derive(clap::Args)]
pub struct JobArgs {
    /// The graph: `price` (generate/split -> price_0..N-1 -> concat) or
    /// `risk` (risk_0..N-1 -> merge: the book's shards under every scenario).
    #[arg(long, default_value = "price", value_parser = ["price", "risk"])]
    kind: String,
    /// Risk jobs: the scenario file's blob name in the container.
    #[arg(long)]
    scenarios: Option<String>,
    /// Risk jobs: the market file's blob name in the container (JSON:
    /// valuation date, curves, underlyings), which a book's dated trades are
    /// revalued through; every shard task gets it (run.sh submit BOOK
    /// SCENARIOS MARKET uploads it there). A price job takes none: it
    /// prices azfinsim CSV, which has no dated trades.
    #[arg(long, value_name = "NAME")]
    market: Option<String>,
    /// Job id: 1 to 64 letters, digits, hyphens and underscores; every blob the job writes is under it.
    #[arg(long)]
    id: String,
    #[arg(long)]
    pool_id: String,
    /// The container image of the tasks (omit on custom-image pools).
    #[arg(long)]
    image: Option<String>,
    /// Trades to generate; with --book, the number of trades in the book.
    #[arg(long)]
    trades: u64,
    /// Price an existing azfinsim trade file: its blob name in the container,
    /// NAME.csv (run.sh submit BOOK.csv uploads it there). Risk jobs: the
    /// portfolio book (JSON Lines or JSON).
    #[arg(long)]
    book: Option<String>,
    /// Price tasks (the trades are split into this many files): 1 to 10,000.
    #[arg(long)]
    tasks: u64,
    /// A price job's azfinsim algorithm (default pvonly); a risk job takes
    /// none.
    #[arg(long, value_parser = ["pvonly", "deltavega"])]
    algorithm: Option<String>,
    /// The generator's seed, and for a risk job the random streams' seed;
    /// without it the tasks take riskpool's own default, as a local run.
    #[arg(long)]
    seed: Option<u64>,
    /// The job's blob container, https://ACCOUNT.blob.core.windows.net/CONTAINER.
    #[arg(long)]
    storage_url: String,
    /// The pool's user-assigned identity (resource id) that reads and writes the container.
    #[arg(long)]
    identity: String,
    /// Retries of a failed task: 0 to 10 (pre-emptions are rerun
    /// regardless; Batch's -1, without limit, is refused).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    max_retries: i32,
    /// How long one task may run (each task's maxWallClockTime, ISO 8601):
    /// PT1M to P7D. Batch ends a task still running then, and it fails.
    #[arg(long, default_value = DEFAULT_TASK_TIME_LIMIT)]
    task_time_limit: String,
    /// How long the job may last from its creation, waiting for nodes
    /// included (the job's maxWallClockTime): from --task-time-limit to P30D.
    #[arg(long, default_value = DEFAULT_JOB_TIME_LIMIT)]
    job_time_limit: String,
    /// Another API definitions file (BatchService) to check the job and
    /// task bodies against, instead of the embedded one.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// A management-plane pool body for run.sh to create the pool with if it
    /// is missing; the job is checked against it (identity, image).
    #[arg(long, requires = "account_id")]
    pool_body: Option<PathBuf>,
    /// The Batch account's resource id (with --pool-body).
    #[arg(long)]
    account_id: Option<String>,
    /// Folder for job.json, tasks-NNNN.json, job-terminate.json and run.sh
    /// (created; it must not hold an earlier job's files).
    #[arg(long)]
    output_dir: PathBuf,
}

/// `--task-time-limit`'s default: a task of a job cut into parts runs for
/// minutes; two hours ends one that hangs.
const DEFAULT_TASK_TIME_LIMIT: &str = "PT2H";
/// `--job-time-limit`'s default.
const DEFAULT_JOB_TIME_LIMIT: &str = "PT24H";

fn refuse_all(problems: Vec<batch::rules::Refusal>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    bail!(UsageError(format!(
        "the Batch service would refuse this:\n  {}",
        lines.join("\n  ")
    )))
}

/// `--account-id` when it is not a Batch account's resource id.
fn account_id_refusal(id: Option<&str>) -> Option<batch::rules::Refusal> {
    let id = id?;
    (!batch::script::account_id_ok(id)).then(|| batch::rules::Refusal {
        field: "--account-id".into(),
        message: format!("`{id}` is not a Batch account's resource id: /subscriptions/S/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/NAME"),
    })
}

pub fn batch_pool(a: PoolArgs) -> Result<()> {
    if let Some(n) = a.low_priority {
        bail!(UsageError(format!(
            "--low-priority {n}: Batch-managed accounts' low-priority VMs were retired on 2025-09-30; \
             use --spot {n}, which needs a Batch account in UserSubscription pool allocation mode"
        )));
    }
    let image = match (a.image, a.gallery_image) {
        (Some(image), None) => NodeImage::Container {
            node: match &a.node_image {
                Some(s) => MarketplaceImage::parse(s).ok_or_else(|| {
                    UsageError(format!(
                        "--node-image `{s}`: expected PUBLISHER:OFFER:SKU:VERSION"
                    ))
                })?,
                None => MarketplaceImage::ubuntu_hpc(),
            },
            image,
            registry: a.registry.unwrap_or_default(),
        },
        (None, Some(id)) => NodeImage::Custom {
            gallery_image_id: id,
        },
        _ => bail!(UsageError(
            "give --image (a container pool) or --gallery-image (a custom-image pool)".into()
        )),
    };
    let scale = match a.autoscale {
        Some(formula) => Scale::Auto {
            formula,
            interval: a.autoscale_interval,
        },
        None => Scale::Fixed {
            dedicated: a.dedicated,
            spot: a.spot,
        },
    };
    let o = PoolOptions {
        id: a.id,
        vm_size: a.vm_size,
        node_agent_sku: a.node_agent.unwrap_or_else(|| {
            match image {
                NodeImage::Container { .. } => "batch.node.ubuntu 22.04",
                NodeImage::Custom { .. } => "batch.node.debian 12",
            }
            .to_string()
        }),
        image,
        identity: a.identity,
        task_slots: a.task_slots,
        scale,
    };
    let mut problems = batch::rules::check_pool(&o, a.plane);
    problems.extend(account_id_refusal(a.account_id.as_deref()));
    refuse_all(problems)?;
    let (body, root) = match a.plane {
        Plane::Management => (batch::pool_management(&o), "Pool"),
        Plane::Data => (batch::pool_data(&o), "PoolAddParameter"),
    };
    check(a.schema.as_deref(), &[(root, "pool", &body)])?;
    let spot = match &o.scale {
        Scale::Fixed { spot, .. } => *spot > 0,
        Scale::Auto { formula, .. } => formula.contains("LowPriority"),
    };
    if let (NodeImage::Container { image, .. }, None) = (&o.image, &o.identity) {
        eprintln!("riskpool-image: note: no --identity: the nodes pull {image} without credentials (the registry must allow anonymous pulls), and the job's tasks cannot read or write blobs");
    }
    if spot {
        eprintln!("riskpool-image: note: spot nodes (targetLowPriorityNodes) need a Batch account in UserSubscription pool allocation mode; a Batch-managed account gets none");
    }
    let template = a
        .arm_template
        .as_ref()
        .map(|_| batch::pool::arm_template(&o));
    if template.is_some() && a.plane == Plane::Data {
        bail!(UsageError(
            "--arm-template: the template is the management plane's; drop --plane data".into()
        ));
    }
    match &a.output {
        Some(p) => write(p, &body)?,
        None => println!("{}", serde_json::to_string_pretty(&body)?),
    }
    if let (Some(p), Some(t)) = (&a.arm_template, &template) {
        write(p, t)?;
    }
    let file = a
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pool.json".into());
    let file = batch::script::sh_quote(&file);
    match a.plane {
        Plane::Management => {
            let account = a.account_id.as_deref().unwrap_or(
                "/subscriptions/$SUBSCRIPTION/resourceGroups/$RESOURCE_GROUP/providers/Microsoft.Batch/batchAccounts/$BATCH_ACCOUNT",
            );
            eprintln!(
                "riskpool-image: create it with:\n  az rest --method put --url \"https://management.azure.com{account}/pools/{}?api-version={}\" --body @{file}",
                o.id,
                batch::ARM_API_VERSION
            );
        }
        Plane::Data => {
            eprintln!("riskpool-image: create it with:\n  az batch pool create --json-file {file}")
        }
    }
    Ok(())
}

pub fn batch_job(a: JobArgs) -> Result<()> {
    if a.kind == "risk" && a.algorithm.is_some() {
        bail!(UsageError(
            "--algorithm: a risk job revalues its book under scenarios; --algorithm is for --kind price".into()
        ));
    }
    let o = JobOptions {
        kind: if a.kind == "risk" {
            batch::job::JobKind::Risk
        } else {
            batch::job::JobKind::Price
        },
        scenarios: a.scenarios,
        market: a.market,
        id: a.id,
        pool_id: a.pool_id,
        image: a.image,
        trades: a.trades,
        book: a.book,
        price_tasks: a.tasks,
        algorithm: a.algorithm.unwrap_or_else(|| "pvonly".into()),
        seed: a.seed,
        storage: Storage {
            url: a.storage_url,
            identity: a.identity,
        },
        max_retries: a.max_retries,
        task_time_limit: a.task_time_limit,
        job_time_limit: a.job_time_limit,
    };
    let mut problems = batch::rules::check_job(&o);
    problems.extend(account_id_refusal(a.account_id.as_deref()));
    let pool_body = match &a.pool_body {
        Some(p) => {
            let text = riskpool_imagebuild::schema::read_json_file(p)
                .map_err(|e| UsageError(format!("--pool-body {e}")))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| UsageError(format!("--pool-body {}: {e}", p.display())))?;
            if v.get("properties").is_none() {
                problems.push(batch::rules::Refusal {
                    field: "--pool-body".into(),
                    message: format!("{} is not a management-plane pool body (no `properties`): write it with riskpool-image batch pool --plane management", p.display()),
                });
            } else {
                // run.sh sends it as it is: held to the management plane's
                // `Pool` as a body riskpool-image writes is.
                check(None, &[("Pool", "--pool-body", &v)])?;
                // And the job must be able to run on it.
                problems.extend(batch::rules::check_job_against_pool(
                    &o,
                    &v,
                    &p.display().to_string(),
                ));
            }
            Some(v)
        }
        None => None,
    };
    refuse_all(problems)?;
    let job = batch::job(&o);
    let collections = batch::task_collections(&o);
    let wrapped: Vec<Value> = collections
        .iter()
        .map(|c| serde_json::json!({"value": c}))
        .collect();
    let names: Vec<String> = (0..wrapped.len()).map(|i| format!("tasks[{i}]")).collect();
    let mut bodies = vec![("JobAddParameter", "job", &job)];
    for (c, n) in wrapped.iter().zip(&names) {
        bodies.push(("TaskAddCollectionParameter", n.as_str(), c));
    }
    check(a.schema.as_deref(), &bodies)?;
    let dir = &a.output_dir;
    if dir.join("job.json").exists() {
        bail!(UsageError(format!(
            "--output-dir {}: it already holds a job.json; give an empty or new folder",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Everything goes to a hidden folder first and moves in only when complete.
    let tmp = dir.join(format!(".riskpool-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = (|| -> Result<Vec<String>> {
        let mut names = vec![
            "job.json".to_string(),
            batch::job::TERMINATE_PATCH.to_string(),
        ];
        write(&tmp.join("job.json"), &job)?;
        write(
            &tmp.join(batch::job::TERMINATE_PATCH),
            &batch::job::terminate_patch(),
        )?;
        for (i, c) in collections.iter().enumerate() {
            let n = format!("tasks-{i:04}.json");
            write(&tmp.join(&n), c)?;
            names.push(n);
        }
        let creation = match (&pool_body, &a.account_id) {
            (Some(v), Some(id)) => {
                write(&tmp.join("pool.json"), v)?;
                names.push("pool.json".into());
                Some(batch::script::PoolCreation {
                    account_id: id.clone(),
                    body_file: "pool.json".into(),
                })
            }
            _ => None,
        };
        let script = batch::script::run_sh(&o, creation.as_ref(), collections.len());
        std::fs::write(tmp.join("run.sh"), script).context("cannot write run.sh")?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.join("run.sh"), std::fs::Permissions::from_mode(0o755))?;
        names.push("run.sh".into());
        Ok(names)
    })();
    let result = written.and_then(|names| {
        for n in &names {
            std::fs::rename(tmp.join(n), dir.join(n))
                .with_context(|| format!("cannot write {}", dir.join(n).display()))?;
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    let tasks = match o.kind {
        batch::job::JobKind::Risk => format!("{} shard tasks and a merge", o.parts()),
        batch::job::JobKind::Price => format!("{} price tasks", o.parts()),
    };
    eprintln!(
        "riskpool-image: job.json, {} task collections ({tasks}, blobs under {}/) and run.sh in {}",
        collections.len(),
        o.id,
        dir.display()
    );
    Ok(())
}
