//! NVRTC, opened at run time by riskpool itself, and an on-disk cache of
//! the PTX it makes.
//!
//! cudarc's own NVRTC loader looks only for the library names of its CUDA
//! version; Batch nodes carry whatever their image has: Debian's
//! `libnvrtc.so.11.2` (CUDA 11.8, non-free), or 12.x or 13.x from NVIDIA.
//! So the few NVRTC calls needed are bound here against any of them.
//!
//! The cache key is the source hash, the target architecture and the NVRTC
//! version; the cache lives under `$RISKPOOL_CACHE_DIR`, else
//! `$AZ_BATCH_NODE_SHARED_DIR/riskpool-cache` (so only a node's first task
//! compiles), else `$XDG_CACHE_HOME/riskpool` or `~/.cache/riskpool`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;

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

/// An opened NVRTC library.
pub struct Nvrtc {
    lib: Library,
    /// Which file it was.
    pub path: String,
    pub version: (i32, i32),
}

impl Nvrtc {
    /// Opens the first NVRTC found, or says where it looked.
    pub fn open() -> Result<Nvrtc, String> {
        let mut tried: Vec<String> = Vec::new();
        if let Ok(p) = std::env::var("RISKPOOL_NVRTC") {
            tried.push(p);
        }
        if let Ok(home) = std::env::var("CUDA_HOME").or_else(|_| std::env::var("CUDA_PATH")) {
            tried.push(format!("{home}/lib64/libnvrtc.so"));
        }
        tried.extend(CANDIDATES.iter().map(|s| s.to_string()));
        for name in &tried {
            // SAFETY: loading NVRTC runs its initialisers, which have no
            // preconditions; the symbols are checked before every use.
            if let Ok(lib) = unsafe { Library::new(name) } {
                let mut n = Nvrtc {
                    lib,
                    path: name.clone(),
                    version: (0, 0),
                };
                let (mut major, mut minor) = (0, 0);
                n.call("nvrtcVersion", |f: Symbol<unsafe extern "C" fn(*mut c_int, *mut c_int) -> NvrtcResult>| unsafe {
                    f(&mut major, &mut minor)
                })?;
                n.version = (major, minor);
                return Ok(n);
            }
        }
        Err(format!(
            "no NVRTC library found (tried $RISKPOOL_NVRTC, $CUDA_HOME and {})",
            CANDIDATES.join(", ")
        ))
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

    /// The virtual architectures this NVRTC can target (e.g. 90 for
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

    /// Compiles `src` to PTX for `compute_{arch}`; on failure, the log.
    pub fn compile(&self, src: &str, name: &str, arch: i32) -> Result<String, String> {
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
        let result = self.compile_program(prog, arch);
        let _ = self.call(
            "nvrtcDestroyProgram",
            |f: Symbol<unsafe extern "C" fn(*mut Program) -> NvrtcResult>| unsafe { f(&mut prog) },
        );
        result
    }

    fn compile_program(&self, prog: Program, arch: i32) -> Result<String, String> {
        let opts: Vec<CString> = [
            format!("--gpu-architecture=compute_{arch}"),
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
            return Err(format!(
                "NVRTC {}.{} could not compile the kernels for compute_{arch}:\n{log}",
                self.version.0, self.version.1
            ));
        }
        self.read(prog, "nvrtcGetPTXSize", "nvrtcGetPTX")
    }

    fn read(&self, prog: Program, size_fn: &str, get_fn: &str) -> Result<String, String> {
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
        while buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// PTX for `src` and `arch` from the cache, compiling on a miss.
    pub fn compile_cached(&self, src: &str, arch: i32) -> Result<(String, CacheOutcome), String> {
        let file = cache_dir().map(|d| {
            d.join(format!(
                "riskpool-{:016x}-compute_{arch}-nvrtc{}.{}.ptx",
                crate::rng::stream_id_of(src),
                self.version.0,
                self.version.1
            ))
        });
        if let Some(f) = &file {
            if let Ok(ptx) = std::fs::read_to_string(f) {
                if ptx.contains(".entry") {
                    return Ok((ptx, CacheOutcome::Hit(f.clone())));
                }
            }
        }
        let ptx = self.compile(src, "riskpool.cu", arch)?;
        let outcome = match &file {
            Some(f) => match write_atomically(f, &ptx) {
                Ok(()) => CacheOutcome::Stored(f.clone()),
                Err(e) => CacheOutcome::NotStored(e),
            },
            None => CacheOutcome::NotStored("no cache folder".into()),
        };
        Ok((ptx, outcome))
    }
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
    env("RISKPOOL_CACHE_DIR")
        .or_else(|| env("AZ_BATCH_NODE_SHARED_DIR").map(|d| d.join("riskpool-cache")))
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("riskpool")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("riskpool")))
}

fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), String> {
    let dir = path.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("ptx"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
