//! The wgpu engine: the WGSL kernels on any Vulkan GPU, and on any CPU
//! through Mesa's lavapipe (how CI runs it). The WGSL sits beside its Rust
//! twin: `model/NAME.wgsl`, `payoff/NAME.wgsl`, `rng.wgsl`, `math.wgsl`,
//! and the kernel itself in `engine/wgpu/`.
//!
//! One dispatch prices many trades: the batch is planned as the CUDA
//! engine's is ([`crate::gpu::plan`]: grouped by model x payoff kind, one
//! pipeline each, assembled at first use; each trade's paths split into
//! blocks of 64, one workgroup each; a prefix table maps a workgroup to its
//! trade). Dispatches are sized under the adapter's real limits
//! (workgroups per dimension, storage binding size: a kind's trades go in
//! chunks whose records fit one binding), and the grid is 2-D beyond
//! 65,535 workgroups. Each workgroup writes its outputs' (n, mean, M2); the
//! plan merges them in f64, in path order, so results do not depend on
//! scheduling.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::{
    check_batch, gpu_revalue, Engine, EngineError, PhiloxAnswer, Precision, PricingRequest,
    TradeResult,
};
use crate::gpu::early::{self, EarlyPlan, EARLY_PARTIAL};
use crate::gpu::plan::{from_mean_m2, launches, BatchPlan, KindPlan};
use crate::gpu::{prelude, PARTIAL};
use crate::greeks::Revaluations;
use crate::instrument::Trade;
use crate::model::ModelKind;
use crate::payoff::PayoffKind;
use crate::scenario::{ScenarioResult, TradeScenarios};

/// Paths per workgroup (`WG` in the prelude).
pub const PATHS_PER_BLOCK: u64 = 64;
/// Most workgroups in one dispatch: keeps each submission short.
const MAX_BLOCKS_PER_DISPATCH: u64 = 65_535 * 4;

/// The WGSL shared by every kernel: the random stream and the special functions.
pub(crate) const RNG: &str = include_str!("../rng.wgsl");
pub(crate) const MATH: &str = include_str!("../math.wgsl");
/// What the pricing kernel and the early-exercise kernel share (which trade
/// a workgroup's block belongs to), the twin of `cuda/common.cuh`.
pub(crate) const COMMON: &str = include_str!("wgpu/common.wgsl");
/// The pricing kernel and the known-answer kernel.
pub(crate) const KERNEL: &str = include_str!("wgpu/kernel.wgsl");
pub(crate) const KAT: &str = include_str!("wgpu/kat.wgsl");
/// Several assets and early exercise: the correlated step, the payoffs on
/// several assets, the continuation value and their kernel
/// ([`crate::gpu::early`]).
pub(crate) const EARLY: [&str; 4] = [
    include_str!("../model/multi.wgsl"),
    include_str!("../payoff/multi.wgsl"),
    include_str!("../exercise.wgsl"),
    include_str!("wgpu/early.wgsl"),
];

/// The kernel of the trades with several assets or early exercise on a
/// `heston_multi` model (else `gbm_multi`): the prelude, the stream, the
/// special functions, `COMMON`, the one-asset model each asset steps as, then
/// `EARLY` (the several-asset WGSL files).
pub fn early_shader(heston: bool) -> String {
    let model = if heston {
        ModelKind::Heston
    } else {
        ModelKind::Gbm
    };
    let mut parts = vec![
        prelude::wgsl(PATHS_PER_BLOCK),
        RNG.to_string(),
        MATH.to_string(),
        COMMON.to_string(),
        model.wgsl().to_string(),
    ];
    parts.extend(EARLY.iter().map(|s| s.to_string()));
    parts.join("\n")
}

/// The pricing kernel for one model x payoff pair: the prelude emitted from
/// Rust, then the stream, the special functions, `COMMON`, the model, the
/// payoff and the kernel.
pub fn pricing_shader(model: ModelKind, payoff: PayoffKind) -> String {
    [
        &prelude::wgsl(PATHS_PER_BLOCK),
        RNG,
        MATH,
        COMMON,
        model.wgsl(),
        payoff.wgsl(),
        KERNEL,
    ]
    .join("\n")
}

/// Runs a future that wgpu's native backends resolve without a reactor.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// A Vulkan adapter as found, for `riskpool probe` and error messages.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub device_type: String,
    pub driver: String,
    pub is_cpu: bool,
}

fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::unavailable("wgpu", reason)
}

fn failed(reason: impl Into<String>) -> EngineError {
    EngineError::failed("wgpu", reason)
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    wgpu::Instance::new(desc)
}

fn preference(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Every Vulkan adapter on this machine, best first.
pub fn adapters() -> Vec<AdapterSummary> {
    let mut found = block_on(instance().enumerate_adapters(wgpu::Backends::VULKAN));
    found.sort_by_key(|a| preference(a.get_info().device_type));
    found
        .iter()
        .map(|a| {
            let i = a.get_info();
            AdapterSummary {
                name: i.name,
                device_type: format!("{:?}", i.device_type),
                driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
                is_cpu: i.device_type == wgpu::DeviceType::Cpu,
            }
        })
        .collect()
}

/// Kernel parameters of one dispatch (`struct Params` in `kernel.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    key: [u32; 2],
    first_block: u32,
    n_blocks: u32,
    n_trades: u32,
    grid_x: u32,
    pad: [u32; 2],
}

/// The wgpu engine on one adapter.
pub struct WgpuEngine {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    /// By (model, payoff, PV-only).
    pipelines: Mutex<HashMap<(ModelKind, PayoffKind, bool), Arc<wgpu::ComputePipeline>>>,
    /// The early-exercise kernels' bindings (the pricing kernel's, then
    /// dates and coefficients) and pipelines, by `heston`.
    early_layout: wgpu::BindGroupLayout,
    early_pipeline_layout: wgpu::PipelineLayout,
    early_pipelines: Mutex<HashMap<bool, Arc<wgpu::ComputePipeline>>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Storage binding size used for chunking (the adapter's, unless capped).
    max_binding: u64,
}

impl WgpuEngine {
    /// Opens the best Vulkan adapter. A CPU (software) adapter such as
    /// lavapipe is taken only with `allow_cpu`: it is for tests and for an
    /// explicit `--engine wgpu`, never for `auto`.
    pub fn new(allow_cpu: bool) -> Result<WgpuEngine, EngineError> {
        let inst = instance();
        let mut found = block_on(inst.enumerate_adapters(wgpu::Backends::VULKAN));
        if found.is_empty() {
            return Err(unavailable(
                "no Vulkan adapter found (no Vulkan driver is installed, or no GPU is visible; \
                 Debian's mesa-vulkan-drivers provides lavapipe on any CPU)",
            ));
        }
        found.sort_by_key(|a| preference(a.get_info().device_type));
        let adapter = found
            .into_iter()
            .find(|a| allow_cpu || a.get_info().device_type != wgpu::DeviceType::Cpu)
            .ok_or_else(|| {
                unavailable("only a CPU (software) Vulkan adapter is present; it is used only when asked for with --engine wgpu")
            })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("riskpool"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("cannot open {}: {e}", info.name)))?;

        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let lost = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut v) = lost.lock() {
                v.push(format!("device lost ({reason:?}): {msg}"));
            }
        });

        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("riskpool-price"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(2, wgpu::BufferBindingType::Storage { read_only: false }),
                entry(3, wgpu::BufferBindingType::Uniform),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("riskpool-price"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let early_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("riskpool-early"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(2, wgpu::BufferBindingType::Storage { read_only: false }),
                entry(3, wgpu::BufferBindingType::Uniform),
                entry(4, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(5, wgpu::BufferBindingType::Storage { read_only: true }),
            ],
        });
        let early_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("riskpool-early"),
                bind_group_layouts: &[Some(&early_layout)],
                immediate_size: 0,
            });
        Ok(WgpuEngine {
            device,
            queue,
            info,
            limits: limits.clone(),
            layout,
            pipeline_layout,
            pipelines: Mutex::new(HashMap::new()),
            early_layout,
            early_pipeline_layout,
            early_pipelines: Mutex::new(HashMap::new()),
            errors,
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        })
    }

    /// Caps the storage binding size below the adapter's, so that tests can
    /// make a modest portfolio span several bindings and dispatches.
    pub fn cap_binding_size(&mut self, bytes: u64) {
        self.max_binding = self.max_binding.min(bytes.max(4096));
    }

    /// Whether the adapter is a CPU (software) one.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    fn check_errors(&self) -> Result<(), EngineError> {
        let mut v = self
            .errors
            .lock()
            .map_err(|_| failed("error log poisoned"))?;
        if v.is_empty() {
            Ok(())
        } else {
            Err(failed(v.drain(..).collect::<Vec<_>>().join("; ")))
        }
    }

    /// The pipeline of a model x payoff kind; `pv_only` sets the shader's
    /// `PV_ONLY` override (one family, one fold), the twin of CUDA's `_pv`.
    fn pipeline(
        &self,
        model: ModelKind,
        payoff: PayoffKind,
        pv_only: bool,
    ) -> Result<Arc<wgpu::ComputePipeline>, EngineError> {
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| failed("pipeline cache poisoned"))?;
        if let Some(p) = cache.get(&(model, payoff, pv_only)) {
            return Ok(p.clone());
        }
        let label = format!(
            "riskpool-{}-{}{}",
            model.name(),
            payoff.name(),
            if pv_only { "-pv" } else { "" }
        );
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(pricing_shader(model, payoff).into()),
            });
        let p = Arc::new(
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: Some(&self.pipeline_layout),
                    module: &module,
                    entry_point: Some("price"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &[("PV_ONLY", if pv_only { 1.0 } else { 0.0 })],
                        ..Default::default()
                    },
                    cache: None,
                }),
        );
        self.check_errors()?;
        cache.insert((model, payoff, pv_only), p.clone());
        Ok(p)
    }

    /// The early-exercise pipeline of a model (`heston_multi`, else `gbm_multi`).
    fn early_pipeline(&self, heston: bool) -> Result<Arc<wgpu::ComputePipeline>, EngineError> {
        let mut cache = self
            .early_pipelines
            .lock()
            .map_err(|_| failed("pipeline cache poisoned"))?;
        if let Some(p) = cache.get(&heston) {
            return Ok(p.clone());
        }
        let label = if heston {
            "riskpool-early-heston_multi"
        } else {
            "riskpool-early-gbm_multi"
        };
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(early_shader(heston).into()),
            });
        let p = Arc::new(
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(&self.early_pipeline_layout),
                    module: &module,
                    entry_point: Some("price_early"),
                    compilation_options: Default::default(),
                    cache: None,
                }),
        );
        self.check_errors()?;
        cache.insert(heston, p.clone());
        Ok(p)
    }

    /// The trades of one early-exercise plan: every record in one binding,
    /// the blocks in dispatches under the adapter's limits, merged in path
    /// order.
    fn price_early(
        &self,
        plan: &EarlyPlan,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<(usize, TradeResult)>, EngineError> {
        let started = Instant::now();
        let pipeline = self.early_pipeline(plan.heston)?;
        let biggest = (plan.records.len() as u64)
            .max(plan.coefs.len() as u64)
            .max(plan.dates.len() as u64 * 4);
        if biggest > self.max_binding {
            return Err(failed(format!(
                "{} several-asset trades need a {biggest}-byte binding, over the adapter's {}: price them in smaller batches",
                plan.trades.len(),
                self.max_binding
            )));
        }
        let init = |label: &str, contents: &[u8]| {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: wgpu::BufferUsages::STORAGE,
                })
        };
        let table = init("riskpool-early-trades", &plan.records);
        let starts = init("riskpool-early-starts", bytemuck::cast_slice(&plan.starts));
        let dates = init("riskpool-early-dates", bytemuck::cast_slice(&plan.dates));
        let coefs = init("riskpool-early-coefs", &plan.coefs);
        let max_dim = self.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let slot = EARLY_PARTIAL as u64 * 4;
        let total = plan.blocks();
        let per_dispatch = MAX_BLOCKS_PER_DISPATCH
            .min(self.max_binding / slot)
            .min(max_dim * max_dim)
            .min(total)
            .max(1);
        let partials = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("riskpool-early-partials"),
            size: per_dispatch * slot,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("riskpool-early-params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let buffers = [&table, &starts, &partials, &uniform, &dates, &coefs];
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("riskpool-early"),
            layout: &self.early_layout,
            entries: &entries,
        });
        let mut out = vec![0.0f32; plan.partials_len()];
        for (first, n) in launches(total, per_dispatch) {
            let grid_x = n.min(max_dim);
            let params = Params {
                key: plan.key,
                first_block: first as u32,
                n_blocks: n as u32,
                n_trades: plan.trades.len() as u32,
                grid_x: grid_x as u32,
                // The canary loop's bound (early.wgsl).
                pad: [2, 0],
            };
            let bytes = self.dispatch(&pipeline, &bind, &uniform, &partials, &params, n * slot)?;
            let got: &[f32] = bytemuck::cast_slice(&bytes);
            // Blocks whose walks the device cut short: their trades.
            if let Some(b) = got
                .chunks(EARLY_PARTIAL)
                .position(|p| p[EARLY_PARTIAL - 1] != 0.0)
            {
                let block = first as usize + b;
                let k = plan.starts.partition_point(|&s| s as usize <= block) - 1;
                let t = &trades[plan.trades[k]];
                return Err(unavailable(format!(
                    "trade `{}`: {} cut its paths short ({} steps{}): it caps an invocation's loop iterations (lavapipe at 65,535), and a path with several assets or early exercise walks every step in one; use the cpu engine, or fewer steps",
                    t.id,
                    self.info.name,
                    t.steps,
                    if req.antithetic { ", twice for an antithetic pair" } else { "" }
                )));
            }
            let at = first as usize * EARLY_PARTIAL;
            out[at..at + n as usize * EARLY_PARTIAL].copy_from_slice(got);
        }
        let secs = started.elapsed().as_secs_f64();
        Ok(plan.results(trades, req, &out, early::from_mean_m2, secs))
    }

    /// One dispatch of `params.n_blocks` workgroups (a grid of
    /// `params.grid_x` by as many rows as they need): writes `params` to
    /// `uniform`, runs `pipeline` on `bind` and reads the first `size`
    /// bytes of `partials` back.
    fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        uniform: &wgpu::Buffer,
        partials: &wgpu::Buffer,
        params: &Params,
        size: u64,
    ) -> Result<Vec<u8>, EngineError> {
        self.queue
            .write_buffer(uniform, 0, bytemuck::bytes_of(params));
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind, &[]);
            pass.dispatch_workgroups(params.grid_x, params.n_blocks.div_ceil(params.grid_x), 1);
        }
        self.read_back(encoder, partials, size)
    }

    /// Reads `size` bytes of `src` back to the host.
    fn read_back(
        &self,
        encoder: wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        size: u64,
    ) -> Result<Vec<u8>, EngineError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("riskpool-readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = encoder;
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .slice(..size)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| failed(format!("waiting for the GPU: {e}")))?;
        self.check_errors()?;
        rx.recv()
            .map_err(|_| failed("the readback never completed"))?
            .map_err(|e| failed(format!("cannot map results: {e}")))?;
        let bytes = staging
            .slice(..size)
            .get_mapped_range()
            .map_err(|e| failed(format!("cannot read results: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }

    /// Philox words and normals computed on the device, for known-answer tests.
    pub fn philox_on_device(
        &self,
        inputs: &[([u32; 4], [u32; 2])],
    ) -> Result<Vec<PhiloxAnswer>, EngineError> {
        let src = [RNG, MATH, KAT].join("\n");
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("riskpool-kat"),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("riskpool-kat"),
                layout: None,
                module: &module,
                entry_point: Some("kat"),
                compilation_options: Default::default(),
                cache: None,
            });
        let words: Vec<[u32; 4]> = inputs
            .iter()
            .flat_map(|(c, k)| [*c, [k[0], k[1], 0, 0]])
            .collect();
        let input = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("riskpool-kat-in"),
                contents: bytemuck::cast_slice(&words),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let size = (words.len() * 16) as u64;
        let output = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("riskpool-kat-out"),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("riskpool-kat"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: input.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: output.as_entire_binding(),
                },
            ],
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups((inputs.len() as u32).div_ceil(64), 1, 1);
        }
        let bytes = self.read_back(encoder, &output, size)?;
        let out: &[[u32; 4]] = bytemuck::cast_slice(&bytes);
        Ok(out
            .chunks(2)
            .map(|p| (p[0], p[1].map(f32::from_bits)))
            .collect())
    }

    /// Runs one kind of a plan's trades, writing its blocks' partials into
    /// `out` (the kind's share of the plan's partials): its trades in
    /// chunks whose records fit one binding, each chunk's blocks in
    /// dispatches under the adapter's limits.
    fn price_kind(
        &self,
        plan: &BatchPlan,
        k: &KindPlan,
        out: &mut [f32],
    ) -> Result<(), EngineError> {
        let pipeline = self.pipeline(k.model, k.payoff, k.pv_only)?;
        let record_size = plan.record_size as u64;
        let max_binding = self.max_binding;
        let max_trades = (max_binding / record_size).max(1) as usize;
        let max_dim = self.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let max_blocks = MAX_BLOCKS_PER_DISPATCH
            .min(max_binding / (PARTIAL as u64 * 4))
            .min(max_dim * max_dim);

        for chunk in k.chunks(max_trades) {
            let first_record = k.first_record + chunk.trades.start;
            let bytes = first_record * plan.record_size
                ..(k.first_record + chunk.trades.end) * plan.record_size;
            let table = self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("riskpool-trades"),
                    contents: &plan.records[bytes],
                    usage: wgpu::BufferUsages::STORAGE,
                });
            let starts = self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("riskpool-block-starts"),
                    contents: bytemuck::cast_slice(&chunk.starts),
                    usage: wgpu::BufferUsages::STORAGE,
                });
            let total = chunk.blocks();
            let per_dispatch = max_blocks.min(total);
            let out_size = per_dispatch * PARTIAL as u64 * 4;
            let partials = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("riskpool-partials"),
                size: out_size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("riskpool-params"),
                size: std::mem::size_of::<Params>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("riskpool-price"),
                layout: &self.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: table.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: starts.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: partials.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: uniform.as_entire_binding(),
                    },
                ],
            });

            for (first, n) in launches(total, per_dispatch) {
                let grid_x = n.min(max_dim);
                let params = Params {
                    key: plan.key,
                    first_block: first as u32,
                    n_blocks: n as u32,
                    n_trades: chunk.trades.len() as u32,
                    grid_x: grid_x as u32,
                    pad: [0; 2],
                };
                let bytes = self.dispatch(
                    &pipeline,
                    &bind,
                    &uniform,
                    &partials,
                    &params,
                    n * PARTIAL as u64 * 4,
                )?;
                let at = (chunk.first_block + first) as usize * PARTIAL;
                out[at..at + n as usize * PARTIAL].copy_from_slice(bytemuck::cast_slice(&bytes));
            }
        }
        Ok(())
    }
}

impl WgpuEngine {
    /// Prices `trades`, each with its own revaluations (`plans`) or the
    /// request's Greeks (`None`).
    fn price_with(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        if req.precision == Precision::F64 {
            return Err(unavailable(
                "WGSL has no f64: use --precision f32, or the cpu or cuda engine",
            ));
        }
        check_batch("wgpu", trades, req, u32::MAX as u64 - PATHS_PER_BLOCK)?;
        let (early, plain): (Vec<usize>, Vec<usize>) =
            (0..trades.len()).partition(|&i| trades[i].extension.is_some());
        let plan = BatchPlan::with_plans("wgpu", trades, plans, &plain, req, PATHS_PER_BLOCK)?;
        let mut partials = vec![0.0f32; plan.partials_len()];
        let mut seconds = Vec::with_capacity(plan.kinds.len());
        for k in &plan.kinds {
            let t0 = Instant::now();
            let at = k.first_block as usize * PARTIAL;
            self.price_kind(
                &plan,
                k,
                &mut partials[at..at + k.blocks() as usize * PARTIAL],
            )?;
            seconds.push(t0.elapsed().as_secs_f64());
        }
        let mut results = vec![TradeResult::unpriced(); trades.len()];
        for (i, m, s) in plan.merge(&partials, from_mean_m2, |k| seconds[k]) {
            results[i] = TradeResult::from_moments(&m, req, trades[i].paths, s);
        }
        for plan in EarlyPlan::new("wgpu", trades, &early, req, PATHS_PER_BLOCK, false)? {
            for (i, r) in self.price_early(&plan, trades, req)? {
                results[i] = r;
            }
        }
        Ok(results)
    }
}

impl Engine for WgpuEngine {
    fn name(&self) -> &'static str {
        "wgpu"
    }

    fn device(&self) -> String {
        let kind = if self.is_software() {
            "software"
        } else {
            "gpu"
        };
        format!("{} ({}, Vulkan, {kind})", self.info.name, self.info.driver)
    }

    fn price(
        &self,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<Vec<TradeResult>, EngineError> {
        self.price_with(trades, None, req)
    }

    /// One pass per chunk of each one-asset trade's scenarios, all the
    /// passes dispatched as one batch ([`super::gpu_revalue`]).
    fn revalue(
        &self,
        trades: &[Trade],
        scenarios: &[TradeScenarios],
        req: &PricingRequest,
    ) -> Result<Vec<ScenarioResult>, EngineError> {
        gpu_revalue(self, trades, scenarios, req, |t, p, r| {
            self.price_with(t, Some(p), r)
        })
    }
}
