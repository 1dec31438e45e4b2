//! The VM image end to end with real tools: debootstrap from the host's
//! mirror, sfdisk, mkfs.ext4 -d, mkfs.vfat, mtools and GRUB write a disk
//! file with no loop device or mount; QEMU (software emulation) boots the
//! VHD by BIOS and by UEFI until the runner's marker, and the prices it
//! printed must equal this host's (`--boot-test` checks both). Here the
//! VHD footer, the partition table and the root file system are read back
//! independently; a disk too small for the root file system, and a boot
//! that misses its time, fail with a clear message and leave no VHD.
//!
//! scripts/test installs the tools and sets RISKPOOL_REQUIRE_IMAGE_TOOLS=1,
//! so CI cannot skip this; elsewhere it skips, saying which tool is missing.

use crate::common;

use crate::common::{cache, runner};
use std::path::Path;
use std::process::{Command, Output};

fn tools_missing() -> Option<String> {
    common::missing(
        &[
            "debootstrap",
            "sfdisk",
            "mkfs.ext4",
            "debugfs",
            "mkfs.vfat",
            "mcopy",
            "grub-mkimage",
            "qemu-system-x86_64",
        ],
        &[
            ("/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"),
            ("/usr/lib/grub/x86_64-efi/moddep.lst", "grub-efi-amd64-bin"),
            ("/usr/share/OVMF", "ovmf"),
        ],
    )
}

fn vm(output: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riskpool-image"))
        .arg("vm")
        .arg("--output")
        .arg(output)
        .arg("--runner")
        .arg(runner())
        .arg("--cache-dir")
        .arg(cache())
        .args(extra)
        .output()
        .unwrap()
}

fn be(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n].iter().fold(0, |v, x| (v << 8) | *x as u64)
}

#[test]
fn vm_image_boots_by_bios_and_uefi_and_is_a_fixed_vhd() {
    if let Some(why) = tools_missing() {
        eprintln!("skipping: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vhd = dir.path().join("riskpool.vhd");
    let o = vm(
        &vhd,
        &["--size-mib", "1536", "--boot-test", "--boot-timeout", "420"],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "vm failed:\n{stdout}\n{stderr}");
    for firmware in ["BIOS", "UEFI"] {
        assert!(
            stdout.contains(&format!("{firmware} boot: runner marker after"))
                && stdout.contains("4 boot-check rows equal to this host's"),
            "{stdout}"
        );
    }

    // The footer, read here byte by byte from the VHD specification.
    let bytes = std::fs::metadata(&vhd).unwrap().len();
    assert_eq!(bytes, (1536 << 20) + 512);
    let mut f = std::fs::File::open(&vhd).unwrap();
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::End(-512)).unwrap();
    let mut footer = [0u8; 512];
    f.read_exact(&mut footer).unwrap();
    assert_eq!(&footer[0..8], b"conectix");
    assert_eq!(be(&footer, 60, 4), 2, "disk type: fixed");
    assert_eq!(be(&footer, 48, 8), 1536 << 20, "current size");
    assert_eq!(be(&footer, 40, 8), 1536 << 20, "original size");
    assert_eq!(
        be(&footer, 16, 8),
        u64::MAX,
        "a fixed disk has no data offset"
    );
    let sum: u32 = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .map(|(_, b)| *b as u32)
        .sum();
    assert_eq!(be(&footer, 64, 4) as u32, !sum, "footer checksum");

    // The protective MBR with GRUB's code, and the GPT as sfdisk reads it.
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut mbr = [0u8; 512];
    f.read_exact(&mut mbr).unwrap();
    assert_eq!(&mbr[510..], &[0x55, 0xaa]);
    assert_eq!(mbr[0x1be + 4], 0xee, "protective MBR partition");
    assert_eq!(
        u64::from_le_bytes(mbr[0x5c..0x64].try_into().unwrap()),
        2048,
        "boot code points at the BIOS boot partition"
    );
    let table = Command::new("sfdisk").arg("-J").arg(&vhd).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&table.stdout).unwrap();
    let parts = json["partitiontable"]["partitions"].as_array().unwrap();
    let kinds: Vec<(&str, u64)> = parts
        .iter()
        .map(|p| (p["type"].as_str().unwrap(), p["start"].as_u64().unwrap()))
        .collect();
    assert_eq!(json["partitiontable"]["label"], "gpt");
    assert_eq!(
        kinds,
        [
            ("21686148-6449-6E6F-744E-656564454649", 2048),
            ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 4096),
            ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", 135168),
        ]
    );
    // The root file system, read through debugfs without mounting it: the
    // runner, and a generalized Azure image (no SSH host keys, an empty
    // machine id, cloud-init for Azure, waagent leaving provisioning to it).
    let root = format!("{}?offset={}", vhd.display(), 135168 * 512);
    let debugfs = |request: &str| {
        let o = Command::new("debugfs")
            .args(["-R", request, &root])
            .output()
            .unwrap();
        assert!(o.status.success(), "debugfs {request}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let runner_len = std::fs::metadata(runner()).unwrap().len();
    assert!(
        debugfs("stat /usr/local/bin/riskpool").contains(&format!("Size: {runner_len}")),
        "the runner is in the image"
    );
    assert!(debugfs("cat /etc/waagent.conf").contains("\nProvisioning.Agent=cloud-init\n"));
    assert!(debugfs("cat /etc/cloud/cloud.cfg.d/90-riskpool-azure.cfg")
        .contains("datasource_list: [ Azure ]"));
    assert_eq!(debugfs("cat /etc/machine-id"), "");
    let ssh = debugfs("ls /etc/ssh");
    assert!(
        ssh.contains("sshd_config") && !ssh.contains("ssh_host_"),
        "{ssh}"
    );
    let wants = debugfs("ls /etc/systemd/system/multi-user.target.wants");
    for unit in [
        "riskpool-boot.service",
        "walinuxagent.service",
        "ssh.service",
    ] {
        assert!(wants.contains(unit), "{unit} is not enabled: {wants}");
    }

    // The work folder went with the build.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("riskpool.vhd")]);

    // A disk too small for the root file system: exit 2, a clear message,
    // no file (the base comes from the cache the build above filled).
    let small = dir.path().join("small.vhd");
    let o = vm(&small, &["--size-mib", "300"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("give --size-mib"), "{stderr}");
    let o = vm(&small, &["--size-mib", "100"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("below the smallest disk"));
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(left, 1, "nothing but the first VHD is left");

    // A boot that does not reach the marker in time: exit 1, no VHD, and
    // the console log kept beside where the VHD would have been.
    let late = dir.path().join("late.vhd");
    let o = vm(
        &late,
        &["--size-mib", "1536", "--boot-test", "--boot-timeout", "2"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("BIOS boot: no marker within 2 s"),
        "{stderr}"
    );
    let log = dir.path().join("late.vhd.bios-serial.log");
    assert!(stderr.contains(&log.display().to_string()), "{stderr}");
    assert!(log.is_file() && !late.exists());
}
