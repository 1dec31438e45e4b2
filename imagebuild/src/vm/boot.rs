//! The boot test: QEMU in software emulation (TCG; no KVM is needed) boots
//! the VHD itself (QEMU's vpc driver, sized by the footer's current size
//! as Hyper-V does) with BIOS (SeaBIOS) or UEFI (OVMF), without a network,
//! and with the disk in snapshot mode so the image stays unbooted. It
//! waits for the boot check unit's marker on the serial console.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::tools::{self, ToolError};

/// How the VM starts: Azure's generation 1 (BIOS) or generation 2 (UEFI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        }
    }
}

/// The marker prefix the boot check unit prints before each line.
pub const PREFIX: &str = "riskpool-boot: ";

/// What a boot showed.
#[derive(Clone, Debug)]
pub struct Booted {
    pub firmware: Firmware,
    pub seconds: f64,
    /// The boot check's lines before its `ok` marker (`id,pv,stderr` rows).
    pub lines: Vec<String>,
    /// The marker line's text after `ok `: the runner's version.
    pub version: String,
    pub serial_log: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("{firmware} boot: {why} (serial console log: {log})")]
    Failed {
        firmware: &'static str,
        why: String,
        log: String,
    },
    #[error("{0}")]
    Other(String),
}

/// OVMF's code and variable-store templates (Debian's `ovmf`).
fn ovmf() -> Option<(PathBuf, PathBuf)> {
    [
        ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
        ("OVMF_CODE.fd", "OVMF_VARS.fd"),
    ]
    .iter()
    .map(|(c, v)| {
        (
            Path::new("/usr/share/OVMF").join(c),
            Path::new("/usr/share/OVMF").join(v),
        )
    })
    .find(|(c, v)| c.is_file() && v.is_file())
}

/// Removes terminal escape sequences from console output.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// What the console says so far: the marker's lines and version, or a failure.
pub fn scan(console: &str) -> Result<Option<(Vec<String>, String)>, String> {
    let text = strip_ansi(console);
    let mut lines = Vec::new();
    for line in text.lines() {
        if let Some(i) = line.find(PREFIX) {
            let rest = line[i + PREFIX.len()..].trim_end();
            if let Some(version) = rest.strip_prefix("ok") {
                return Ok(Some((lines, version.trim().to_string())));
            }
            lines.push(rest.to_string());
        }
    }
    for (sign, why) in [
        ("grub> ", "GRUB stopped at its prompt: it found no config"),
        ("Kernel panic", "the kernel panicked"),
        ("emergency mode", "systemd entered emergency mode"),
        (
            "Gave up waiting for root",
            "the initramfs did not find the root file system",
        ),
        (
            "riskpool-boot.service: Failed",
            "the boot check unit failed",
        ),
        (
            "Failed to start riskpool-boot",
            "the boot check unit failed",
        ),
        ("No bootable device", "the firmware found no boot loader"),
    ] {
        if text.contains(sign) {
            return Err(why.to_string());
        }
    }
    Ok(None)
}

/// Boots `vhd` once with `firmware`, up to `limit`, logging the console in `work`.
pub fn boot(
    vhd: &Path,
    firmware: Firmware,
    work: &Path,
    limit: Duration,
) -> Result<Booted, BootError> {
    tools::require("qemu-system-x86_64", "qemu-system-x86")?;
    let log = work.join(format!("serial-{}.log", firmware.name().to_lowercase()));
    let _ = std::fs::remove_file(&log);
    let mut args: Vec<String> = [
        "-accel",
        "tcg",
        "-smp",
        "2",
        "-m",
        "1024",
        "-display",
        "none",
        "-monitor",
        "none",
        "-parallel",
        "none",
        "-nic",
        "none",
        "-no-reboot",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("-serial".into());
    args.push(format!("file:{}", log.display()));
    args.push("-drive".into());
    args.push(format!(
        "file={},format=vpc,force_size_calc=current_size,if=virtio,snapshot=on",
        vhd.display()
    ));
    match firmware {
        Firmware::Bios => args.extend(["-machine".into(), "pc".into()]),
        Firmware::Uefi => {
            let (code, vars) = ovmf().ok_or_else(|| ToolError::Missing {
                tool: "OVMF (/usr/share/OVMF)".into(),
                package: "ovmf".into(),
            })?;
            let own_vars = work.join("OVMF_VARS.fd");
            std::fs::copy(&vars, &own_vars).map_err(|e| BootError::Other(e.to_string()))?;
            args.extend([
                "-machine".into(),
                "q35".into(),
                "-drive".into(),
                format!("if=pflash,format=raw,readonly=on,file={}", code.display()),
                "-drive".into(),
                format!("if=pflash,format=raw,file={}", own_vars.display()),
            ]);
        }
    }
    let started = Instant::now();
    let qemu = duct::cmd("qemu-system-x86_64", &args)
        .stdout_null()
        .stderr_capture()
        .unchecked()
        .start()
        .map_err(|e| BootError::Other(format!("cannot start qemu-system-x86_64: {e}")))?;
    let fail = |why: String| BootError::Failed {
        firmware: firmware.name(),
        why,
        log: log.display().to_string(),
    };
    let outcome = loop {
        std::thread::sleep(Duration::from_millis(500));
        let console = std::fs::read(&log).unwrap_or_default();
        match scan(&String::from_utf8_lossy(&console)) {
            Ok(Some(found)) => break Ok(found),
            Ok(None) => {}
            Err(why) => break Err(fail(why)),
        }
        match qemu.try_wait() {
            Ok(Some(out)) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                break Err(fail(format!(
                    "QEMU stopped before the marker: {}",
                    stderr.trim()
                )));
            }
            Ok(None) => {}
            Err(e) => break Err(fail(e.to_string())),
        }
        if started.elapsed() > limit {
            break Err(fail(format!("no marker within {} s", limit.as_secs())));
        }
    };
    let _ = qemu.kill();
    let (lines, version) = outcome?;
    Ok(Booted {
        firmware,
        seconds: started.elapsed().as_secs_f64(),
        lines,
        version,
        serial_log: log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_the_marker_through_escapes_and_prefixes() {
        let console = "GRUB\r\n[   18.2] sh[230]: \x1b[0;1mriskpool-boot: a,1.5,0.1\x1b[0m\r\n\
                       [   18.4] sh[230]: riskpool-boot: ok riskpool 0.1.0\r\n";
        let (lines, version) = scan(console).unwrap().unwrap();
        assert_eq!(lines, vec!["a,1.5,0.1"]);
        assert_eq!(version, "riskpool 0.1.0");
        assert_eq!(scan("Booting...\n"), Ok(None));
        assert!(scan("\x1b[2Jgrub> ").is_err());
        assert!(scan("[ 3.1] Kernel panic - not syncing").is_err());
    }
}
