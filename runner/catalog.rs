//! What each Azure VM size should have: vCPUs, memory and GPUs. Rows are
//! transcribed from Azure's published size tables ("Sizes for virtual
//! machines in Azure", learn.microsoft.com; GPU-accelerated and general,
//! compute and memory optimized, HPC families), checked 2026-11. Fractional
//! GPUs (NVads A10 v5, NV v4) are partitions of one physical GPU.

/// GPU vendor, which decides the engine: CUDA for NVIDIA, wgpu otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Nvidia,
    Amd,
}

/// One VM size.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub name: &'static str,
    pub series: &'static str,
    pub vcpus: u32,
    pub memory_gib: f64,
    /// Whole GPUs, or the fraction of one (1/6 is 0.1667).
    pub gpus: f64,
    pub gpu_model: &'static str,
    /// Memory of the GPU share, GiB.
    pub gpu_memory_gib: f64,
    pub vendor: Option<Vendor>,
}

const fn gpu(
    name: &'static str,
    series: &'static str,
    vcpus: u32,
    memory_gib: f64,
    gpus: f64,
    gpu_model: &'static str,
    gpu_memory_gib: f64,
    vendor: Vendor,
) -> Size {
    Size {
        name,
        series,
        vcpus,
        memory_gib,
        gpus,
        gpu_model,
        gpu_memory_gib,
        vendor: Some(vendor),
    }
}

const fn cpu(name: &'static str, series: &'static str, vcpus: u32, memory_gib: f64) -> Size {
    Size {
        name,
        series,
        vcpus,
        memory_gib,
        gpus: 0.0,
        gpu_model: "",
        gpu_memory_gib: 0.0,
        vendor: None,
    }
}

use Vendor::{Amd, Nvidia};

pub const SIZES: &[Size] = &[
    // NC T4 v3 (NVIDIA T4 16 GB).
    gpu(
        "Standard_NC4as_T4_v3",
        "NCasT4_v3",
        4,
        28.0,
        1.0,
        "Tesla T4",
        16.0,
        Nvidia,
    ),
    gpu(
        "Standard_NC8as_T4_v3",
        "NCasT4_v3",
        8,
        56.0,
        1.0,
        "Tesla T4",
        16.0,
        Nvidia,
    ),
    gpu(
        "Standard_NC16as_T4_v3",
        "NCasT4_v3",
        16,
        110.0,
        1.0,
        "Tesla T4",
        16.0,
        Nvidia,
    ),
    gpu(
        "Standard_NC64as_T4_v3",
        "NCasT4_v3",
        64,
        440.0,
        4.0,
        "Tesla T4",
        64.0,
        Nvidia,
    ),
    // NC A100 v4 (A100 80 GB PCIe).
    gpu(
        "Standard_NC24ads_A100_v4",
        "NC_A100_v4",
        24,
        220.0,
        1.0,
        "A100 80GB PCIe",
        80.0,
        Nvidia,
    ),
    gpu(
        "Standard_NC48ads_A100_v4",
        "NC_A100_v4",
        48,
        440.0,
        2.0,
        "A100 80GB PCIe",
        160.0,
        Nvidia,
    ),
    gpu(
        "Standard_NC96ads_A100_v4",
        "NC_A100_v4",
        96,
        880.0,
        4.0,
        "A100 80GB PCIe",
        320.0,
        Nvidia,
    ),
    // NC H100 v5 (H100 NVL 94 GB).
    gpu(
        "Standard_NC40ads_H100_v5",
        "NCads_H100_v5",
        40,
        320.0,
        1.0,
        "H100 NVL",
        94.0,
        Nvidia,
    ),
    gpu(
        "Standard_NC80adis_H100_v5",
        "NCads_H100_v5",
        80,
        640.0,
        2.0,
        "H100 NVL",
        188.0,
        Nvidia,
    ),
    // ND A100 v4 (8x A100 40 GB SXM) and NDm A100 v4 (8x A100 80 GB SXM).
    gpu(
        "Standard_ND96asr_v4",
        "ND_A100_v4",
        96,
        900.0,
        8.0,
        "A100 40GB SXM",
        320.0,
        Nvidia,
    ),
    gpu(
        "Standard_ND96amsr_A100_v4",
        "NDm_A100_v4",
        96,
        1900.0,
        8.0,
        "A100 80GB SXM",
        640.0,
        Nvidia,
    ),
    // ND H100 v5 and ND H200 v5 (8x H100 80 GB / H200 141 GB SXM).
    gpu(
        "Standard_ND96isr_H100_v5",
        "ND_H100_v5",
        96,
        1900.0,
        8.0,
        "H100 80GB SXM",
        640.0,
        Nvidia,
    ),
    gpu(
        "Standard_ND96isr_H200_v5",
        "ND_H200_v5",
        96,
        1850.0,
        8.0,
        "H200 141GB SXM",
        1128.0,
        Nvidia,
    ),
    // NVads A10 v5 (A10 24 GB, partitioned).
    gpu(
        "Standard_NV6ads_A10_v5",
        "NVads_A10_v5",
        6,
        55.0,
        1.0 / 6.0,
        "A10",
        4.0,
        Nvidia,
    ),
    gpu(
        "Standard_NV12ads_A10_v5",
        "NVads_A10_v5",
        12,
        110.0,
        1.0 / 3.0,
        "A10",
        8.0,
        Nvidia,
    ),
    gpu(
        "Standard_NV18ads_A10_v5",
        "NVads_A10_v5",
        18,
        220.0,
        0.5,
        "A10",
        12.0,
        Nvidia,
    ),
    gpu(
        "Standard_NV36ads_A10_v5",
        "NVads_A10_v5",
        36,
        440.0,
        1.0,
        "A10",
        24.0,
        Nvidia,
    ),
    gpu(
        "Standard_NV36adms_A10_v5",
        "NVads_A10_v5",
        36,
        880.0,
        1.0,
        "A10",
        24.0,
        Nvidia,
    ),
    gpu(
        "Standard_NV72ads_A10_v5",
        "NVads_A10_v5",
        72,
        880.0,
        2.0,
        "A10",
        48.0,
        Nvidia,
    ),
    // NV v4 (AMD Radeon Instinct MI25 16 GB, partitioned).
    gpu(
        "Standard_NV4as_v4",
        "NVv4",
        4,
        14.0,
        0.125,
        "Radeon Instinct MI25",
        2.0,
        Amd,
    ),
    gpu(
        "Standard_NV8as_v4",
        "NVv4",
        8,
        28.0,
        0.25,
        "Radeon Instinct MI25",
        4.0,
        Amd,
    ),
    gpu(
        "Standard_NV16as_v4",
        "NVv4",
        16,
        56.0,
        0.5,
        "Radeon Instinct MI25",
        8.0,
        Amd,
    ),
    gpu(
        "Standard_NV32as_v4",
        "NVv4",
        32,
        112.0,
        1.0,
        "Radeon Instinct MI25",
        16.0,
        Amd,
    ),
    // General purpose.
    cpu("Standard_DS5_v2", "DSv2", 16, 56.0),
    cpu("Standard_D2s_v3", "Dsv3", 2, 8.0),
    cpu("Standard_D4s_v3", "Dsv3", 4, 16.0),
    cpu("Standard_D8s_v3", "Dsv3", 8, 32.0),
    cpu("Standard_D16s_v3", "Dsv3", 16, 64.0),
    cpu("Standard_D32s_v3", "Dsv3", 32, 128.0),
    cpu("Standard_D64s_v3", "Dsv3", 64, 256.0),
    cpu("Standard_D2s_v5", "Dsv5", 2, 8.0),
    cpu("Standard_D4s_v5", "Dsv5", 4, 16.0),
    cpu("Standard_D8s_v5", "Dsv5", 8, 32.0),
    cpu("Standard_D16s_v5", "Dsv5", 16, 64.0),
    cpu("Standard_D32s_v5", "Dsv5", 32, 128.0),
    cpu("Standard_D64s_v5", "Dsv5", 64, 256.0),
    cpu("Standard_D96s_v5", "Dsv5", 96, 384.0),
    // Memory optimized.
    cpu("Standard_E8s_v5", "Esv5", 8, 64.0),
    cpu("Standard_E16s_v5", "Esv5", 16, 128.0),
    cpu("Standard_E32s_v5", "Esv5", 32, 256.0),
    cpu("Standard_E64s_v5", "Esv5", 64, 512.0),
    // Compute optimized.
    cpu("Standard_F8s_v2", "Fsv2", 8, 16.0),
    cpu("Standard_F16s_v2", "Fsv2", 16, 32.0),
    cpu("Standard_F32s_v2", "Fsv2", 32, 64.0),
    cpu("Standard_F64s_v2", "Fsv2", 64, 128.0),
    cpu("Standard_F72s_v2", "Fsv2", 72, 144.0),
    // HPC.
    cpu("Standard_HB120rs_v3", "HBv3", 120, 448.0),
    cpu("Standard_HB176rs_v4", "HBv4", 176, 768.0),
    cpu("Standard_HC44rs", "HC", 44, 352.0),
];

/// The catalog row of a size, matched without regard to case.
pub fn lookup(name: &str) -> Option<&'static Size> {
    SIZES
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
}
