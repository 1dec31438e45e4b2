//! The wgpu engine's trades with several assets or early exercise: their
//! pipelines and their batches ([`crate::gpu::extension`] plans them).

use std::sync::Arc;
use std::time::Instant;

use wgpu::util::DeviceExt;

use super::*;
use crate::engine::cpu::extension::Acc;
use crate::engine::{EngineError, PricingRequest};
use crate::gpu::extension::{self, ExtensionPlan, EXTENSION_PARTIAL};
use crate::gpu::plan::launches;
use crate::instrument::Trade;

impl WgpuEngine {
    /// The early-exercise pipeline of a model (`heston_multi`, else `gbm_multi`).
    pub(super) fn extension_pipeline(
        &self,
        heston: bool,
    ) -> Result<Arc<wgpu::ComputePipeline>, EngineError> {
        let mut cache = self
            .extension_pipelines
            .lock()
            .map_err(|_| failed("pipeline cache poisoned"))?;
        if let Some(p) = cache.get(&heston) {
            return Ok(p.clone());
        }
        let label = if heston {
            "riskpool-extension-heston_multi"
        } else {
            "riskpool-extension-gbm_multi"
        };
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(extension_shader(heston).into()),
            });
        let p = Arc::new(
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(&self.extension_pipeline_layout),
                    module: &module,
                    entry_point: Some("price_extension"),
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
    pub(super) fn extension_sums(
        &self,
        plan: &ExtensionPlan,
        trades: &[Trade],
        req: &PricingRequest,
    ) -> Result<(Vec<Acc>, f64), EngineError> {
        let started = Instant::now();
        let pipeline = self.extension_pipeline(plan.heston)?;
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
        let table = init("riskpool-extension-trades", &plan.records);
        let starts = init(
            "riskpool-extension-starts",
            bytemuck::cast_slice(&plan.starts),
        );
        let dates = init(
            "riskpool-extension-dates",
            bytemuck::cast_slice(&plan.dates),
        );
        let coefs = init("riskpool-extension-coefs", &plan.coefs);
        let max_dim = self.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let slot = EXTENSION_PARTIAL as u64 * 4;
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
                n_trades: plan.trades.len() as u32,
                grid_x: grid_x as u32,
                // The canary loop's bound (extension.wgsl).
                pad: [2, 0],
            };
            let bytes = self.dispatch(&pipeline, &bind, &uniform, &partials, &params, n * slot)?;
            let got: &[f32] = bytemuck::cast_slice(&bytes);
            // Blocks whose walks the device cut short: their trades.
            if let Some(b) = got
                .chunks(EXTENSION_PARTIAL)
                .position(|p| p[EXTENSION_PARTIAL - 1] != 0.0)
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
            let at = first as usize * EXTENSION_PARTIAL;
            out[at..at + n as usize * EXTENSION_PARTIAL].copy_from_slice(got);
        }
        let secs = started.elapsed().as_secs_f64();
        Ok((plan.merged(&out, extension::from_mean_m2), secs))
    }
}
