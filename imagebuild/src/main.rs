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

mod batch_cli;
use batch_cli::{batch_job, batch_pool, BatchCommand};
use riskpool_imagebuild::container::{self, Auth, BuildOptions, RegistryOptions, Variant};
use riskpool_imagebuild::mirror::Mirror;
use riskpool_imagebuild::schema::{self, Definitions};
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
                    .ok_or_else(|| UsageError("--creds must be USER:PASS".into()))?;
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
        /// Another API definitions file (a Swagger document) instead of the
        /// embedded ones (imagebuild/batch-api/: the data plane's and the
        /// management plane's, picked by --definition).
        #[arg(long)]
        schema: Option<PathBuf>,
        /// The root definition, e.g. PoolAddParameter.
        #[arg(long)]
        definition: String,
        body: PathBuf,
    },
}

/// Bad usage or input, refused before anything is written: exit 2 (the
/// runner's `UsageError` has the same name and meaning).
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Checks each `(root definition, name, body)` against `--schema`, or
/// where none is given against the embedded definitions that hold the root
/// (the data plane's for `PoolAddParameter`, the management plane's for
/// `Pool`): every body is checked, always.
fn check(schema: Option<&Path>, bodies: &[(&str, &str, &Value)]) -> Result<()> {
    let given =
        match schema {
            Some(path) => Some(Definitions::load(path).map_err(|e| {
                UsageError(format!("--schema: cannot read the API definitions: {e}"))
            })?),
            None => None,
        };
    let data = Definitions::builtin(schema::DATA_PLANE);
    let management = Definitions::builtin(schema::MANAGEMENT_PLANE);
    let mut problems = Vec::new();
    for (root, name, body) in bodies {
        let defs = match &given {
            Some(d) => d,
            None if management.has(root) && !data.has(root) => &management,
            None => &data,
        };
        if !defs.has(root) {
            let known = match &given {
                Some(d) => d.roots().join(", "),
                None => "PoolAddParameter, JobAddParameter, TaskAddParameter, TaskAddCollectionParameter (data plane), Pool (management plane)".to_string(),
            };
            bail!(UsageError(format!(
                "--definition {root}: no such definition; the definitions hold: {known}"
            )));
        }
        problems.extend(
            defs.check(root, body, name)
                .into_iter()
                .map(|e| e.to_string()),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(UsageError(format!(
            "the Batch API would refuse this:\n  {}",
            problems.join("\n  ")
        )))
    }
}

fn write(path: &Path, body: &Value) -> Result<()> {
    if path.is_dir() {
        bail!(UsageError(format!(
            "{}: is a folder; give a file name",
            path.display()
        )));
    }
    let text = serde_json::to_string_pretty(body)? + "\n";
    // `<output>.tmp` beside it: its own name, never another file's.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, text)
        .with_context(|| format!("cannot write {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
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
                VmError::Usage(m) => anyhow::Error::new(UsageError(m)),
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
            let text = riskpool_imagebuild::schema::read_json_file(&body).map_err(UsageError)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| UsageError(format!("{}: {e}", body.display())))?;
            check(schema.as_deref(), &[(&definition, "body", &v)])?;
            eprintln!("riskpool-image: {} is a valid {definition}", body.display());
            Ok(())
        }
        Command::Batch(BatchCommand::Pool(a)) => batch_pool(a),
        Command::Batch(BatchCommand::Job(a)) => batch_job(a),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riskpool-image: error: {e:#}");
            ExitCode::from(if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            })
        }
    }
}
