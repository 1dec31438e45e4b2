//! Azure Batch request bodies for riskpool.
//!
//! - [`pool`]: the pool, as the management plane's `Pool` (Azure Resource
//!   Manager: `az rest --method put`, ARM, Bicep), the only API that can
//!   attach the user-assigned managed identity the nodes pull images and
//!   move files with; or as the data plane's Pool_Add for pools that need
//!   no identity. Container pools (an image from a private registry) or
//!   custom-image pools (a gallery image).
//! - [`job`]: the job and the task graph generate (or an existing book) ->
//!   split -> price_0..N-1 -> concat, with every file moved by Batch itself
//!   (`resourceFiles` in, `outputFiles` out) under blob names that carry the
//!   job id, so two jobs never see each other's files.
//! - [`rules`]: the service's documented rules that the REST schema does not
//!   express (id shapes, task slots, autoscale interval, resource ids, ...).
//! - [`script`]: `run.sh`, the whole run with the Azure CLI.

pub mod job;
pub mod pool;
pub mod rules;
pub mod script;

pub use job::{job, task_collections, JobOptions, Storage};
pub use pool::{pool_data, pool_management, pool_url, PoolOptions};

/// Most tasks in one Task_AddCollection request.
pub const MAX_TASKS_PER_COLLECTION: usize = 100;

/// The management plane's API version for pools.
pub const ARM_API_VERSION: &str = "2024-07-01";

/// A marketplace image for the pool's nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketplaceImage {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

impl MarketplaceImage {
    /// Ubuntu 22.04 HPC (NVIDIA drivers and a container runtime included),
    /// which Batch's GPU container pools run on. A Generation 2 image, as
    /// the ND H100 v5 sizes require (every size riskpool targets takes
    /// Generation 2).
    pub fn ubuntu_hpc() -> MarketplaceImage {
        MarketplaceImage {
            publisher: "microsoft-dsvm".into(),
            offer: "ubuntu-hpc".into(),
            sku: "2204".into(),
            version: "latest".into(),
        }
    }

    /// `PUBLISHER:OFFER:SKU:VERSION`.
    pub fn parse(s: &str) -> Option<MarketplaceImage> {
        let p: Vec<&str> = s.split(':').collect();
        match p.as_slice() {
            [a, b, c, d] if p.iter().all(|x| !x.is_empty()) => Some(MarketplaceImage {
                publisher: a.to_string(),
                offer: b.to_string(),
                sku: c.to_string(),
                version: d.to_string(),
            }),
            _ => None,
        }
    }
}

/// What the pool's nodes run.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeImage {
    /// riskpool in a container: the node image, and the container image
    /// from a private registry (Azure Container Registry), pulled with the
    /// pool's managed identity when it has one.
    Container {
        node: MarketplaceImage,
        image: String,
        registry: String,
    },
    /// A custom VM image (riskpool installed, `riskpool-image vm`) from an
    /// Azure Compute Gallery.
    Custom { gallery_image_id: String },
}

/// How many nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Scale {
    /// Fixed counts. Spot nodes are the API's `targetLowPriorityNodes`: in a
    /// Batch account in UserSubscription pool allocation mode they are spot
    /// VMs (Batch-managed accounts' low-priority VMs were retired on
    /// 2025-09-30).
    Fixed { dedicated: u32, spot: u32 },
    /// An autoscale formula, evaluated every `interval` (ISO 8601, e.g. PT5M).
    Auto { formula: String, interval: String },
}

/// Which Batch API a pool body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Plane {
    /// Azure Resource Manager's `Microsoft.Batch/batchAccounts/pools`
    /// (Pool_Create): pools with a managed identity.
    Management,
    /// The Batch account's own Pool_Add (`az batch pool create`): pools
    /// without an identity only.
    Data,
}
