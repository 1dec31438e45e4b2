//! The VM image for Batch custom-image pools: a Debian root file system
//! with the runner ([`rootfs`]), on a GPT disk bootable by BIOS and UEFI
//! written without loop devices or mounts ([`disk`]), as a fixed VHD
//! ([`vhd`]), optionally booted under QEMU to the runner's marker, with
//! the runner's prices compared with this host's ([`boot`]).
//!
//! Nothing is written at `--output` until the image is whole (and, with
//! `--boot-test`, has booted both ways): a failed build leaves no file.

pub mod boot;
pub mod disk;
pub mod rootfs;
pub mod vhd;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::mirror::{self, Mirror};
use crate::tools::{ImageError, ToolError};
use boot::{BootError, Booted, Firmware};
use disk::{Ids, Layout};
use vhd::VhdError;

/// The small book the runner prices at every boot: a few trades of each
/// model, small enough for an emulated CPU.
pub const BOOT_BOOK: &str = r#"{"id": "boot-gbm-call", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25}, "payoff": {"type": "european", "option": "call", "strike": 105}, "maturity": 0.5, "steps": 1, "paths": 20000}
{"id": "boot-heston-put", "model": {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.04, "xi": 0.5, "rho": -0.7}, "payoff": {"type": "european", "option": "put", "strike": 95}, "maturity": 1, "steps": 24, "paths": 4000}
{"id": "boot-down-out", "model": {"type": "gbm", "spot": 100, "rate": 0.03, "vol": 0.2}, "payoff": {"type": "barrier", "option": "call", "strike": 100, "barrier": 90, "direction": "down", "knock": "out", "monitoring": "continuous"}, "maturity": 1, "steps": 24, "paths": 4000}
{"id": "boot-fx-warrant", "model": {"type": "sv_fx", "spot": 0.85, "drift": 0.02, "sigma": 0.08, "volvol": 0.0015, "rho": 0.00004}, "payoff": {"type": "fx_warrant", "strike": 0.78, "warrants": 45000, "notional_per_warrant": 1000}, "maturity": 0.2, "steps": 43, "paths": 4000}
"#;

/// What `vm` builds.
#[derive(Clone, Debug)]
pub struct VmOptions {
    pub output: PathBuf,
    pub size_mib: u64,
    pub gpu_driver: bool,
    pub boot_test: bool,
    /// How long each boot may take before the test fails.
    pub boot_limit: Duration,
    pub runner: PathBuf,
    pub mirror: Option<Mirror>,
    pub cache_dir: PathBuf,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct VmBuilt {
    pub output: PathBuf,
    pub size_mib: u64,
    pub boots: Vec<Booted>,
}

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Vhd(#[from] VhdError),
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Bad options: nothing was built.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

fn other(e: impl std::fmt::Display) -> VmError {
    VmError::Other(e.to_string())
}

/// A scratch folder beside the output, removed when dropped.
struct Work(PathBuf);

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], VmError> {
    use std::io::Read;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(other)?;
    Ok(b)
}

fn new_ids() -> Result<Ids, VmError> {
    let mut b: [u8; 16] = random_bytes()?;
    // A version-4 UUID: version nibble 4, variant bits 10.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let root_uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let esp: [u8; 4] = random_bytes()?;
    Ok(Ids {
        root_uuid,
        esp_volume_id: esp.iter().map(|x| format!("{x:02x}")).collect(),
    })
}

/// A failed boot's console log, moved beside the output (which is not
/// written), and the error pointing at it there.
fn keep_serial_log(e: BootError, output: &Path) -> BootError {
    match e {
        BootError::Failed { firmware, why, log } => {
            let kept = PathBuf::from(format!(
                "{}.{}-serial.log",
                output.display(),
                firmware.to_lowercase()
            ));
            let log = match std::fs::copy(&log, &kept) {
                Ok(_) => kept.display().to_string(),
                Err(_) => log,
            };
            BootError::Failed { firmware, why, log }
        }
        e => e,
    }
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Bytes the files under `dir` take, counted in 4 KiB blocks.
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => {
                    total += 4096;
                    stack.push(e.path());
                }
                Ok(m) => total += m.len().div_ceil(4096).max(1) * 4096,
                Err(_) => {}
            }
        }
    }
    total
}

/// The first three CSV fields (id, pv, stderr) of each result row: what
/// the boot check prints.
pub fn price_rows(csv: &str) -> Vec<String> {
    csv.lines()
        .map(|l| l.splitn(4, ',').take(3).collect::<Vec<_>>().join(","))
        .collect()
}

/// The host runner's rows for the boot book.
fn host_rows(runner: &Path, work: &Path) -> Result<Vec<String>, VmError> {
    let book = work.join("boot-check.jsonl");
    let out = work.join("host-prices.csv");
    std::fs::write(&book, BOOT_BOOK).map_err(other)?;
    crate::tools::run(
        &runner.display().to_string(),
        &[
            "price".into(),
            "--input".into(),
            book.display().to_string(),
            "--output".into(),
            out.display().to_string(),
            "--engine".into(),
            "cpu".into(),
            "--threads".into(),
            "1".into(),
        ],
        &[],
        &[],
    )?;
    Ok(price_rows(&std::fs::read_to_string(&out).map_err(other)?))
}

/// Builds the VM image (and boots it).
pub fn build(o: &VmOptions) -> Result<VmBuilt, VmError> {
    let layout = Layout::new(o.size_mib).ok_or_else(|| {
        VmError::Usage(format!(
            "--size-mib {} is below the smallest disk, {} MiB",
            o.size_mib,
            disk::MIN_DISK_MIB
        ))
    })?;
    if !o.runner.is_file() {
        return Err(VmError::Usage(format!(
            "no runner at {}: build it (cargo build --release) or give --runner",
            o.runner.display()
        )));
    }
    if !is_root() {
        return Err(VmError::Usage(
            "the VM image needs root: debootstrap chroots, and the root file system keeps its owners"
                .into(),
        ));
    }
    if o.output.exists() {
        return Err(VmError::Usage(format!(
            "{} exists: remove it first",
            o.output.display()
        )));
    }
    let mirror = match &o.mirror {
        Some(m) => m.clone(),
        None => mirror::from_host().ok_or_else(|| {
            VmError::Usage(
                "no Debian mirror in this host's apt configuration: give --mirror".into(),
            )
        })?,
    };
    let parent = match o.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let work = Work(parent.join(format!(
        ".{}.work-{}",
        o.output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    )));
    let _ = std::fs::remove_dir_all(&work.0);
    std::fs::create_dir_all(&work.0).map_err(|e| other(format!("{}: {e}", work.0.display())))?;

    let tar = rootfs::base(&mirror, o.gpu_driver, &o.cache_dir)?;
    let root = work.0.join("root");
    rootfs::unpack(&tar, &root)?;
    let ids = new_ids()?;
    rootfs::customize(&root, &ids, &o.runner, BOOT_BOOK)?;

    // Refuse early, with the size it needs, rather than deep in mkfs.
    let need = tree_bytes(&root) * 115 / 100 + (64 << 20);
    let have = layout.root.size * 512;
    if need > have {
        let mib = (need - have).div_ceil(1 << 20) + o.size_mib;
        return Err(VmError::Usage(format!(
            "the root file system needs about {} MiB but --size-mib {} leaves {} MiB: give --size-mib {mib} or more",
            need >> 20,
            o.size_mib,
            have >> 20
        )));
    }

    let raw = work.0.join("disk.vhd");
    disk::write(&raw, &layout, &ids, &root, &work.0)?;
    std::fs::remove_dir_all(&root).map_err(other)?;
    vhd::append_footer(&raw)?;
    let (footer, len) = vhd::Footer::read(&raw)?;
    let problems = footer.check_azure(len);
    if !problems.is_empty() {
        return Err(other(format!(
            "the VHD is not what Azure takes: {}",
            problems.join("; ")
        )));
    }

    let mut boots = Vec::new();
    if o.boot_test {
        let expected = host_rows(&o.runner, &work.0)?;
        for firmware in [Firmware::Bios, Firmware::Uefi] {
            // The scratch folder goes with a failure: keep its console log.
            let booted = boot::boot(&raw, firmware, &work.0, o.boot_limit)
                .map_err(|e| keep_serial_log(e, &o.output))?;
            if booted.lines != expected {
                return Err(other(format!(
                    "{} boot: the runner in the VM printed\n  {}\nbut this host's prices are\n  {}",
                    firmware.name(),
                    booted.lines.join("\n  "),
                    expected.join("\n  ")
                )));
            }
            boots.push(booted);
        }
    }
    std::fs::rename(&raw, &o.output)
        .map_err(|e| other(format!("cannot write {}: {e}", o.output.display())))?;
    Ok(VmBuilt {
        output: o.output.clone(),
        size_mib: o.size_mib,
        boots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_well_formed() {
        let ids = new_ids().unwrap();
        let parts: Vec<&str> = ids.root_uuid.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!("89ab".contains(&parts[3][..1]));
        assert_eq!(ids.esp_uuid().len(), 9);
    }

    #[test]
    fn price_rows_keep_id_pv_and_stderr() {
        let csv = "id,pv,stderr,paths,engine\na,1.5,0.25,100,cpu\n";
        assert_eq!(price_rows(csv), ["id,pv,stderr", "a,1.5,0.25"]);
    }
}
