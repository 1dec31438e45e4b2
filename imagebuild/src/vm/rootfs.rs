//! The VM's Debian root file system: a debootstrap base (cached as a
//! tarball, since it is most of the build's time and its network traffic),
//! then what makes it a riskpool Batch node: the runner, a boot check
//! unit, fstab, GRUB's config, the Azure agent's and cloud-init's
//! settings, and nothing that must differ between VMs (machine id, SSH
//! host keys), as a generalized image must be.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::disk::Ids;
use crate::mirror::Mirror;
use crate::tools::{self, other, strs as s, ImageError, ToolError};

/// Debian packages beyond minbase. zstd is initramfs-tools' default
/// compression (without it, gzip: slower to unpack). The cloud kernel has the Hyper-V
/// drivers (and virtio, for QEMU); waagent and cloud-init provision the VM
/// on Azure; cloud-guest-utils and fdisk let cloud-init grow the root
/// partition to the OS disk's size. debootstrap does not resolve virtual
/// packages, so their providers are named: python3-cffi-backend for
/// python3-cryptography, nvidia-kernel-support for nvidia-kernel-dkms.
pub const PACKAGES: &[&str] = &[
    "linux-image-cloud-amd64",
    "systemd-sysv",
    "udev",
    "kmod",
    "initramfs-tools",
    "zstd",
    "waagent",
    "cloud-init",
    "python3-cffi-backend",
    "cloud-guest-utils",
    "fdisk",
    "openssh-server",
    "sudo",
    "ca-certificates",
    "iproute2",
    "netbase",
];

/// `--gpu-driver`: NVIDIA's driver (built by DKMS for the cloud kernel),
/// the CUDA driver library, nvidia-smi, the GSP firmware and NVRTC.
pub const GPU_PACKAGES: &[&str] = &[
    "linux-headers-cloud-amd64",
    "nvidia-kernel-dkms",
    "nvidia-kernel-support",
    "libcuda1",
    "nvidia-smi",
    "firmware-nvidia-gsp",
    "libnvrtc11.2",
];

/// FNV-1a of the things a cached base depends on, for its file name.
fn key(parts: &[&str]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in parts.join("\n").bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The cached base tarball for `mirror` (with the GPU driver or not), built if missing.
pub fn base(mirror: &Mirror, gpu: bool, cache_dir: &Path) -> Result<PathBuf, ImageError> {
    let mut packages: Vec<&str> = PACKAGES.to_vec();
    let components = if gpu {
        packages.extend(GPU_PACKAGES);
        "main,contrib,non-free,non-free-firmware"
    } else {
        "main"
    };
    let include = packages.join(",");
    let tar = cache_dir.join(format!(
        "debian-{}-vm-{}.tar",
        mirror.suite,
        key(&[&mirror.uri, &mirror.suite, components, &include])
    ));
    if tar.exists() {
        return Ok(tar);
    }
    tools::require("debootstrap", "debootstrap")?;
    std::fs::create_dir_all(cache_dir).map_err(other)?;
    let root = cache_dir.join(format!(".vm-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let built = tools::run(
        "debootstrap",
        &[
            "--variant=minbase".into(),
            format!("--components={components}"),
            format!("--include={include}"),
            mirror.suite.clone(),
            root.display().to_string(),
            mirror.uri.clone(),
        ],
        &[],
        &[],
    )
    .map_err(|e| match e {
        ToolError::Failed { message, .. } => {
            let log = root.join("debootstrap/debootstrap.log");
            let why = std::fs::read_to_string(&log)
                .ok()
                .and_then(|t| dpkg_problem(&t))
                .unwrap_or(message);
            ImageError::Other(format!(
                "debootstrap failed: {why} (its log: {})",
                log.display()
            ))
        }
        e => e.into(),
    });
    let result = built.and_then(|_| {
        let _ = std::fs::remove_dir_all(root.join("var/cache/apt/archives"));
        let _ = std::fs::remove_dir_all(root.join("var/lib/apt/lists"));
        let partial = tar.with_extension("tar.partial");
        tar_in(&root, &["-cf", &partial.display().to_string(), "."])?;
        std::fs::rename(&partial, &tar).map_err(other)
    });
    // On failure the tree stays for its debootstrap log; on success it goes.
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&root);
    }
    result.map(|_| tar)
}

/// The first dependency or configuration problem dpkg logged, if any.
fn dpkg_problem(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    lines.iter().enumerate().find_map(|(i, l)| {
        if l.contains("; however:") {
            let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or("");
            Some(format!("{} {next}", l.trim()))
        } else if l.contains("error processing package") {
            Some(l.trim().to_string())
        } else {
            None
        }
    })
}

/// Runs tar in `dir`, keeping numeric owners and extended attributes.
fn tar_in(dir: &Path, args: &[&str]) -> Result<(), ImageError> {
    let mut a = s(&[
        "-C",
        &dir.display().to_string(),
        "--numeric-owner",
        "--xattrs",
    ]);
    a.extend(s(args));
    tools::run("tar", &a, &[], &[])?;
    Ok(())
}

/// Unpacks `tar` into `root` (which must not exist).
pub fn unpack(tar: &Path, root: &Path) -> Result<(), ImageError> {
    std::fs::create_dir(root).map_err(|e| other(format!("{}: {e}", root.display())))?;
    tar_in(root, &["-xpf", &tar.display().to_string()])
}

/// The boot check unit: the runner prices a small book at every boot, and
/// the prices and the marker go to the console (the serial port on Azure,
/// where boot diagnostics show it, and under QEMU).
pub const BOOT_CHECK_UNIT: &str = "\
[Unit]
Description=riskpool boot check: price a small book with the runner
After=local-fs.target

[Service]
Type=oneshot
RuntimeDirectory=riskpool-boot
ExecStart=/usr/local/bin/riskpool price --input /usr/share/riskpool/boot-check.jsonl --output /run/riskpool-boot/prices.csv --engine cpu --threads 1
ExecStartPost=/bin/sh -c 'cut -d, -f1-3 /run/riskpool-boot/prices.csv | sed \"s/^/riskpool-boot: /\"; echo \"riskpool-boot: ok $(/usr/local/bin/riskpool --version)\"'
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
";

/// The kernel command line: the serial console last, so /dev/console is
/// ttyS0 (Azure's serial console and boot diagnostics read it).
pub fn kernel_cmdline(ids: &Ids) -> String {
    format!(
        "root=UUID={} ro console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0,115200",
        ids.root_uuid
    )
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> Result<(), ImageError> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(other)?;
    }
    std::fs::write(&p, text).map_err(|e| other(format!("{}: {e}", p.display())))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(other)
}

/// Sets `key=value` in an `key=value` config file's text, adding it if absent.
pub fn set_option(text: &str, key: &str, value: &str) -> String {
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
                found = true;
                format!("{key}={value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(format!("{key}={value}"));
    }
    out.join("\n") + "\n"
}

/// Makes the unpacked base a riskpool node image.
pub fn customize(root: &Path, ids: &Ids, runner: &Path, boot_book: &str) -> Result<(), ImageError> {
    let bin = root.join("usr/local/bin/riskpool");
    std::fs::create_dir_all(root.join("usr/local/bin")).map_err(other)?;
    std::fs::copy(runner, &bin).map_err(|e| other(format!("{}: {e}", runner.display())))?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).map_err(other)?;
    write(
        root,
        "usr/share/riskpool/boot-check.jsonl",
        boot_book,
        0o644,
    )?;
    write(
        root,
        "etc/systemd/system/riskpool-boot.service",
        BOOT_CHECK_UNIT,
        0o644,
    )?;
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).map_err(other)?;
    let link = wants.join("riskpool-boot.service");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/etc/systemd/system/riskpool-boot.service", &link)
        .map_err(other)?;

    write(
        root,
        "etc/fstab",
        &format!(
            "# riskpool-image: the root file system and the EFI system partition\n\
             UUID={} / ext4 defaults,discard,errors=remount-ro 0 1\n\
             UUID={} /boot/efi vfat umask=0077,nofail 0 2\n",
            ids.root_uuid,
            ids.esp_uuid()
        ),
        0o644,
    )?;
    std::fs::create_dir_all(root.join("boot/efi")).map_err(other)?;
    // /vmlinuz and /initrd.img are the kernel package's own links to the
    // newest kernel, so this config outlives kernel updates.
    write(
        root,
        "boot/grub/grub.cfg",
        &format!(
            "serial --unit=0 --speed=115200\n\
             terminal_input console serial\n\
             terminal_output console serial\n\
             set timeout=1\n\
             menuentry 'Debian (riskpool)' {{\n\
             \tlinux /vmlinuz {}\n\
             \tinitrd /initrd.img\n\
             }}\n",
            kernel_cmdline(ids)
        ),
        0o644,
    )?;
    write(root, "etc/hostname", "riskpool\n", 0o644)?;
    write(
        root,
        "etc/hosts",
        "127.0.0.1 localhost\n127.0.1.1 riskpool\n::1 localhost ip6-localhost ip6-loopback\n",
        0o644,
    )?;

    // cloud-init provisions (users, SSH keys, host name, the resource disk
    // at /mnt); waagent reports readiness and runs extensions.
    write(
        root,
        "etc/cloud/cloud.cfg.d/90-riskpool-azure.cfg",
        "# riskpool-image: an Azure Batch node\ndatasource_list: [ Azure ]\n",
        0o644,
    )?;
    let waagent = root.join("etc/waagent.conf");
    let mut conf = std::fs::read_to_string(&waagent).map_err(|e| {
        other(format!(
            "{}: {e} (is waagent installed?)",
            waagent.display()
        ))
    })?;
    for (k, v) in [
        ("Provisioning.Agent", "cloud-init"),
        ("ResourceDisk.Format", "n"),
        ("ResourceDisk.EnableSwap", "n"),
    ] {
        conf = set_option(&conf, k, v);
    }
    std::fs::write(&waagent, conf).map_err(other)?;

    // Generalized: every VM makes its own machine id and SSH host keys.
    write(root, "etc/machine-id", "", 0o444)?;
    let _ = std::fs::remove_file(root.join("var/lib/dbus/machine-id"));
    if let Ok(dir) = std::fs::read_dir(root.join("etc/ssh")) {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                std::fs::remove_file(e.path()).map_err(other)?;
            }
        }
    }
    let _ = std::fs::remove_dir_all(root.join("var/lib/cloud"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_option_replaces_or_appends() {
        let t = "# c\nResourceDisk.Format=y\nOther=1\n";
        assert_eq!(
            set_option(t, "ResourceDisk.Format", "n"),
            "# c\nResourceDisk.Format=n\nOther=1\n"
        );
        assert!(set_option(t, "New.Key", "v").ends_with("Other=1\nNew.Key=v\n"));
    }

    #[test]
    fn dpkg_problem_names_the_missing_dependency() {
        let log = "Setting up x ...\ndpkg: dependency problems prevent configuration of a:\n a depends on b--v1; however:\n  Package b--v1 is not installed.\n";
        assert_eq!(
            dpkg_problem(log).as_deref(),
            Some("a depends on b--v1; however: Package b--v1 is not installed.")
        );
        assert_eq!(dpkg_problem("all fine\n"), None);
    }

    #[test]
    fn cache_key_depends_on_every_part() {
        assert_ne!(key(&["a", "b"]), key(&["a", "c"]));
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
    }
}
