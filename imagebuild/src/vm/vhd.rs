//! The fixed VHD footer: a raw disk followed by one 512-byte footer, which
//! is the format Azure takes for uploaded OS disks. Azure also wants the
//! virtual size to be a whole number of MiB; [`Footer::check_azure`] says so.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const FOOTER_LEN: u64 = 512;
const COOKIE: &[u8; 8] = b"conectix";
/// Disk type 2: fixed (3 is dynamic, 4 differencing).
pub const FIXED: u32 = 2;
const MIB: u64 = 1 << 20;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01T00:00:00Z).
const VHD_EPOCH: u64 = 946_684_800;

/// The fields of a VHD footer that matter for a fixed disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    pub original_size: u64,
    pub current_size: u64,
    pub disk_type: u32,
    /// Cylinders, heads, sectors per track, as the VHD specification derives them.
    pub geometry: (u16, u8, u8),
    pub creator_app: [u8; 4],
    pub checksum_ok: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VhdError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
}

/// The VHD specification's CHS geometry for a disk of `size` bytes.
pub fn geometry(size: u64) -> (u16, u8, u8) {
    let mut total = (size / 512).min(65535 * 16 * 255);
    let (mut spt, mut heads, mut cyl_x_heads);
    if total >= 65535 * 16 * 63 {
        spt = 255;
        heads = 16;
        cyl_x_heads = total / spt;
    } else {
        spt = 17;
        cyl_x_heads = total / spt;
        heads = cyl_x_heads.div_ceil(1024).max(4);
        if cyl_x_heads >= heads * 1024 || heads > 16 {
            spt = 31;
            heads = 16;
            cyl_x_heads = total / spt;
        }
        if cyl_x_heads >= heads * 1024 {
            spt = 63;
            heads = 16;
            cyl_x_heads = total / spt;
        }
    }
    total = cyl_x_heads / heads;
    (total as u16, heads as u8, spt as u8)
}

fn checksum(footer: &[u8; 512]) -> u32 {
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |s, (_, b)| s.wrapping_add(*b as u32));
    !sum
}

/// The footer of a fixed disk of `size` bytes.
pub fn encode(size: u64, unique_id: [u8; 16], unix_time: u64) -> [u8; 512] {
    let mut f = [0u8; 512];
    f[0..8].copy_from_slice(COOKIE);
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // version 1.0
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // no dynamic header
    f[24..28].copy_from_slice(&(unix_time.saturating_sub(VHD_EPOCH) as u32).to_be_bytes());
    f[28..32].copy_from_slice(b"rpim");
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[36..40].copy_from_slice(b"Wi2k");
    f[40..48].copy_from_slice(&size.to_be_bytes());
    f[48..56].copy_from_slice(&size.to_be_bytes());
    let (c, h, s) = geometry(size);
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f[58] = h;
    f[59] = s;
    f[60..64].copy_from_slice(&FIXED.to_be_bytes());
    f[68..84].copy_from_slice(&unique_id);
    let sum = checksum(&f);
    f[64..68].copy_from_slice(&sum.to_be_bytes());
    f
}

/// Appends a fixed-VHD footer to the raw disk at `path`.
pub fn append_footer(path: &Path) -> Result<(), VhdError> {
    let io = |source| VhdError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if !size.is_multiple_of(MIB) {
        return Err(VhdError::Invalid {
            path: path.display().to_string(),
            why: format!("raw disk of {size} bytes is not a whole number of MiB"),
        });
    }
    let mut id = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut id))
        .map_err(io)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(VHD_EPOCH);
    file.write_all(&encode(size, id, now)).map_err(io)?;
    file.sync_all().map_err(io)
}

impl Footer {
    pub fn decode(f: &[u8; 512]) -> Option<Footer> {
        if &f[0..8] != COOKIE {
            return None;
        }
        let be64 = |o: usize| u64::from_be_bytes(f[o..o + 8].try_into().unwrap_or([0; 8]));
        let be32 = |o: usize| u32::from_be_bytes(f[o..o + 4].try_into().unwrap_or([0; 4]));
        Some(Footer {
            original_size: be64(40),
            current_size: be64(48),
            disk_type: be32(60),
            geometry: (u16::from_be_bytes([f[56], f[57]]), f[58], f[59]),
            creator_app: [f[28], f[29], f[30], f[31]],
            checksum_ok: be32(64) == checksum(f),
        })
    }

    /// Reads the footer at the end of `path`, with the file's length.
    pub fn read(path: &Path) -> Result<(Footer, u64), VhdError> {
        let io = |source| VhdError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < FOOTER_LEN {
            return Err(VhdError::Invalid {
                path: path.display().to_string(),
                why: format!("{len} bytes is too short for a VHD"),
            });
        }
        file.seek(SeekFrom::Start(len - FOOTER_LEN)).map_err(io)?;
        let mut buf = [0u8; 512];
        file.read_exact(&mut buf).map_err(io)?;
        let footer = Footer::decode(&buf).ok_or_else(|| VhdError::Invalid {
            path: path.display().to_string(),
            why: "no `conectix` VHD footer in the last 512 bytes".into(),
        })?;
        Ok((footer, len))
    }

    /// What Azure refuses in an uploaded fixed VHD of `file_len` bytes.
    pub fn check_azure(&self, file_len: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if self.disk_type != FIXED {
            problems.push(format!("disk type {} is not fixed (2)", self.disk_type));
        }
        if !self.checksum_ok {
            problems.push("footer checksum does not match".into());
        }
        if !self.current_size.is_multiple_of(MIB) {
            problems.push(format!(
                "virtual size {} is not a whole number of MiB",
                self.current_size
            ));
        }
        if self.current_size + FOOTER_LEN != file_len {
            problems.push(format!(
                "virtual size {} + 512 is not the file's length {file_len}",
                self.current_size
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_follows_the_specification() {
        // Worked by hand from the specification: 127 MiB is 260,096
        // sectors, 15,299 tracks of 17, so 15 heads and 1,019 cylinders.
        assert_eq!(geometry(127 * MIB), (1019, 15, 17));
        // 30 GiB needs 63 sectors a track: 998,643 tracks / 16 heads.
        assert_eq!(geometry(30 << 30), (62415, 16, 63));
        // The largest geometry caps at 65535 x 16 x 255.
        assert_eq!(geometry(u64::MAX / 2), (65535, 16, 255));
    }

    #[test]
    fn footer_round_trips_and_detects_damage() {
        let f = encode(2048 * MIB, [7; 16], VHD_EPOCH + 10);
        let d = Footer::decode(&f).expect("a footer");
        assert_eq!(d.current_size, 2048 * MIB);
        assert_eq!(d.disk_type, FIXED);
        assert!(d.checksum_ok);
        assert!(d.check_azure(2048 * MIB + 512).is_empty());
        assert_eq!(d.check_azure(2048 * MIB).len(), 1);
        let mut bad = f;
        bad[100] ^= 1;
        assert!(!Footer::decode(&bad).unwrap().checksum_ok);
        let odd = Footer::decode(&encode(MIB + 512, [0; 16], 0)).unwrap();
        assert_eq!(odd.check_azure(MIB + 1024).len(), 1);
    }
}
