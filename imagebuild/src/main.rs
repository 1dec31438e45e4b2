//! riskpool-image: the container image riskpool's Batch pools run (built,
//! pushed to a private registry, verified), the VM image of custom-image
//! pools (a fixed VHD, boot-tested under QEMU), and the Batch pool and job
//! JSON, checked against the Batch REST API definitions before anything is
//! written.
//!
//! Exit codes: 0 written; 2 bad usage or a body the API would refuse
//! (every problem listed, nothing written); 1 a failure while writing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use riskpool_imagebuild::batch::{
    self, JobOptions, MarketplaceImage, NodeImage, Plane, PoolOptions, Scale, Storage,
};
use riskpool_imagebuild::container::{self, Auth, BuildOptions, RegistryOptions, Variant};
use riskpool_imagebuild::mirror::Mirror;
use riskpool_imagebuild::schema::Definitions;
use riskpool_imagebuild::vm::{self, VmError, VmOptions};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "riskpool-image",
    version,
    about = "Images and Azure Batch JSON for riskpool pools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Registry options of `container` and `verify`.
#[derive(clap::Args)]
struct RegistryArgs {
    /// Registry credentials (kept in a private auth file, never logged).
    #[arg(long, value_name = "USER:PASS", conflicts_with = "authfile")]
    creds: Option<String>,
    /// A containers auth file (as podman login writes).
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Folder with the registry's CA certificate (ca.crt).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// TLS verification (on by default; off only for a test registry).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
}

impl RegistryArgs {
    fn options(&self) -> Result<RegistryOptions> {
        let auth = match (&self.creds, &self.authfile) {
            (Some(c), _) => {
                let (user, password) = c
                    .split_once(':')
                    .ok_or_else(|| Refused("--creds must be USER:PASS".into()))?;
                Auth::Creds {
                    user: user.into(),
                    password: password.into(),
                }
            }
            (None, Some(f)) => Auth::AuthFile(f.clone()),
            (None, None) => Auth::None,
        };
        Ok(RegistryOptions {
            auth,
            cert_dir: self.cert_dir.clone(),
            tls_verify: self.tls_verify,
        })
    }
}

/// The riskpool binary beside this one, or in this workspace's target/release.
fn default_runner() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("riskpool")));
    beside
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("target/release/riskpool"))
}

/// `$XDG_CACHE_HOME/riskpool-image`, or `~/.cache/riskpool-image`.
fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("riskpool-image")
}

#[derive(Subcommand)]
enum Command {
    /// Build the container image (and push it to a registry).
    Container {
        #[arg(long, value_enum)]
        variant: Variant,
        /// The image reference, e.g. myacr.azurecr.io/riskpool:cuda.
        #[arg(long)]
        tag: String,
        /// Base image instead of a Debian minbase built here.
        #[arg(long)]
        base: Option<String>,
        /// Push to the tag's registry.
        #[arg(long)]
        push: bool,
        #[command(flatten)]
        registry: RegistryArgs,
        /// The riskpool binary to install (default: beside riskpool-image).
        #[arg(long)]
        runner: Option<PathBuf>,
        /// Debian archive URI (default: this host's apt configuration).
        #[arg(long)]
        mirror: Option<String>,
        #[arg(long, default_value = "bookworm")]
        suite: String,
        /// Where base rootfs tarballs are cached between builds.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Write the pushed digest here too.
        #[arg(long)]
        digest_file: Option<PathBuf>,
    },
    /// Inspect a pushed image, pull it back, run riskpool in it, compare with this host.
    Verify {
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
        #[arg(long)]
        runner: Option<PathBuf>,
    },
    /// Build the VM image of custom-image pools: a fixed VHD bootable by BIOS and UEFI.
    Vm {
        /// The VHD to write (nothing is written unless the build succeeds).
        #[arg(long)]
        output: PathBuf,
        /// The disk's size in MiB (cloud-init grows the root partition to the OS disk's size).
        #[arg(long, default_value_t = 2048)]
        size_mib: u64,
        /// Add NVIDIA's driver (DKMS), libcuda, nvidia-smi and NVRTC from Debian's non-free.
        #[arg(long)]
        gpu_driver: bool,
        /// Boot the image under QEMU (BIOS, then UEFI) and compare the runner's prices with this host's.
        #[arg(long)]
        boot_test: bool,
        /// Seconds each boot may take.
        #[arg(long, default_value_t = 600)]
        boot_timeout: u64,
        /// The riskpool binary to install (default: beside riskpool-image).
        #[arg(long)]
        runner: Option<PathBuf>,
        /// Debian archive URI (default: this host's apt configuration).
        #[arg(long, requires = "suite")]
        mirror: Option<String>,
        #[arg(long)]
        suite: Option<String>,
        /// Where base rootfs tarballs are cached between builds.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Azure Batch request bodies.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Check a JSON body against a definition of the Batch REST API.
    Check {
        /// The API definitions (shared/azure-batch/BatchService-*.definitions.json).
        #[arg(long)]
        schema: PathBuf,
        /// The root definition, e.g. PoolAddParameter.
        #[arg(long)]
        definition: String,
        body: PathBuf,
    },
}

#[derive(Subcommand)]
enum BatchCommand {
    /// The pool body: the management plane's (identity + properties, created
    /// with `az rest --method put`), or the data plane's Pool_Add.
    Pool(PoolArgs),
    /// The Job_Add body, the task collections of the task graph and run.sh.
    Job(JobArgs),
}

#[derive(clap::Args)]
struct PoolArgs {
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
    /// API definitions to check the body against before writing it (the
    /// BatchManagement file for --plane management, BatchService for data).
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
struct JobArgs {
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
    /// Price an existing azfinsim trade file: its blob name in the container
    /// (run.sh submit BOOK.csv uploads it there).
    #[arg(long)]
    book: Option<String>,
    /// Price tasks (the trades are split into this many files): 1 to 10,000.
    #[arg(long)]
    tasks: u64,
    #[arg(long, default_value = "pvonly", value_parser = ["pvonly", "deltavega"])]
    algorithm: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The job's blob container, https://ACCOUNT.blob.core.windows.net/CONTAINER.
    #[arg(long)]
    storage_url: String,
    /// The pool's user-assigned identity (resource id) that reads and writes the container.
    #[arg(long)]
    identity: String,
    #[arg(long, default_value_t = 3)]
    max_retries: i32,
    #[arg(long)]
    schema: Option<PathBuf>,
    /// A management-plane pool body for run.sh to create the pool with if it is missing.
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

/// A usage or validation failure: exit 2.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn check(schema: Option<&Path>, bodies: &[(&str, &str, &Value)]) -> Result<()> {
    let Some(path) = schema else { return Ok(()) };
    let defs = Definitions::load(path)
        .map_err(|e| Refused(format!("cannot read the API definitions: {e}")))?;
    let mut problems = Vec::new();
    for (root, name, body) in bodies {
        problems.extend(
            defs.check(root, body, name)
                .into_iter()
                .map(|e| e.to_string()),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(Refused(format!(
            "the Batch API would refuse this:\n  {}",
            problems.join("\n  ")
        )))
    }
}

fn write(path: &Path, body: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(body)? + "\n";
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn run(cli: Cli) -> Result<()> {
    if matches!(
        cli.command,
        Command::Container { .. } | Command::Verify { .. } | Command::Vm { .. }
    ) {
        // SIGINT/SIGTERM end the tools and remove the auth file's folder.
        riskpool_imagebuild::cleanup::install().context("cannot catch SIGINT and SIGTERM")?;
    }
    match cli.command {
        Command::Container {
            variant,
            tag,
            base,
            push,
            registry,
            runner,
            mirror,
            suite,
            cache_dir,
            digest_file,
        } => {
            let cache_dir = cache_dir.unwrap_or_else(default_cache_dir);
            let revision = duct::cmd!("git", "rev-parse", "HEAD")
                .stderr_null()
                .unchecked()
                .read()
                .unwrap_or_default();
            let built = container::build(&BuildOptions {
                variant,
                tag: tag.clone(),
                base,
                push,
                registry: registry.options()?,
                runner: runner.unwrap_or_else(default_runner),
                mirror: mirror.map(|uri| Mirror { uri, suite }),
                cache_dir,
                digest_file,
                source: "riskpool".into(),
                revision: if revision.trim().is_empty() {
                    "unknown".into()
                } else {
                    revision.trim().to_string()
                },
            })?;
            println!(
                "{tag} {}",
                built.digest.as_deref().unwrap_or(&built.image_id)
            );
            Ok(())
        }
        Command::Verify {
            reference,
            registry,
            runner,
        } => {
            let v = container::verify(
                &reference,
                &registry.options()?,
                &runner.unwrap_or_else(default_runner),
            )?;
            println!(
                "{reference} {} verified: variant {}, user {}, {} prices equal to the host's",
                v.digest, v.variant, v.user, v.rows
            );
            Ok(())
        }
        Command::Vm {
            output,
            size_mib,
            gpu_driver,
            boot_test,
            boot_timeout,
            runner,
            mirror,
            suite,
            cache_dir,
        } => {
            let built = vm::build(&VmOptions {
                output,
                size_mib,
                gpu_driver,
                boot_test,
                boot_limit: std::time::Duration::from_secs(boot_timeout),
                runner: runner.unwrap_or_else(default_runner),
                mirror: mirror.zip(suite).map(|(uri, suite)| Mirror { uri, suite }),
                cache_dir: cache_dir.unwrap_or_else(default_cache_dir),
            })
            .map_err(|e| match e {
                VmError::Usage(m) => anyhow::Error::new(Refused(m)),
                e => anyhow::Error::new(e),
            })?;
            for b in &built.boots {
                println!(
                    "{} boot: runner marker after {:.0} s ({}), {} boot-check rows equal to this host's",
                    b.firmware.name(),
                    b.seconds,
                    b.version,
                    b.lines.len().saturating_sub(1)
                );
            }
            println!(
                "{}: fixed VHD, {} MiB, bootable by BIOS and UEFI",
                built.output.display(),
                built.size_mib
            );
            Ok(())
        }
        Command::Check {
            schema,
            definition,
            body,
        } => {
            let text = std::fs::read_to_string(&body)
                .with_context(|| format!("cannot read {}", body.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| Refused(format!("{}: {e}", body.display())))?;
            check(Some(&schema), &[(&definition, "body", &v)])?;
            eprintln!("riskpool-image: {} is a valid {definition}", body.display());
            Ok(())
        }
        Command::Batch(BatchCommand::Pool(a)) => batch_pool(a),
        Command::Batch(BatchCommand::Job(a)) => batch_job(a),
    }
}

fn refuse_all(problems: Vec<batch::rules::Refusal>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    bail!(Refused(format!(
        "the Batch service would refuse this:\n  {}",
        lines.join("\n  ")
    )))
}

fn batch_pool(a: PoolArgs) -> Result<()> {
    if let Some(n) = a.low_priority {
        bail!(Refused(format!(
            "--low-priority {n}: Batch-managed accounts' low-priority VMs were retired on 2025-09-30; \
             use --spot {n}, which needs a Batch account in UserSubscription pool allocation mode"
        )));
    }
    let image = match (a.image, a.gallery_image) {
        (Some(image), None) => NodeImage::Container {
            node: match &a.node_image {
                Some(s) => MarketplaceImage::parse(s).ok_or_else(|| {
                    Refused(format!(
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
        _ => bail!(Refused(
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
    if let Some(id) = &a.account_id {
        if !batch::script::account_id_ok(id) {
            problems.push(batch::rules::Refusal {
                field: "--account-id".into(),
                message: format!("`{id}` is not a Batch account's resource id: /subscriptions/S/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/NAME"),
            });
        }
    }
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
    if spot {
        eprintln!("riskpool-image: note: spot nodes (targetLowPriorityNodes) need a Batch account in UserSubscription pool allocation mode; a Batch-managed account gets none");
    }
    let template = a
        .arm_template
        .as_ref()
        .map(|_| batch::pool::arm_template(&o));
    if template.is_some() && a.plane == Plane::Data {
        bail!(Refused(
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

fn batch_job(a: JobArgs) -> Result<()> {
    let o = JobOptions {
        id: a.id,
        pool_id: a.pool_id,
        image: a.image,
        trades: a.trades,
        book: a.book,
        price_tasks: a.tasks,
        algorithm: a.algorithm,
        seed: a.seed,
        storage: Storage {
            url: a.storage_url,
            identity: a.identity,
        },
        max_retries: a.max_retries,
    };
    let mut problems = batch::rules::check_job(&o);
    if let Some(id) = &a.account_id {
        if !batch::script::account_id_ok(id) {
            problems.push(batch::rules::Refusal {
                field: "--account-id".into(),
                message: format!("`{id}` is not a Batch account's resource id: /subscriptions/S/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/NAME"),
            });
        }
    }
    let pool_body = match &a.pool_body {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Refused(format!("--pool-body {}: {e}", p.display())))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| Refused(format!("--pool-body {}: {e}", p.display())))?;
            if v.get("properties").is_none() {
                problems.push(batch::rules::Refusal {
                    field: "--pool-body".into(),
                    message: format!("{} is not a management-plane pool body (no `properties`): write it with riskpool-image batch pool --plane management", p.display()),
                });
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
        bail!(Refused(format!(
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
    eprintln!(
        "riskpool-image: job.json, {} task collections ({} price tasks, blobs under {}/) and run.sh in {}",
        collections.len(),
        o.parts(),
        o.id,
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riskpool-image: error: {e:#}");
            ExitCode::from(if e.downcast_ref::<Refused>().is_some() {
                2
            } else {
                1
            })
        }
    }
}
