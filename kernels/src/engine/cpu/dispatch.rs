//! Runtime choice of SIMD width: one binary runs on any x86-64 node and
//! uses AVX-512 or AVX2 where the CPU has them.
//!
//! The same generic kernel is compiled three times, inside functions that
//! enable the target features, so LLVM vectorizes the lane loops for that
//! width. All widths give bit-identical results (see `lanes.rs`).

use super::fan::{run_fan, FanSums};
use super::lanes::{run_group, run_paths, FoldStep, Job};
use crate::model::PathModel;
use crate::payoff::PathPayoff;
use crate::real::Real;
use crate::stats::Sums;

/// The SIMD level the kernels are run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Baseline x86-64 (SSE2) or any other architecture.
    Portable,
    Avx2,
    Avx512,
}

impl Simd {
    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "portable",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Simd> {
        [Simd::Portable, Simd::Avx2, Simd::Avx512]
            .into_iter()
            .find(|l| l.name() == s)
    }

    /// The best level this CPU supports.
    pub fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
            {
                return Simd::Avx512;
            }
            if is_x86_feature_detected!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Portable
    }

    /// Whether this CPU can run code compiled for `self`.
    pub fn supported(self) -> bool {
        match self {
            Simd::Portable => true,
            _ => Simd::detect() as u8 >= self as u8,
        }
    }
}

/// Prices paths `first .. first + count` of each of `jobs` (passes over
/// the same trade's paths, see [`run_group`]) into its `accs[j]` at SIMD
/// level `simd`, which the caller has checked is [`Simd::supported`].
#[inline(always)]
pub fn run<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    simd: Simd,
    jobs: &[Job<T, M, P>],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the engine only selects levels that `Simd::supported` confirmed.
        Simd::Avx512 => unsafe { run_avx512(jobs, first, count, accs) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Simd::Avx2 => unsafe { run_avx2(jobs, first, count, accs) },
        _ => run_group::<T, M, P, 8>(jobs, first, count, accs),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2")]
unsafe fn run_avx512<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    jobs: &[Job<T, M, P>],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    run_group::<T, M, P, 16>(jobs, first, count, accs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    jobs: &[Job<T, M, P>],
    first: u64,
    count: u64,
    accs: &mut [Sums],
) {
    run_group::<T, M, P, 8>(jobs, first, count, accs)
}

/// Prices paths `first .. first + count` of one job (a pathwise one) into
/// `acc` at SIMD level `simd`: [`run`] without the grouped kernel, which a
/// job that is never grouped need not compile.
#[inline(always)]
pub fn run_one<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    simd: Simd,
    job: &Job<T, M, P>,
    first: u64,
    count: u64,
    acc: &mut Sums,
) {
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the engine only selects levels that `Simd::supported` confirmed.
        Simd::Avx512 => unsafe { run_one_avx512(job, first, count, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Simd::Avx2 => unsafe { run_one_avx2(job, first, count, acc) },
        _ => run_paths::<T, M, P, 8>(job, first, count, acc),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2")]
unsafe fn run_one_avx512<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    job: &Job<T, M, P>,
    first: u64,
    count: u64,
    acc: &mut Sums,
) {
    run_paths::<T, M, P, 16>(job, first, count, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_one_avx2<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    job: &Job<T, M, P>,
    first: u64,
    count: u64,
    acc: &mut Sums,
) {
    run_paths::<T, M, P, 8>(job, first, count, acc)
}

/// Paths `first .. first + count` of `job`'s base under every fold of
/// `folds` (a scenario fan, see [`run_fan`]) at SIMD level `simd`.
#[inline(always)]
pub fn fan<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    simd: Simd,
    job: &Job<T, M, P>,
    folds: &[FoldStep<T>],
    first: u64,
    count: u64,
) -> FanSums {
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the engine only selects levels that `Simd::supported` confirmed.
        Simd::Avx512 => unsafe { fan_avx512(job, folds, first, count) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Simd::Avx2 => unsafe { fan_avx2(job, folds, first, count) },
        _ => run_fan::<T, M, P, 8>(job, folds, first, count),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2")]
unsafe fn fan_avx512<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    job: &Job<T, M, P>,
    folds: &[FoldStep<T>],
    first: u64,
    count: u64,
) -> FanSums {
    run_fan::<T, M, P, 16>(job, folds, first, count)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fan_avx2<T: Real, M: PathModel<T>, P: PathPayoff<T>>(
    job: &Job<T, M, P>,
    folds: &[FoldStep<T>],
    first: u64,
    count: u64,
) -> FanSums {
    run_fan::<T, M, P, 8>(job, folds, first, count)
}
