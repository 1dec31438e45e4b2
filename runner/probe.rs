//! `riskpool probe`: what hardware is really here, what the node's size
//! says should be here, which engine `auto` would pick and why, and loud
//! warnings when the node has less than its size promises (a container
//! started without its GPUs, a CPU limit below the size's vCPUs).

use anyhow::Result;
use riskpool_kernels::engine::cuda::{self, Nvrtc};
use riskpool_kernels::engine::wgpu;
use riskpool_kernels::{engine::cpu::cpu_model_name, Simd};
use serde_json::{json, Value};

use crate::catalog::{self, Vendor};
use crate::cli::ProbeArgs;
use crate::node;

/// Everything probe finds, as JSON (the text form is printed from it).
pub fn report(node_size: Option<&str>) -> Value {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cuda_devices = cuda::devices();
    let nvrtc = Nvrtc::open();
    let adapters = wgpu::adapters();
    let node = node::detect(node_size);
    let size = node.name.as_deref().and_then(catalog::lookup);
    let gpu_adapters: Vec<_> = adapters.iter().filter(|a| !a.is_cpu).collect();

    let mut warnings = Vec::new();
    if let Err(e) = riskpool_kernels::env::check() {
        warnings.push(format!("{e}: a run that opens an engine stops on it"));
    }
    let n_cuda = cuda_devices.as_ref().map_or(0, Vec::len);
    if let (Some(name), None) = (&node.name, size) {
        warnings.push(format!(
            "{name} is not in riskpool's size catalog: nothing to check the hardware against"
        ));
    }
    if let Some(s) = size {
        let want = s.gpus.ceil() as usize;
        match s.vendor {
            Some(Vendor::Nvidia) if n_cuda < want => warnings.push(format!(
                "{} should have {} {} GPU{} but {} CUDA device{} visible{}",
                s.name,
                if s.gpus < 1.0 { format!("a {:.0}% share of an", 100.0 * s.gpus) } else { format!("{}", s.gpus) },
                s.gpu_model,
                if s.gpus > 1.0 { "s" } else { "" },
                n_cuda,
                if n_cuda == 1 { " is" } else { "s are" },
                if n_cuda == 0 {
                    ": no NVIDIA driver here, or a container started without the GPUs (a GPU pool whose image lacks the NVIDIA container runtime, or a container run by hand without --gpus); pricing falls back"
                } else {
                    ""
                }
            )),
            Some(Vendor::Amd) if gpu_adapters.is_empty() => warnings.push(format!(
                "{} should have {} but no Vulkan GPU adapter is visible (no AMD driver, or /dev/dri not passed to the container)",
                s.name, s.gpu_model
            )),
            _ => {}
        }
        if (threads as u32) < s.vcpus {
            warnings.push(format!(
                "{} has {} vCPUs but this process may use {threads} (a container CPU limit?)",
                s.name, s.vcpus
            ));
        }
    }

    let (engine, why) = match (&cuda_devices, &nvrtc) {
        (Ok(d), Ok(_)) if !d.is_empty() => (
            "cuda",
            format!(
                "{} NVIDIA GPU{} with a driver and NVRTC",
                d.len(),
                if d.len() == 1 { "" } else { "s" }
            ),
        ),
        _ if !gpu_adapters.is_empty() => (
            "wgpu",
            format!("a Vulkan GPU adapter ({})", gpu_adapters[0].name),
        ),
        _ => (
            "cpu",
            match (&cuda_devices, &nvrtc) {
                (Err(e), _) => format!("no GPU engine can run: {e}; no Vulkan GPU adapter"),
                (Ok(d), _) if d.is_empty() => {
                    "no CUDA device and no Vulkan GPU adapter".to_string()
                }
                (_, Err(e)) => format!("CUDA devices are present but {e}"),
                _ => "no GPU engine can run".to_string(),
            },
        ),
    };

    json!({
        "cpu": {"model": cpu_model_name(), "threads": threads, "simd": Simd::detect().name()},
        "cuda": match &cuda_devices {
            Ok(d) => json!({"devices": d.iter().map(|x| json!({
                "ordinal": x.ordinal, "uuid": x.uuid, "name": x.name, "memory_gib": x.memory as f64 / (1u64 << 30) as f64,
                "compute_capability": format!("{}.{}", x.compute_capability.0, x.compute_capability.1)})).collect::<Vec<_>>()}),
            Err(e) => json!({"devices": [], "error": e.to_string()}),
        },
        "nvrtc": match &nvrtc { Ok(n) => json!(format!("{} ({}.{})", n.file.as_deref().map_or(n.path.clone(), |f| f.display().to_string()), n.version.0, n.version.1)), Err(e) => json!({"error": e}) },
        "wgpu_adapters": adapters.iter().map(|a| json!({"name": a.name, "type": a.device_type, "driver": a.driver, "software": a.is_cpu})).collect::<Vec<_>>(),
        "node_size": {
            "name": node.name, "source": node.source,
            "catalog": size.map(|s| json!({"series": s.series, "vcpus": s.vcpus, "memory_gib": s.memory_gib, "gpus": s.gpus,
                "gpu_model": s.gpu_model, "gpu_memory_gib": s.gpu_memory_gib,
                "vendor": s.vendor.map(|v| format!("{v:?}"))})),
        },
        "auto_engine": engine,
        "auto_reason": why,
        "warnings": warnings,
    })
}

pub fn run(args: &ProbeArgs) -> Result<()> {
    let r = report(args.node_size.as_deref());
    for w in r["warnings"].as_array().into_iter().flatten() {
        tracing::warn!("{}", w.as_str().unwrap_or_default());
    }
    if args.json {
        println!("{r}");
        return Ok(());
    }
    println!(
        "cpu        {} ({} threads, {})",
        r["cpu"]["model"].as_str().unwrap_or(""),
        r["cpu"]["threads"],
        r["cpu"]["simd"].as_str().unwrap_or("")
    );
    match r["cuda"]["error"].as_str() {
        Some(e) => println!("cuda       none: {e}"),
        None => {
            for d in r["cuda"]["devices"].as_array().into_iter().flatten() {
                println!(
                    "cuda       #{} {} ({:.0} GiB, sm {}, {})",
                    d["ordinal"],
                    d["name"].as_str().unwrap_or(""),
                    d["memory_gib"].as_f64().unwrap_or(0.0),
                    d["compute_capability"].as_str().unwrap_or(""),
                    d["uuid"].as_str().unwrap_or("")
                );
            }
        }
    }
    println!(
        "nvrtc      {}",
        r["nvrtc"]
            .as_str()
            .or_else(|| r["nvrtc"]["error"].as_str())
            .map_or_else(|| "none".to_string(), str::to_string)
    );
    for a in r["wgpu_adapters"].as_array().into_iter().flatten() {
        println!(
            "vulkan     {} ({}, {})",
            a["name"].as_str().unwrap_or(""),
            a["type"].as_str().unwrap_or(""),
            a["driver"].as_str().unwrap_or("")
        );
    }
    println!(
        "node size  {} ({})",
        r["node_size"]["name"].as_str().unwrap_or("unknown"),
        r["node_size"]["source"].as_str().unwrap_or("")
    );
    if let Some(c) = r["node_size"]["catalog"].as_object() {
        let gpus = match c["gpus"].as_f64() {
            Some(g) if g > 0.0 => format!(
                "{g:.3} x {} ({} GiB)",
                c["gpu_model"].as_str().unwrap_or("-"),
                c["gpu_memory_gib"]
            ),
            _ => "no GPU".to_string(),
        };
        println!(
            "           catalog: {} vCPUs, {} GiB, {gpus}",
            c["vcpus"], c["memory_gib"]
        );
    }
    println!(
        "auto       {}: {}",
        r["auto_engine"].as_str().unwrap_or(""),
        r["auto_reason"].as_str().unwrap_or("")
    );
    Ok(())
}
