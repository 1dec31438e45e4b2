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
//!
//! Its parts: `source` (the WGSL each kernel is assembled from), `device`
//! (the adapter, submissions and read-backs), `extension` (the trades with
//! several assets or early exercise); the pricing of one-asset trades is
//! here.

mod device;
mod extension;
mod source;

pub use device::{adapters, AdapterSummary};
use device::{block_on, failed, instance, preference, unavailable};
pub use source::{
    dated_multi_shader, dated_shader, extension_shader, one_pass_shader, pricing_shader,
};
#[allow(unused_imports)] // COMMON, KERNEL, EXTENSION, DATED, ...: read by the prelude's tests.
pub(crate) use source::{
    COMMON, DATED, DATED_MULTI, DATED_STEP, EXTENSION, KAT, KERNEL, MATH, ONE_PASS, PRICE_REDUCE,
    QMC, RNG, TANGENT,
};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::{check_batch, EngineError, PhiloxAnswer, Precision, PricingRequest, TradeResult};
use crate::engine::Pending;
use crate::gpu::backend::{done, GpuBackend};
use crate::gpu::dated;
use crate::gpu::extension::{ExtensionPlan, Moments, SideBatch, SideKernel};
use crate::gpu::plan::{from_mean_m2, launches, BatchPlan, KindPlan};
use crate::gpu::PARTIAL;
use crate::greeks::Revaluations;
use crate::instrument::Trade;
use crate::model::ModelKind;
use crate::payoff::PayoffKind;

/// Paths per workgroup (`WG` in the prelude).
pub const PATHS_PER_BLOCK: u64 = 64;
/// Most workgroups in one dispatch: keeps each submission short.
const MAX_BLOCKS_PER_DISPATCH: u64 = 65_535 * 4;

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
    /// By (model, payoff, PV-only, one-pass).
    pipelines: Mutex<HashMap<(ModelKind, PayoffKind, bool, bool), Arc<wgpu::ComputePipeline>>>,
    /// The early-exercise kernels' bindings (the pricing kernel's, then
    /// dates and coefficients) and pipelines, by `heston`.
    extension_layout: wgpu::BindGroupLayout,
    extension_pipeline_layout: wgpu::PipelineLayout,
    extension_pipelines: Mutex<HashMap<SideKernel, Arc<wgpu::ComputePipeline>>>,
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
                // Sobol points' direction numbers and sweeps (qmc.wgsl).
                entry(4, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(5, wgpu::BufferBindingType::Storage { read_only: true }),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("riskpool-price"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let extension_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("riskpool-extension"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(2, wgpu::BufferBindingType::Storage { read_only: false }),
                entry(3, wgpu::BufferBindingType::Uniform),
                entry(4, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(5, wgpu::BufferBindingType::Storage { read_only: true }),
            ],
        });
        let extension_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("riskpool-extension"),
                bind_group_layouts: &[Some(&extension_layout)],
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
            extension_layout,
            extension_pipeline_layout,
            extension_pipelines: Mutex::new(HashMap::new()),
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

    /// The pipeline of a model x payoff kind; `pv_only` sets the shader's
    /// `PV_ONLY` override (one family, one fold), the twin of CUDA's `_pv`;
    /// `one_pass` takes the one-pass kernel ([`one_pass_shader`]).
    pub(super) fn pipeline(
        &self,
        model: ModelKind,
        payoff: PayoffKind,
        pv_only: bool,
        one_pass: bool,
    ) -> Result<Arc<wgpu::ComputePipeline>, EngineError> {
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| failed("pipeline cache poisoned"))?;
        if let Some(p) = cache.get(&(model, payoff, pv_only, one_pass)) {
            return Ok(p.clone());
        }
        let label = format!(
            "riskpool-{}-{}{}{}",
            model.name(),
            payoff.name(),
            if pv_only { "-pv" } else { "" },
            if one_pass { "-one-pass" } else { "" }
        );
        // The one-pass kernel has no PV_ONLY variant.
        let pv = [("PV_ONLY", if pv_only { 1.0 } else { 0.0 })];
        let constants: &[(&str, f64)] = if one_pass { &[] } else { &pv };
        let source = if one_pass {
            one_pass_shader(model, payoff)
        } else {
            pricing_shader(model, payoff)
        };
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let p = Arc::new(
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: Some(&self.pipeline_layout),
                    module: &module,
                    entry_point: Some("price"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        ..Default::default()
                    },
                    cache: None,
                }),
        );
        self.check_errors()?;
        cache.insert((model, payoff, pv_only, one_pass), p.clone());
        Ok(p)
    }

    /// Runs a known-answer kernel: `entry` of `src` over `items` work items,
    /// `input` at binding 0, `extra` bindings beside it, `out_words` words
    /// of output at binding 1 (read back).
    fn known_answers(
        &self,
        src: String,
        entry: &str,
        items: usize,
        input: &[u8],
        extra: &[(u32, &[u8])],
        out_words: usize,
    ) -> Result<Vec<u32>, EngineError> {
        let label = &format!("riskpool-{entry}");
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        self.check_errors()?;
        let buffer = |contents: &[u8]| {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: wgpu::BufferUsages::STORAGE,
                })
        };
        let input = buffer(input);
        let extra: Vec<(u32, wgpu::Buffer)> = extra.iter().map(|(b, c)| (*b, buffer(c))).collect();
        let size = (out_words.max(4) * 4) as u64;
        let output = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: input.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: output.as_entire_binding(),
            },
        ];
        entries.extend(extra.iter().map(|(binding, b)| wgpu::BindGroupEntry {
            binding: *binding,
            resource: b.as_entire_binding(),
        }));
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups((items as u32).div_ceil(64), 1, 1);
        }
        let bytes = self.read_back(encoder, &output, size)?;
        Ok(bytes
            .chunks_exact(4)
            .take(out_words)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect())
    }

    /// Philox words and normals computed on the device, for known-answer tests.
    pub fn philox_on_device(
        &self,
        inputs: &[([u32; 4], [u32; 2])],
    ) -> Result<Vec<PhiloxAnswer>, EngineError> {
        let words: Vec<[u32; 4]> = inputs
            .iter()
            .flat_map(|(c, k)| [*c, [k[0], k[1], 0, 0]])
            .collect();
        let out = self.known_answers(
            [RNG, MATH, KAT].join("\n"),
            "kat",
            inputs.len(),
            bytemuck::cast_slice(&words),
            &[],
            words.len() * 4,
        )?;
        let out: &[[u32; 4]] = bytemuck::cast_slice(&out);
        Ok(out
            .chunks(2)
            .map(|p| (p[0], p[1].map(f32::from_bits)))
            .collect())
    }

    /// Sobol points on the device, for known-answer tests: for each query
    /// `(dimension, point, replicate)` of the trade of stream `stream`
    /// under the run's Philox key `key`, `[point, scrambled, normal bits]`
    /// (`qmc_kat.wgsl`).
    pub fn sobol_on_device(
        &self,
        key: [u32; 2],
        stream: u64,
        queries: &[[u32; 3]],
    ) -> Result<Vec<[u32; 3]>, EngineError> {
        let src = [
            crate::gpu::prelude::wgsl(PATHS_PER_BLOCK).as_str(),
            RNG,
            MATH,
            QMC,
            include_str!("qmc_kat.wgsl"),
        ]
        .join("\n");
        let dims = queries.iter().map(|q| q[0] as usize + 1).max().unwrap_or(1);
        let dirs: Vec<u32> = crate::qmc::sobol::directions()
            [..dims.min(crate::qmc::sobol::MAX_DIMENSIONS)]
            .iter()
            .flatten()
            .copied()
            .collect();
        let mut words = vec![[key[0], key[1], stream as u32, (stream >> 32) as u32]];
        words.extend(queries.iter().map(|q| [q[0], q[1], q[2], 0]));
        let out = self.known_answers(
            src,
            "sobol_kat",
            queries.len(),
            bytemuck::cast_slice(&words),
            &[(4, bytemuck::cast_slice(&dirs))],
            queries.len() * 4,
        )?;
        Ok(out.chunks(4).map(|w| [w[0], w[1], w[2]]).collect())
    }

    /// Runs one kind of a plan's trades, writing its blocks' partials into
    /// `out` (the kind's share of the plan's partials): its trades in
    /// chunks whose records fit one binding, each chunk's blocks in
    /// dispatches under the adapter's limits.
    fn price_kind(
        &self,
        plan: &BatchPlan,
        k: &KindPlan,
        trades: &[Trade],
        req: &PricingRequest,
        out: &mut [f32],
    ) -> Result<(), EngineError> {
        let pipeline = self.pipeline(k.model, k.payoff, k.pv_only, k.one_pass)?;
        let record_size = plan.record_size as u64;
        let max_binding = self.max_binding;
        let max_trades = (max_binding / record_size).max(1) as usize;
        let max_dim = self.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let max_blocks = MAX_BLOCKS_PER_DISPATCH
            .min(max_binding / (PARTIAL as u64 * 4))
            .min(max_dim * max_dim);

        // The batch's Sobol tables (a word where it has no Sobol trade: a
        // binding is never empty).
        let (dirs, sweep) = match &plan.sobol {
            Some(t) => (t.directions.clone(), t.wgsl_sweep()),
            None => (vec![0u32], vec![[0u32; 4]]),
        };
        let sobol_dirs = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("riskpool-sobol-directions"),
                contents: bytemuck::cast_slice(&dirs),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let sobol_sweep = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("riskpool-sobol-sweep"),
                contents: bytemuck::cast_slice(&sweep),
                usage: wgpu::BufferUsages::STORAGE,
            });
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
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: sobol_dirs.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 5,
                        resource: sobol_sweep.as_entire_binding(),
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
                    // The canary loop's bound (kernel.wgsl).
                    pad: [2, 0],
                };
                let bytes = self.dispatch(
                    &pipeline,
                    &bind,
                    &uniform,
                    &partials,
                    &params,
                    n * PARTIAL as u64 * 4,
                )?;
                let got: &[f32] = bytemuck::cast_slice(&bytes);
                // A block the device cut short (the canary): its trade.
                if let Some(b) = got.chunks(PARTIAL).position(|p| p[PARTIAL - 1] != 0.0) {
                    let block = (chunk.first_block + first) as u32 + b as u32;
                    let place = k.starts.partition_point(|&s| s <= block).saturating_sub(1);
                    let t = &trades[k.trades[place.min(k.trades.len() - 1)]];
                    return Err(unavailable(format!(
                        "trade `{}`: {} cut its paths short ({} steps{}): it caps an invocation's loop iterations (lavapipe at 65,535); use the cpu engine, or fewer steps",
                        t.id,
                        self.info.name,
                        t.steps,
                        if super::replicates::rng_of(t, req) != crate::qmc::Rng::Philox {
                            " on sobol points, which take more of them"
                        } else {
                            ""
                        }
                    )));
                }
                let at = (chunk.first_block + first) as usize * PARTIAL;
                out[at..at + n as usize * PARTIAL].copy_from_slice(got);
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
        self.check(trades, req)?;
        let (side, plain): (Vec<usize>, Vec<usize>) = (0..trades.len())
            .partition(|&i| trades[i].extension.is_some() || trades[i].dated.is_some());
        let (dated, extended): (Vec<usize>, Vec<usize>) =
            side.into_iter().partition(|&i| trades[i].dated.is_some());
        let (dated, dated_multi): (Vec<usize>, Vec<usize>) = dated
            .into_iter()
            .partition(|&i| crate::gpu::dated::takes(&trades[i]));
        let (one_pass, plain) = crate::gpu::one_pass::split(trades, plans, plain, req);
        let mut results = vec![TradeResult::unpriced(); trades.len()];
        let plain = BatchPlan::with_plans("wgpu", trades, plans, &plain, req, PATHS_PER_BLOCK)?;
        let one_pass = BatchPlan::one_pass("wgpu", trades, &one_pass, req, PATHS_PER_BLOCK)?;
        for plan in [plain, one_pass] {
            let mut partials = vec![0.0f32; plan.partials_len()];
            let mut seconds = Vec::with_capacity(plan.kinds.len());
            for k in &plan.kinds {
                let t0 = Instant::now();
                let at = k.first_block as usize * PARTIAL;
                self.price_kind(
                    &plan,
                    k,
                    trades,
                    req,
                    &mut partials[at..at + k.blocks() as usize * PARTIAL],
                )?;
                seconds.push(t0.elapsed().as_secs_f64());
            }
            for m in plan.merge(&partials, from_mean_m2, |k| seconds[k]) {
                results[m.index] = m.result(req, trades[m.index].paths);
            }
        }
        for plan in ExtensionPlan::new("wgpu", trades, &extended, req, PATHS_PER_BLOCK, false)? {
            let (blocks, secs) = self.side_sums(&plan.batch(), trades, req)?;
            for (i, r) in plan.results(trades, req, &plan.merged(&blocks), secs) {
                results[i] = r;
            }
        }
        let mut run = |b: &SideBatch| self.side_sums(b, trades, req);
        for (i, r) in dated::price(self.side_target(), trades, &dated, req, &mut run)? {
            results[i] = r;
        }
        for (i, r) in
            crate::gpu::dated_multi::price(self.side_target(), trades, &dated_multi, req, &mut run)?
        {
            results[i] = r;
        }
        Ok(results)
    }
}

impl GpuBackend for WgpuEngine {
    const NAME: &'static str = "wgpu";
    const EXTENSION_BLOCK: u64 = PATHS_PER_BLOCK;
    const EXTENSION_F64: bool = false;

    fn hardware(&self) -> String {
        let kind = if self.is_software() {
            "software"
        } else {
            "gpu"
        };
        format!("{} ({}, Vulkan, {kind})", self.info.name, self.info.driver)
    }

    fn start(
        &self,
        trades: &[Trade],
        plans: Option<&[Revaluations]>,
        req: &PricingRequest,
    ) -> Result<Box<dyn Pending>, EngineError> {
        Ok(done(self.price_with(trades, plans, req)?))
    }
    fn check(&self, trades: &[Trade], req: &PricingRequest) -> Result<(), EngineError> {
        if req.precision == Precision::F64 {
            return Err(unavailable(
                "WGSL has no f64: use --precision f32, or the cpu or cuda engine",
            ));
        }
        check_batch("wgpu", trades, req, u32::MAX as u64 - PATHS_PER_BLOCK)
    }

    /// Plans are cut under the adapter's storage binding.
    fn side_target(&self) -> crate::gpu::dated::SideTarget {
        crate::gpu::dated::SideTarget {
            engine: Self::NAME,
            samples_per_block: Self::EXTENSION_BLOCK,
            f64: Self::EXTENSION_F64,
            max_binding: self.max_binding,
        }
    }

    fn run_side(
        &self,
        batch: &SideBatch,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<(Vec<Moments>, f64), EngineError> {
        self.side_sums(batch, trades, req)
    }
}
