//! NVRTC, opened at run time by riskpool itself, and an on-disk cache of
//! the machine code (or PTX) it makes.
//!
//! cudarc's own NVRTC loader looks only for the library names of its CUDA
//! version; Batch nodes carry whatever their image has: Debian's
//! `libnvrtc.so.11.2` (CUDA 11.8, non-free), or 12.x or 13.x from NVIDIA
//! (a toolkit, or PyPI's `nvidia-cuda-nvrtc` wheel). So the few NVRTC calls
//! needed are bound here against any of them.
//!
//! **The builtins library.** NVRTC opens `libnvrtc-builtins.so.M.m` by
//! name when it first compiles. A library opened by path (PyPI's wheel has
//! no RUNPATH, Debian's unpacked NVRTC is off the loader's path) would not
//! find it without `LD_LIBRARY_PATH`, so [`Nvrtc::open_path`] opens the
//! builtins from the NVRTC's own folder first: the loader then finds them
//! already loaded under their soname.
//!
//! **Machine code, not PTX.** An NVRTC newer than the driver emits PTX the
//! driver refuses (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`: pip's current
//! NVRTC is 13.5, the R580 driver runs CUDA 13.0), so the engine compiles
//! to the device's own architecture (`sm_XX`, a CUBIN the driver loads
//! without a JIT) wherever NVRTC knows it ([`Target::for_device`]); PTX is
//! the fallback only for a device newer than the NVRTC, and only from an
//! NVRTC no newer than the driver.
//!
//! The cache key is the source hash, the target (`sm_90`, `compute_90`),
//! the NVRTC version and the driver version; the cache lives under
//! `$RISKPOOL_CACHE_DIR`, else `$AZ_BATCH_NODE_SHARED_DIR/riskpool-cache`
//! (so only a node's first task compiles), else `$XDG_CACHE_HOME/riskpool`
//! or `~/.cache/riskpool`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::path::{Path, PathBuf};

use libloading::{Library, Symbol};

type Program = *mut c_void;
type NvrtcResult = c_int;

/// Library names tried, in order, after `$RISKPOOL_NVRTC`.
const CANDIDATES: [&str; 11] = [
    "libnvrtc.so",
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
    "libnvrtc.so.11.1",
    "libnvrtc.so.11.0",
    "libnvrtc.so.11",
    // A toolkit whose lib64 is not in the loader's path (runtime images
    // ship only the versioned name).
    "/usr/local/cuda/lib64/libnvrtc.so",
    "/usr/local/cuda/lib64/libnvrtc.so.13",
    "/usr/local/cuda/lib64/libnvrtc.so.12",
    "/usr/lib/x86_64-linux-gnu/libnvrtc.so.11.2",
];

/// What NVRTC is asked to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Machine code for `sm_{arch}` (a CUBIN): loads on that architecture
    /// with no JIT, whatever PTX version the driver reads.
    Sass(i32),
    /// PTX for `compute_{arch}`, compiled by the driver when loaded: runs
    /// on that architecture and newer, if the driver reads its PTX version.
    Ptx(i32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sass(a) => write!(f, "sm_{a}"),
            Target::Ptx(a) => write!(f, "compute_{a}"),
        }
    }
}

impl Target {
    /// What to compile for a device of compute capability `cc` under a
    /// driver of CUDA version `driver` (`cuDriverGetVersion`, 13000 for
    /// 13.0), with an NVRTC of `version` that targets `supported`.
    ///
    /// The device's own architecture as machine code where NVRTC knows it;
    /// else PTX for the newest architecture below it, which the driver
    /// compiles, but only from an NVRTC no newer than the driver.
    pub fn for_device(
        cc: (i32, i32),
        version: (i32, i32),
        supported: &[i32],
        driver: i32,
    ) -> Result<Target, String> {
        let want = cc.0 * 10 + cc.1;
        // An NVRTC too old to list its architectures (before 11.2) knows
        // the ones it was asked for at worst by the error it gives.
        if supported.is_empty() || supported.contains(&want) {
            return Ok(Target::Sass(want));
        }
        let nvrtc = version.0 * 1000 + version.1 * 10;
        let below = supported.iter().copied().filter(|a| *a <= want).max();
        match below {
            Some(arch) if driver == 0 || nvrtc <= driver => Ok(Target::Ptx(arch)),
            Some(_) => Err(format!(
                "NVRTC {}.{} cannot make machine code for sm_{want}, and its PTX is newer than the \
                 driver's CUDA {}.{} reads: install an NVRTC that knows sm_{want}, or one no newer \
                 than the driver (RISKPOOL_NVRTC=/path/to/libnvrtc.so)",
                version.0,
                version.1,
                driver / 1000,
                (driver % 1000) / 10
            )),
            None => Err(format!(
                "NVRTC {}.{} targets none of sm_{want} or older (it knows {supported:?})",
                version.0, version.1
            )),
        }
    }
}

/// An opened NVRTC library.
pub struct Nvrtc {
    lib: Library,
    /// Which file it was (as asked for).
    pub path: String,
    /// The file the loader opened for it.
    pub file: Option<PathBuf>,
    /// The builtins library opened from the same folder, if one is there.
    pub builtins: Option<PathBuf>,
    _builtins: Option<Library>,
    pub version: (i32, i32),
}

impl Nvrtc {
    /// Opens the first NVRTC found, or says where it looked.
    pub fn open() -> Result<Nvrtc, String> {
        let mut tried: Vec<String> = Vec::new();
        if let Some(p) = crate::env::NVRTC.get() {
            tried.push(p);
        }
        if let Ok(home) = std::env::var("CUDA_HOME").or_else(|_| std::env::var("CUDA_PATH")) {
            tried.push(format!("{home}/lib64/libnvrtc.so"));
        }
        tried.extend(CANDIDATES.iter().map(|s| s.to_string()));
        let mut errors = Vec::new();
        for name in &tried {
            match Nvrtc::open_path(name) {
                Ok(n) => return Ok(n),
                // A library that is there but broken is worth naming.
                Err(e) if Path::new(name).exists() => errors.push(e),
                Err(_) => {}
            }
        }
        Err(format!(
            "no NVRTC library found (tried $RISKPOOL_NVRTC, $CUDA_HOME and {}){}",
            CANDIDATES.join(", "),
            if errors.is_empty() {
                String::new()
            } else {
                format!("; {}", errors.join("; "))
            }
        ))
    }

    /// Opens the NVRTC at `name` (a path, or a name the loader searches
    /// for), and its builtins library from the same folder.
    pub fn open_path(name: &str) -> Result<Nvrtc, String> {
        // A path (not a soname the loader searches for) must be a file: a
        // FIFO there would block the loader for ever.
        if name.contains('/') {
            match std::fs::metadata(name) {
                Ok(m) if !m.is_file() => {
                    return Err(format!(
                        "{name}: not a regular file (a folder, FIFO or device)"
                    ))
                }
                _ => {}
            }
        }
        // SAFETY: loading NVRTC runs its initialisers, which have no
        // preconditions; the symbols are checked before every use.
        let lib = unsafe { Library::new(name) }.map_err(|e| format!("{name}: {e}"))?;
        let mut n = Nvrtc {
            lib,
            path: name.to_string(),
            file: None,
            builtins: None,
            _builtins: None,
            version: (0, 0),
        };
        let (mut major, mut minor) = (0, 0);
        let r = n.call(
            "nvrtcVersion",
            |f: Symbol<unsafe extern "C" fn(*mut c_int, *mut c_int) -> NvrtcResult>| unsafe {
                f(&mut major, &mut minor)
            },
        )?;
        n.check("nvrtcVersion", r)?;
        n.version = (major, minor);
        n.file = n.loaded_file();
        let folder = n
            .file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .or_else(|| Path::new(name).parent().map(Path::to_path_buf))
            .filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = folder {
            for file in builtins_candidates(&dir, n.version) {
                // SAFETY: as for NVRTC itself; the builtins export data
                // NVRTC reads, and nothing of ours calls into them.
                if let Ok(b) = unsafe { Library::new(&file) } {
                    n.builtins = Some(file);
                    n._builtins = Some(b);
                    break;
                }
            }
        }
        Ok(n)
    }

    /// The file the loader opened, found from one of its symbols.
    fn loaded_file(&self) -> Option<PathBuf> {
        // SAFETY: the symbol is only used for its address.
        let sym = unsafe { self.lib.get::<*const c_void>(b"nvrtcVersion\0") }.ok()?;
        let addr = *sym as *const c_void;
        let mut info = libc::Dl_info {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        };
        // SAFETY: dladdr reads the loader's tables for an address inside a
        // library it loaded; `info` is a valid out-parameter.
        if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr returned a NUL-terminated file name.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        let p = PathBuf::from(name.to_string_lossy().into_owned());
        Some(std::fs::canonicalize(&p).unwrap_or(p))
    }

    fn call<F, T>(&self, name: &str, f: impl FnOnce(Symbol<F>) -> T) -> Result<T, String> {
        let c = CString::new(name).map_err(|e| e.to_string())?;
        // SAFETY: the symbol's type is NVRTC's documented C signature.
        let sym = unsafe { self.lib.get::<F>(c.as_bytes_with_nul()) }
            .map_err(|e| format!("{}: {name}: {e}", self.path))?;
        Ok(f(sym))
    }

    fn check(&self, what: &str, r: NvrtcResult) -> Result<(), String> {
        if r == 0 {
            return Ok(());
        }
        let msg = self
            .call(
                "nvrtcGetErrorString",
                |f: Symbol<unsafe extern "C" fn(NvrtcResult) -> *const c_char>| unsafe {
                    let p = f(r);
                    if p.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(p).to_string_lossy().into_owned()
                    }
                },
            )
            .unwrap_or_default();
        Err(format!("{what} failed ({r}): {msg}"))
    }

    /// The architectures this NVRTC can target (e.g. 90 for sm_90 and
    /// compute_90), where it can say (11.2 and newer).
    pub fn supported_archs(&self) -> Vec<i32> {
        let mut n: c_int = 0;
        let ok = self.call(
            "nvrtcGetNumSupportedArchs",
            |f: Symbol<unsafe extern "C" fn(*mut c_int) -> NvrtcResult>| unsafe { f(&mut n) },
        );
        if !matches!(ok, Ok(0)) || n <= 0 {
            return Vec::new();
        }
        let mut v = vec![0 as c_int; n as usize];
        let ok = self.call(
            "nvrtcGetSupportedArchs",
            |f: Symbol<unsafe extern "C" fn(*mut c_int) -> NvrtcResult>| unsafe {
                f(v.as_mut_ptr())
            },
        );
        if matches!(ok, Ok(0)) {
            v
        } else {
            Vec::new()
        }
    }

    /// Compiles `src` for `target`: a CUBIN, or PTX text; on failure, the log.
    pub fn compile(&self, src: &str, name: &str, target: Target) -> Result<Vec<u8>, String> {
        let c_src = CString::new(src).map_err(|e| e.to_string())?;
        let c_name = CString::new(name).map_err(|e| e.to_string())?;
        let mut prog: Program = std::ptr::null_mut();
        type Create = unsafe extern "C" fn(
            *mut Program,
            *const c_char,
            *const c_char,
            c_int,
            *const *const c_char,
            *const *const c_char,
        ) -> NvrtcResult;
        let r = self.call("nvrtcCreateProgram", |f: Symbol<Create>| unsafe {
            f(
                &mut prog,
                c_src.as_ptr(),
                c_name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        })?;
        self.check("nvrtcCreateProgram", r)?;
        let result = self.compile_program(prog, target);
        let _ = self.call(
            "nvrtcDestroyProgram",
            |f: Symbol<unsafe extern "C" fn(*mut Program) -> NvrtcResult>| unsafe { f(&mut prog) },
        );
        result
    }

    /// PTX text for `compute_{arch}` (for tests and the instruction counts).
    pub fn compile_ptx(&self, src: &str, name: &str, arch: i32) -> Result<String, String> {
        let bytes = self.compile(src, name, Target::Ptx(arch))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn compile_program(&self, prog: Program, target: Target) -> Result<Vec<u8>, String> {
        let opts: Vec<CString> = [
            format!("--gpu-architecture={target}"),
            "--std=c++14".to_string(),
        ]
        .into_iter()
        .map(|o| CString::new(o).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        type Compile = unsafe extern "C" fn(Program, c_int, *const *const c_char) -> NvrtcResult;
        let r = self.call("nvrtcCompileProgram", |f: Symbol<Compile>| unsafe {
            f(prog, ptrs.len() as c_int, ptrs.as_ptr())
        })?;
        if r != 0 {
            let log = self.read(prog, "nvrtcGetProgramLogSize", "nvrtcGetProgramLog")?;
            let log = String::from_utf8_lossy(&log).into_owned();
            return Err(format!(
                "NVRTC {}.{} ({}) could not compile the kernels for {target}:\n{log}",
                self.version.0, self.version.1, self.path
            ));
        }
        match target {
            Target::Sass(_) => self.read(prog, "nvrtcGetCUBINSize", "nvrtcGetCUBIN"),
            Target::Ptx(_) => {
                let mut ptx = self.read(prog, "nvrtcGetPTXSize", "nvrtcGetPTX")?;
                while ptx.last() == Some(&0) {
                    ptx.pop();
                }
                Ok(ptx)
            }
        }
    }

    fn read(&self, prog: Program, size_fn: &str, get_fn: &str) -> Result<Vec<u8>, String> {
        let mut size: usize = 0;
        let r = self.call(
            size_fn,
            |f: Symbol<unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult>| unsafe {
                f(prog, &mut size)
            },
        )?;
        self.check(size_fn, r)?;
        let mut buf = vec![0u8; size.max(1)];
        let r = self.call(
            get_fn,
            |f: Symbol<unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult>| unsafe {
                f(prog, buf.as_mut_ptr() as *mut c_char)
            },
        )?;
        self.check(get_fn, r)?;
        buf.truncate(size);
        Ok(buf)
    }

    /// The compiled `src` for `target` from the cache, compiling on a miss.
    /// `driver` (the driver's CUDA version, 0 where none) is part of the
    /// key: a driver update may change what loads.
    pub fn compile_cached(
        &self,
        src: &str,
        target: Target,
        driver: i32,
    ) -> Result<(Vec<u8>, CacheOutcome), String> {
        self.compile_cached_in(cache_dir().as_deref(), src, target, driver)
    }

    /// `compile_cached` with the cache in `dir` (None: no cache).
    pub fn compile_cached_in(
        &self,
        dir: Option<&Path>,
        src: &str,
        target: Target,
        driver: i32,
    ) -> Result<(Vec<u8>, CacheOutcome), String> {
        let ext = match target {
            Target::Sass(_) => "cubin",
            Target::Ptx(_) => "ptx",
        };
        let file = dir.map(|d| {
            d.join(format!(
                "riskpool-{:016x}-{target}-nvrtc{}.{}-driver{driver}.{ext}",
                crate::rng::stream_id_of(src),
                self.version.0,
                self.version.1
            ))
        });
        if let Some(f) = &file {
            if let Ok(bytes) = std::fs::read(f) {
                if looks_whole(&bytes, target) {
                    return Ok((bytes, CacheOutcome::Hit(f.clone())));
                }
            }
        }
        let bytes = self.compile(src, "riskpool.cu", target)?;
        let outcome = match &file {
            Some(f) => match write_atomically(f, &bytes) {
                Ok(()) => CacheOutcome::Stored(f.clone()),
                Err(e) => CacheOutcome::NotStored(e),
            },
            None => CacheOutcome::NotStored("no cache folder".into()),
        };
        Ok((bytes, outcome))
    }
}

/// Whether a cached file is whole: a CUBIN whose every section, segment
/// and header table lies inside the file (a torn write cuts the last of
/// them), or PTX that ends with a kernel's closing brace.
fn looks_whole(bytes: &[u8], target: Target) -> bool {
    match target {
        Target::Sass(_) => elf_extent(bytes).is_some_and(|end| end <= bytes.len() as u64),
        Target::Ptx(_) => std::str::from_utf8(bytes)
            .is_ok_and(|t| t.contains(".entry") && t.trim_end().ends_with('}')),
    }
}

/// The end of the last thing a 64-bit little-endian ELF file's headers
/// place in it: the section and program header tables, every section with
/// bytes in the file and every segment. `None` if the headers are unreadable.
fn elf_extent(b: &[u8]) -> Option<u64> {
    let le = |at: u64, n: u64| -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        let bytes = b.get(at..at.checked_add(n as usize)?)?;
        Some(bytes.iter().rev().fold(0u64, |v, &x| (v << 8) | x as u64))
    };
    if !b.starts_with(b"\x7fELF\x02\x01") {
        return None;
    }
    let (phoff, shoff) = (le(0x20, 8)?, le(0x28, 8)?);
    let (phsize, phnum, shsize, shnum) = (le(0x36, 2)?, le(0x38, 2)?, le(0x3a, 2)?, le(0x3c, 2)?);
    let table_end = |off: u64, size: u64, n: u64| off.checked_add(size.checked_mul(n)?);
    let mut end = table_end(shoff, shsize, shnum)?.max(table_end(phoff, phsize, phnum)?);
    for i in 0..shnum {
        let h = shoff + i * shsize;
        const NOBITS: u64 = 8;
        if le(h + 4, 4)? != NOBITS {
            end = end.max(le(h + 0x18, 8)?.checked_add(le(h + 0x20, 8)?)?);
        }
    }
    for i in 0..phnum {
        let h = phoff + i * phsize;
        end = end.max(le(h + 8, 8)?.checked_add(le(h + 0x20, 8)?)?);
    }
    Some(end)
}

/// The builtins library files to try beside an NVRTC of `version` in `dir`:
/// its own version's first, then any other (not NVIDIA's `.alt` variant).
fn builtins_candidates(dir: &Path, version: (i32, i32)) -> Vec<PathBuf> {
    let own = dir.join(format!("libnvrtc-builtins.so.{}.{}", version.0, version.1));
    let mut out = vec![own.clone()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut others: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p != &own
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libnvrtc-builtins.so"))
            })
            .collect();
        others.sort();
        out.extend(others);
    }
    out.into_iter().filter(|p| p.exists()).collect()
}

/// What the compile cache did.
#[derive(Debug, Clone)]
pub enum CacheOutcome {
    Hit(PathBuf),
    Stored(PathBuf),
    NotStored(String),
}

/// Where compiled kernels are kept.
pub fn cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    crate::env::CACHE_DIR
        .path()
        .or_else(|| env("AZ_BATCH_NODE_SHARED_DIR").map(|d| d.join("riskpool-cache")))
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("riskpool")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("riskpool")))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("kernels"),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, bytes)
        .map_err(|e| format!("{}: {e}", tmp.display()))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display())));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_s_own_architecture_as_machine_code_where_nvrtc_knows_it() {
        let known = [75, 80, 86, 89, 90, 100, 120];
        assert_eq!(
            Target::for_device((9, 0), (13, 5), &known, 13000),
            Ok(Target::Sass(90))
        );
        // A device newer than the NVRTC: PTX for the newest below it, from
        // an NVRTC no newer than the driver...
        assert_eq!(
            Target::for_device((12, 1), (12, 8), &known, 13000),
            Ok(Target::Ptx(120))
        );
        // ...and never PTX the driver cannot read.
        let e = Target::for_device((12, 1), (13, 5), &known, 13000).unwrap_err();
        assert!(e.contains("CUDA 13.0"), "{e}");
        // A device older than anything NVRTC targets (Volta on NVRTC 13).
        let e = Target::for_device((7, 0), (13, 0), &known, 13000).unwrap_err();
        assert!(e.contains("sm_70"), "{e}");
    }

    #[test]
    fn builtins_are_found_beside_nvrtc_their_own_version_first() {
        let dir = tempfile_dir();
        for f in [
            "libnvrtc-builtins.alt.so.13.0",
            "libnvrtc-builtins.so.12.9",
            "libnvrtc-builtins.so.13.0",
            "libnvrtc.so.13",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let got = builtins_candidates(&dir, (13, 0));
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["libnvrtc-builtins.so.13.0", "libnvrtc-builtins.so.12.9"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("riskpool-nvrtc-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
