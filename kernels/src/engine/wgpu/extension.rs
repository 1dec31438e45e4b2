//! The wgpu engine's side kernels: the trades with several assets or early
//! exercise ([`crate::gpu::extension`] plans them) and the dated trades
//! ([`crate::gpu::dated`]): their pipelines and their batches.

use std::sync::Arc;
use std::time::Instant;

use wgpu::util::DeviceExt;

use super::*;
use crate::engine::{EngineError, PricingRequest};
use crate::gpu::extension::{self, Moments, SideBatch, SideKernel};
use crate::gpu::plan::launches;
use crate::instrument::Trade;

impl WgpuEngine {
    /// The pipeline of a side kernel: early exercise on a model
    /// (`heston_multi`, else `gbm_multi`), or dated trades of a payoff kind.
    pub(super) fn side_pipeline(
        &self,
        kernel: SideKernel,
    ) -> Result<Arc<wgpu::ComputePipeline>, EngineError> {
        let mut cache = self
            .extension_pipelines
            .lock()
            .map_err(|_| failed("pipeline cache poisoned"))?;
        if let Some(p) = cache.get(&kernel) {
            return Ok(p.clone());
        }
        let (label, source, entry) = match kernel {
            SideKernel::Extension { heston, width } => (
                format!(
                    "riskpool-extension-{}_multi{}",
                    if heston { "heston" } else { "gbm" },
                    width.suffix()
                ),
                extension_shader(heston, width),
                "price_extension",
            ),
            SideKernel::Dated(kind) => (
                format!("riskpool-dated-{}", kind.name()),
                dated_shader(kind),
                "price_dated",
            ),
            SideKernel::DatedMulti(width) => (
                format!("riskpool-dated-multi{}", width.suffix()),
                dated_multi_shader(width),
                "price_dated_multi",
            ),
        };
        let label = label.as_str();
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let p = Arc::new(
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(&self.extension_pipeline_layout),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                }),
        );
        self.check_errors()?;
        cache.insert(kernel, p.clone());
        Ok(p)
    }

    /// One batch of a side kernel: every record in one binding, the
    /// blocks in dispatches under the adapter's limits; each block's
    /// moments.
    pub(super) fn side_sums(
        &self,
        plan: &SideBatch,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<(Vec<Moments>, f64), EngineError> {
        let started = Instant::now();
        let pipeline = self.side_pipeline(plan.kernel)?;
        let biggest = (plan.records.len() as u64)
            .max(plan.coefs.len() as u64)
            .max(plan.dates.len() as u64 * 4);
        let mut ids: Vec<usize> = plan.trades.to_vec();
        ids.dedup();
        if biggest > self.max_binding && ids.len() == 1 {
            // One trade (its records) alone outgrows a binding: no split
            // helps; the CPU engine (`--engine auto` goes on there) or CUDA
            // takes it.
            let t = &trades[ids[0]];
            return Err(unavailable(format!(
                "trade `{}` needs a {biggest}-byte table, over {}'s {}-byte storage binding (steps x revaluations x underlyings, and a local-volatility table a step): use the cpu or cuda engine, or fewer steps or Greeks",
                t.id, self.info.name, self.max_binding
            )));
        }
        if biggest > self.max_binding {
            return Err(failed(format!(
                "{} several-asset or dated trades need a {biggest}-byte binding, over the adapter's {}: price them in smaller batches",
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
        let table = init("riskpool-extension-trades", plan.records);
        let starts = init(
            "riskpool-extension-starts",
            bytemuck::cast_slice(plan.starts),
        );
        let dates = init("riskpool-extension-dates", bytemuck::cast_slice(plan.dates));
        let coefs = init("riskpool-extension-coefs", plan.coefs);
        let max_dim = self.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let partial = plan.partial();
        let slot = partial as u64 * 4;
        let total = plan.blocks();
        let per_dispatch = MAX_BLOCKS_PER_DISPATCH
            .min(self.max_binding / slot)
            .min(max_dim * max_dim)
            .min(total)
            .max(1);
        let partials = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("riskpool-extension-partials"),
            size: per_dispatch * slot,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("riskpool-extension-params"),
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
            label: Some("riskpool-extension"),
            layout: &self.extension_layout,
            entries: &entries,
        });
        let mut out = vec![0.0f32; plan.partials_len()];
        for (first, n) in launches(total, per_dispatch) {
            let grid_x = n.min(max_dim);
            let params = Params {
                key: plan.key,
                first_block: first as u32,
                n_blocks: n as u32,
                n_trades: plan.n_trades(),
                grid_x: grid_x as u32,
                // The canary loop's bound (extension.wgsl).
                pad: [2, 0],
            };
            let bytes = self.dispatch(&pipeline, &bind, &uniform, &partials, &params, n * slot)?;
            let got: &[f32] = bytemuck::cast_slice(&bytes);
            // Blocks whose walks the device cut short: their trades.
            if let Some(b) = got.chunks(partial).position(|p| p[partial - 1] != 0.0) {
                let t = &trades[plan.trade_of_block(first as usize + b)];
                let steps = t.dated.as_ref().map_or(t.steps as usize, |d| d.steps());
                return Err(unavailable(format!(
                    "trade `{}`: {} cut its paths short ({steps} steps{}): it caps an invocation's loop iterations (lavapipe at 65,535), and a path with several assets, early exercise or a dated grid walks every step in one; use the cpu engine, or fewer steps",
                    t.id,
                    self.info.name,
                    if req.antithetic { ", twice for an antithetic pair" } else { "" }
                )));
            }
            let at = first as usize * partial;
            out[at..at + n as usize * partial].copy_from_slice(got);
        }
        let secs = started.elapsed().as_secs_f64();
        Ok((plan.decode(&out, extension::from_mean_m2), secs))
    }
}
