//! The wgpu engine's device: finding a Vulkan adapter, submitting work,
//! reading results back, and the errors of each.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::engine::EngineError;

/// Runs a future that wgpu's native backends resolve without a reactor.
pub(super) fn block_on<F: Future>(f: F) -> F::Output {
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

pub(super) fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::unavailable("wgpu", reason)
}

pub(super) fn failed(reason: impl Into<String>) -> EngineError {
    EngineError::failed("wgpu", reason)
}

pub(super) fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    wgpu::Instance::new(desc)
}

pub(super) fn preference(t: wgpu::DeviceType) -> u8 {
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

impl WgpuEngine {
    pub(super) fn check_errors(&self) -> Result<(), EngineError> {
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

    /// One dispatch of `params.n_blocks` workgroups (a grid of
    /// `params.grid_x` by as many rows as they need): writes `params` to
    /// `uniform`, runs `pipeline` on `bind` and reads the first `size`
    /// bytes of `partials` back.
    pub(super) fn dispatch(
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
    pub(super) fn read_back(
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
}
