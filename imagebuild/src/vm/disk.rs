//! The partitioned disk, written into one file without loop devices or
//! mounts: sfdisk writes a GPT; mkfs.ext4 -d fills the root file system
//! and mkfs.vfat makes the EFI system partition, each at its partition's
//! offset in the file; mtools copies GRUB's EFI image in; GRUB's BIOS boot
//! sector and core image are written at their sectors here.
//!
//! Layout (sectors of 512 bytes), bootable by BIOS (Azure generation 1)
//! and UEFI (generation 2):
//!
//! | partition | start | size | holds |
//! |---|---|---|---|
//! | MBR (LBA 0) | 0 | 1 | GRUB boot.img, protective MBR |
//! | 1 BIOS boot | 1 MiB | 1 MiB | GRUB core.img (i386-pc) |
//! | 2 EFI system | 2 MiB | 64 MiB | FAT32, \EFI\BOOT\BOOTX64.EFI |
//! | 3 root | 66 MiB | to 1 MiB before the end | ext4, `/` |

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use crate::tools::{self, other, strs as s, ImageError, ToolError};

const SECTOR: u64 = 512;
const MIB_SECTORS: u64 = 2048;
/// Where GRUB's i386-pc and x86_64-efi modules are (grub-pc-bin, grub-efi-amd64-bin).
const GRUB_PC: &str = "/usr/lib/grub/i386-pc";
const GRUB_EFI: &str = "/usr/lib/grub/x86_64-efi";

/// GRUB modules built into both images, so nothing is loaded from disk.
const GRUB_MODULES: &[&str] = &[
    "part_gpt",
    "ext2",
    "search",
    "search_fs_uuid",
    "configfile",
    "normal",
    "linux",
    "echo",
    "test",
    "serial",
    "terminal",
    "gzio",
];

/// A partition, in sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    pub size: u64,
}

impl Part {
    pub fn offset(&self) -> u64 {
        self.start * SECTOR
    }
}

/// Where everything goes on a disk of `disk_mib` MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub disk_mib: u64,
    pub bios_boot: Part,
    pub esp: Part,
    pub root: Part,
}

pub const ESP_MIB: u64 = 64;
/// The smallest disk: the partitions before root, root's first 64 MiB, the backup GPT.
pub const MIN_DISK_MIB: u64 = 2 + ESP_MIB + 64 + 1;

impl Layout {
    pub fn new(disk_mib: u64) -> Option<Layout> {
        if disk_mib < MIN_DISK_MIB {
            return None;
        }
        let root_start = (2 + ESP_MIB) * MIB_SECTORS;
        Some(Layout {
            disk_mib,
            bios_boot: Part {
                start: MIB_SECTORS,
                size: MIB_SECTORS,
            },
            esp: Part {
                start: 2 * MIB_SECTORS,
                size: ESP_MIB * MIB_SECTORS,
            },
            root: Part {
                start: root_start,
                // The last MiB keeps the backup GPT (33 sectors) and alignment.
                size: (disk_mib - 1) * MIB_SECTORS - root_start,
            },
        })
    }

    /// sfdisk's script for this layout.
    pub fn sfdisk_script(&self) -> String {
        format!(
            "label: gpt\n\
             start={}, size={}, type=21686148-6449-6E6F-744E-656564454649, name=\"bios-boot\"\n\
             start={}, size={}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"efi\"\n\
             start={}, size={}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"root\"\n",
            self.bios_boot.start,
            self.bios_boot.size,
            self.esp.start,
            self.esp.size,
            self.root.start,
            self.root.size
        )
    }
}

/// The identities the configuration files refer to.
#[derive(Clone, Debug)]
pub struct Ids {
    /// The root file system's UUID.
    pub root_uuid: String,
    /// The EFI system partition's FAT volume id, 8 hex digits.
    pub esp_volume_id: String,
}

impl Ids {
    /// The ESP as fstab and `search --fs-uuid` write it: `ABCD-1234`.
    pub fn esp_uuid(&self) -> String {
        format!(
            "{}-{}",
            &self.esp_volume_id[..4].to_uppercase(),
            &self.esp_volume_id[4..].to_uppercase()
        )
    }
}

/// GRUB's first config, built into core.img and BOOTX64.EFI: find the
/// root file system by UUID and read its /boot/grub/grub.cfg.
pub fn early_config(ids: &Ids) -> String {
    format!(
        "search --no-floppy --fs-uuid --set=root {}\n\
         set prefix=($root)/boot/grub\n\
         configfile $prefix/grub.cfg\n",
        ids.root_uuid
    )
}

/// Writes the whole disk: `raw` must not exist; `rootfs` is the tree to
/// copy into the root file system; `work` is a scratch folder.
pub fn write(
    raw: &Path,
    layout: &Layout,
    ids: &Ids,
    rootfs: &Path,
    work: &Path,
) -> Result<(), ImageError> {
    for (tool, package) in [
        ("sfdisk", "fdisk"),
        ("mkfs.ext4", "e2fsprogs"),
        ("mkfs.vfat", "dosfstools"),
        ("mcopy", "mtools"),
        ("grub-mkimage", "grub-common"),
    ] {
        tools::require(tool, package)?;
    }
    for (dir, package) in [(GRUB_PC, "grub-pc-bin"), (GRUB_EFI, "grub-efi-amd64-bin")] {
        if !Path::new(dir).join("moddep.lst").is_file() {
            return Err(ImageError::Other(format!(
                "{dir} has no GRUB modules: install Debian's `{package}` package"
            )));
        }
    }
    let file = std::fs::File::create_new(raw)
        .map_err(|e| other(format!("cannot create {}: {e}", raw.display())))?;
    file.set_len(layout.disk_mib << 20).map_err(other)?;
    drop(file);
    let disk = raw.display().to_string();

    let sfdisk = duct::cmd(
        "sfdisk",
        ["--quiet", "--no-reread", "--no-tell-kernel", &disk],
    )
    .stdin_bytes(layout.sfdisk_script())
    .stdout_null()
    .stderr_capture()
    .unchecked()
    .run()
    .map_err(other)?;
    if !sfdisk.status.success() {
        return Err(ImageError::Other(format!(
            "sfdisk failed: {}",
            String::from_utf8_lossy(&sfdisk.stderr).trim()
        )));
    }

    // mkfs.ext4 reads a size without a suffix as KiB.
    let root_kib = layout.root.size / 2;
    tools::run(
        "mkfs.ext4",
        &s(&[
            "-q",
            "-F",
            "-L",
            "root",
            "-U",
            &ids.root_uuid,
            "-d",
            &rootfs.display().to_string(),
            "-E",
            &format!("offset={}", layout.root.offset()),
            &disk,
            &format!("{root_kib}k"),
        ]),
        &[],
        &[],
    )
    .map_err(|e| match e {
        ToolError::Failed { message, .. } if message.contains("Could not allocate") => {
            ImageError::Other(format!(
                "the root file system does not fit in {} MiB: give a larger --size-mib",
                layout.disk_mib
            ))
        }
        e => e.into(),
    })?;

    tools::run(
        "mkfs.vfat",
        &s(&[
            "-F",
            "32",
            // One sector a cluster: 64 MiB then holds enough clusters for FAT32.
            "-s",
            "1",
            "-h",
            &layout.esp.start.to_string(),
            "-i",
            &ids.esp_volume_id,
            "-n",
            "EFI",
            "--offset",
            &layout.esp.start.to_string(),
            &disk,
            &(layout.esp.size / 2).to_string(),
        ]),
        &[],
        &[],
    )?;

    let early = work.join("grub-early.cfg");
    std::fs::write(&early, early_config(ids)).map_err(other)?;
    let early = early.display().to_string();
    let efi_image = work.join("BOOTX64.EFI");
    let core_image = work.join("core.img");
    for (format, dir, out, extra) in [
        (
            "x86_64-efi",
            GRUB_EFI,
            &efi_image,
            &["fat", "efi_gop", "all_video"][..],
        ),
        ("i386-pc", GRUB_PC, &core_image, &["biosdisk"][..]),
    ] {
        let mut args = s(&[
            "-O",
            format,
            "-d",
            dir,
            "-o",
            &out.display().to_string(),
            "-c",
            &early,
            "-p",
            "/boot/grub",
        ]);
        args.extend(s(GRUB_MODULES));
        args.extend(s(extra));
        tools::run("grub-mkimage", &args, &[], &[])?;
    }

    let esp = format!("{disk}@@{}", layout.esp.offset());
    let mtools_env: &[(&str, &Path)] = &[("MTOOLS_SKIP_CHECK", Path::new("1"))];
    tools::run(
        "mmd",
        &s(&["-i", &esp, "::/EFI", "::/EFI/BOOT"]),
        &[],
        mtools_env,
    )?;
    tools::run(
        "mcopy",
        &s(&[
            "-i",
            &esp,
            &efi_image.display().to_string(),
            "::/EFI/BOOT/BOOTX64.EFI",
        ]),
        &[],
        mtools_env,
    )?;

    let boot = std::fs::read(Path::new(GRUB_PC).join("boot.img")).map_err(other)?;
    let core = std::fs::read(&core_image).map_err(other)?;
    let (boot, core) = bios_boot_code(&boot, &core, layout)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(raw)
        .map_err(other)?;
    f.seek(SeekFrom::Start(layout.bios_boot.offset()))
        .and_then(|_| f.write_all(&core))
        .and_then(|_| f.seek(SeekFrom::Start(0)))
        .and_then(|_| f.write_all(&boot))
        .and_then(|_| f.sync_all())
        .map_err(other)
}

/// GRUB's BIOS boot code for `layout`: the boot sector's first 440 bytes
/// (the partition table after them is sfdisk's), told where core.img
/// starts, and core.img, whose first sector is told where the rest of it is.
/// This is what grub-bios-setup does on a device; here it is a file.
pub fn bios_boot_code(
    boot_img: &[u8],
    core_img: &[u8],
    layout: &Layout,
) -> Result<(Vec<u8>, Vec<u8>), ImageError> {
    // boot.img: the LBA of core.img's first sector, a u64 at 0x5c.
    const KERNEL_SECTOR: usize = 0x5c;
    // The code area of the MBR ends where the disk signature starts.
    const MBR_CODE: usize = 0x1b8;
    // diskboot.img (core.img's first sector) ends with one blocklist:
    // start sector u64, sector count u16, load segment u16.
    const BLOCKLIST: usize = 512 - 12;
    if boot_img.len() != 512 {
        return Err(other("GRUB's boot.img is not one sector"));
    }
    let sectors = core_img.len().div_ceil(512) as u64;
    if core_img.len() < 512 || sectors > layout.bios_boot.size {
        return Err(other(format!(
            "GRUB's core.img ({} bytes) does not fit the BIOS boot partition",
            core_img.len()
        )));
    }
    let len = u16::from_le_bytes([core_img[BLOCKLIST + 8], core_img[BLOCKLIST + 9]]);
    if len as u64 != sectors - 1 {
        return Err(other(format!(
            "GRUB's core.img says its rest is {len} sectors, not {}: an unknown GRUB layout",
            sectors - 1
        )));
    }
    let mut boot = boot_img[..MBR_CODE].to_vec();
    boot[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&layout.bios_boot.start.to_le_bytes());
    let mut core = core_img.to_vec();
    core[BLOCKLIST..BLOCKLIST + 8].copy_from_slice(&(layout.bios_boot.start + 1).to_le_bytes());
    Ok((boot, core))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_aligned_and_leaves_room_for_the_backup_gpt() {
        assert!(Layout::new(MIN_DISK_MIB - 1).is_none());
        let l = Layout::new(2048).unwrap();
        for p in [l.bios_boot, l.esp, l.root] {
            assert_eq!(p.start % MIB_SECTORS, 0);
            assert_eq!(p.size % MIB_SECTORS, 0);
        }
        assert_eq!(l.bios_boot.start + l.bios_boot.size, l.esp.start);
        assert_eq!(l.esp.start + l.esp.size, l.root.start);
        assert_eq!(l.root.start + l.root.size + MIB_SECTORS, 2048 * MIB_SECTORS);
    }

    #[test]
    fn bios_boot_code_points_at_core_img() {
        let l = Layout::new(1024).unwrap();
        let boot = vec![0xaa; 512];
        let mut core = vec![0u8; 512 * 3 + 7];
        core[500 + 8] = 3; // the rest: 3 sectors
        let (b, c) = bios_boot_code(&boot, &core, &l).unwrap();
        assert_eq!(b.len(), 0x1b8);
        assert_eq!(&b[0x5c..0x64], &2048u64.to_le_bytes());
        assert_eq!(&c[500..508], &2049u64.to_le_bytes());
        core[508] = 9;
        assert!(bios_boot_code(&boot, &core, &l).is_err());
    }
}
