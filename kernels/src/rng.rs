//! Random streams: Philox4x32-10 and the uniform-to-normal transform.
//!
//! This module *is* the stream contract that the CPU, wgpu and CUDA engines
//! share. Any change here must be carried to `kernels/src/rng.wgsl` and
//! `kernels/src/rng.cuh`, and the known-answer tests run on every engine.
//!
//! # Generator
//!
//! Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
//! easy as 1, 2, 3", SC11), with the Random123 multipliers and Weyl
//! constants. It maps a 128-bit counter and a 64-bit key to four 32-bit
//! words, with no state: any draw of any path of any trade is one call away.
//!
//! # Layout
//!
//! | word        | value                                                   |
//! |-------------|---------------------------------------------------------|
//! | `key[0]`    | low 32 bits of the run seed (`--seed`)                  |
//! | `key[1]`    | high 32 bits of the run seed                            |
//! | `ctr[0]`    | block index `b`: the call yields normals `4b .. 4b+3`   |
//! | `ctr[1]`    | path index (with antithetic pairs on: the pair index)   |
//! | `ctr[2]`    | low 32 bits of the trade's stream id                    |
//! | `ctr[3]`    | high 32 bits of the trade's stream id                   |
//!
//! The stream id comes from the trade's identity, never its position:
//! an azfinsim trade's `tradenum`, or the FNV-1a 64-bit hash of a portfolio
//! trade's `id` (see [`stream_id_of`]). A model that needs `k` normals a
//! step takes normals `k*i .. k*i+k-1` for step `i` (0-based), so draw `d`
//! of a path is word `d % 4` of block `d / 4`.
//!
//! With antithetic pairs on, paths `2j` and `2j+1` both use path index `j`;
//! the odd path negates every normal.
//!
//! # Several assets
//!
//! A model on `n` assets draws its normals per step in blocks, after the
//! same rule (draw `d` is word `d % 4` of block `d / 4`):
//!
//! - `gbm_multi`: `n` normals a step; step `i` (0-based) takes `e_j =`
//!   normal `n*i + j` for asset `j`, and asset `j` is driven by
//!   `z_j = sum_{k<=j} L[j][k] e_k`, `L` the lower Cholesky factor of the
//!   correlation (semi-definite: a zero pivot gives a zero column), computed
//!   once per trade in f64.
//! - `heston_multi`: `2n` normals a step; the spot drivers `e_j =` normal
//!   `2n*i + j`, correlated as above to `z_j`, then the variance drivers'
//!   own normals `w_j =` normal `2n*i + n + j`; asset `j`'s variance moves on
//!   `rho_j z_j + sqrt(1 - rho_j^2) w_j`. With one asset this is the
//!   `heston` layout (spot normal `2i`, variance normal `2i + 1`), so
//!   `heston_multi` on one asset gives `heston`'s path, and its price.
//!
//! **Regression paths** (early exercise, `crate::multi`) are paths
//! `0..R` of their own stream id, the trade's stream id XOR
//! `0x5DEE_CE66_D1CE_4E5B` ([`crate::multi::regression_stream`]), with the
//! same layout: they never share a counter with the pricing paths (every
//! path index is already a pricing path of the trade's own stream).
//!
//! # Uniforms and normals
//!
//! Words `(w0, w1)` give normals `(n0, n1)` and `(w2, w3)` give `(n2, n3)` by
//! Box-Muller: `r = sqrt(-2 ln u_a)`, `n_a = r cos(2 pi u_b)`,
//! `n_b = r sin(2 pi u_b)`, where
//!
//! - f32 path state: `u = ((w >> 9) + 0.5) * 2^-23`, exact in f32, in (0, 1);
//! - f64 path state: `u = (w + 0.5) * 2^-32`, in (0, 1).
//!
//! In f32 the logarithm, sine and cosine are riskpool's own polynomials
//! ([`crate::real`]) using only `+`, `*`, `sqrt` and bit moves, so every SIMD
//! width gives the same bits, and the GPU sources use the same polynomials.
//!
//! The one exception is asked for by name: the CUDA engine's `--fast-math`
//! takes the logarithm, sine, cosine and `r`'s square root in f32 from the
//! GPU's special-function unit (`RP_FAST_MATH` in `kernels/src/math.cuh`).
//! The counters, words and uniforms are the same; the normals differ from
//! these in the last few bits (about 1e-6), and where `ln u` rounds to zero
//! or above (u within about 2^-22 of 1) `r` is 0.

/// Philox multiplier for words 0 and 1.
pub const PHILOX_M0: u32 = 0xD251_1F53;
/// Philox multiplier for words 2 and 3.
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 (golden ratio).
pub const PHILOX_W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 (sqrt(3) - 1).
pub const PHILOX_W1: u32 = 0xBB67_AE85;

/// The 64-bit run seed used when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 20_171_229;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

#[inline(always)]
fn round(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(PHILOX_M0, ctr[0]);
    let (hi1, lo1) = mulhilo(PHILOX_M1, ctr[2]);
    [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0]
}

/// Philox4x32 with 10 rounds: four random words for one counter and key.
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    c = round(c, k);
    for _ in 0..9 {
        k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        c = round(c, k);
    }
    c
}

/// The Philox key for a run seed.
#[inline(always)]
pub fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The counter for normals `4*block .. 4*block+3` of a path of a stream.
#[inline(always)]
pub fn counter(stream: u64, path: u32, block: u32) -> [u32; 4] {
    [block, path, stream as u32, (stream >> 32) as u32]
}

/// The stream id of a portfolio trade: FNV-1a (64-bit) of its `id` bytes.
/// azfinsim trades use their `tradenum` directly instead.
pub fn stream_id_of(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One block of four standard normals of a path, as the engines draw them.
/// Scalar reference for tests and tools; the engines inline the same steps.
pub fn normals_f32(seed: u64, stream: u64, path: u32, block: u32) -> [f32; 4] {
    let w = philox4x32_10(counter(stream, path, block), key_of(seed));
    crate::real::Real::normals_from_words(w)
}

/// The f64 counterpart of [`normals_f32`] (the `--precision f64` streams).
pub fn normals_f64(seed: u64, stream: u64, path: u32, block: u32) -> [f64; 4] {
    let w = philox4x32_10(counter(stream, path, block), key_of(seed));
    crate::real::Real::normals_from_words(w)
}

/// Uniform doubles in [0, 1) with 53 random bits, for tools such as the
/// trade generator (not used by pricing). Word pair `(hi, lo)`.
#[inline]
pub fn uniform53(hi: u32, lo: u32) -> f64 {
    let bits = ((hi as u64) << 21) ^ ((lo as u64) >> 11);
    (bits & ((1u64 << 53) - 1)) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A path's Philox stream as a [`rand_core`] generator, for library users
/// who want riskpool's numbers through the ecosystem's traits (`rand`'s
/// distributions, for one): the words are those the engines draw for path
/// `path` of stream `stream` under the run seed, block after block
/// (`philox4x32_10(counter(stream, path, b), key_of(seed))`, words 0..3 of
/// block 0, then of block 1, ...). After 2^32 blocks the path index
/// carries. The engines do not go through it: their draws stay inlined.
///
/// `next_u64` is two words, the first the low half; `fill_bytes` writes
/// words little-endian. `SeedableRng::seed_from_u64` takes the run seed
/// as `--seed` does (stream 0, path 0), and the 8-byte seed of
/// `SeedableRng::from_seed` is that seed little-endian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhiloxRng {
    key: [u32; 2],
    stream: u64,
    path: u32,
    block: u32,
    words: [u32; 4],
    /// The next word of `words` to hand out (4: none left).
    next: usize,
}

impl PhiloxRng {
    /// The stream of path `path` of the trade whose stream id is `stream`.
    pub fn for_path(seed: u64, stream: u64, path: u32) -> PhiloxRng {
        PhiloxRng {
            key: key_of(seed),
            stream,
            path,
            block: 0,
            words: [0; 4],
            next: 4,
        }
    }

    /// The next word of the stream.
    #[inline]
    pub fn next_word(&mut self) -> u32 {
        if self.next == 4 {
            self.words = philox4x32_10(counter(self.stream, self.path, self.block), self.key);
            self.next = 0;
            self.block = self.block.wrapping_add(1);
            if self.block == 0 {
                self.path = self.path.wrapping_add(1);
            }
        }
        let w = self.words[self.next];
        self.next += 1;
        w
    }
}

impl rand_core::TryRng for PhiloxRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.next_word())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let lo = self.next_word() as u64;
        Ok(lo | (self.next_word() as u64) << 32)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(4) {
            let w = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::SeedableRng for PhiloxRng {
    type Seed = [u8; 8];

    fn from_seed(seed: [u8; 8]) -> PhiloxRng {
        PhiloxRng::for_path(u64::from_le_bytes(seed), 0, 0)
    }

    fn seed_from_u64(seed: u64) -> PhiloxRng {
        PhiloxRng::for_path(seed, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rand_core_generator_draws_the_engines_words() {
        use rand_core::{Rng, SeedableRng};
        let (seed, stream, path) = (DEFAULT_SEED, stream_id_of("eu-1"), 7);
        let mut rng = PhiloxRng::for_path(seed, stream, path);
        for b in 0..3 {
            let want = philox4x32_10(counter(stream, path, b), key_of(seed));
            for w in want {
                assert_eq!(rng.next_u32(), w);
            }
        }
        // u64s and bytes come from the same words, in order.
        let mut a = PhiloxRng::seed_from_u64(42);
        let mut b = PhiloxRng::from_seed(42u64.to_le_bytes());
        assert_eq!(a, b);
        let words = philox4x32_10(counter(0, 0, 0), key_of(42));
        assert_eq!(a.next_u64(), words[0] as u64 | (words[1] as u64) << 32);
        let mut bytes = [0u8; 6];
        b.fill_bytes(&mut bytes);
        assert_eq!(bytes[..4], words[0].to_le_bytes());
        assert_eq!(bytes[4..], words[1].to_le_bytes()[..2]);
        // A block past 2^32 - 1 carries into the path.
        let mut c = PhiloxRng::for_path(1, 2, 3);
        c.block = u32::MAX;
        let last = philox4x32_10(counter(2, 3, u32::MAX), key_of(1));
        let words: Vec<u32> = (0..5).map(|_| c.next_u32()).collect();
        assert_eq!(words[..4], last);
        assert_eq!(words[4], philox4x32_10(counter(2, 4, 0), key_of(1))[0]);
    }

    /// Known-answer vectors of Random123's `kat_vectors` for philox4x32_10.
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn normals_have_unit_moments() {
        let n = 200_000u32;
        let (mut s1, mut s2, mut s4) = (0.0f64, 0.0f64, 0.0f64);
        for p in 0..n {
            for z in normals_f32(7, 42, p, 3) {
                let z = z as f64;
                s1 += z;
                s2 += z * z;
                s4 += z * z * z * z;
            }
        }
        let m = 4.0 * n as f64;
        assert!((s1 / m).abs() < 0.006, "mean {}", s1 / m);
        assert!((s2 / m - 1.0).abs() < 0.01, "variance {}", s2 / m);
        assert!((s4 / m - 3.0).abs() < 0.05, "kurtosis {}", s4 / m);
    }

    /// The f32 transform (riskpool's polynomials) against f64 libm Box-Muller
    /// on the same f32 uniforms: only rounding separates them.
    #[test]
    fn f32_normals_match_f64_box_muller() {
        use crate::real::Real;
        let mut worst = 0.0f64;
        for p in 0..50_000 {
            let w = philox4x32_10(counter(2, p, 0), key_of(1));
            let z = normals_f32(1, 2, p, 0);
            let u: Vec<f64> = w
                .iter()
                .map(|&x| <f32 as Real>::uniform(x) as f64)
                .collect();
            for pair in 0..2 {
                let r = (-2.0 * u[2 * pair].ln()).sqrt();
                let a = std::f64::consts::TAU * u[2 * pair + 1];
                for (got, want) in [(z[2 * pair], r * a.cos()), (z[2 * pair + 1], r * a.sin())] {
                    worst = worst.max((got as f64 - want).abs() / (1.0 + want.abs()));
                }
            }
        }
        assert!(worst < 1e-6, "worst relative difference {worst}");
        // And the f64 streams are the same numbers to f32's uniform resolution.
        let a = normals_f32(1, 2, 7, 0);
        let b = normals_f64(1, 2, 7, 0);
        for i in 0..4 {
            assert!(
                (a[i] as f64 - b[i]).abs() < 1e-4 * (1.0 + b[i].abs()),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn stream_ids_are_fnv1a() {
        assert_eq!(stream_id_of(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_id_of("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
