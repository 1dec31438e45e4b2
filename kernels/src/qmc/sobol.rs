//! Sobol points from Joe and Kuo's direction numbers, by index, and their
//! nested-uniform scrambling by hashing.
//!
//! The direction numbers are data: `kernels/data/new-joe-kuo-6.21201`,
//! Joe and Kuo's file of that name (21,201 dimensions; see
//! `kernels/data/README.md` for where it comes from), read once. Point `n`
//! of dimension `d` is the XOR of the direction numbers `v[d][b]` over the
//! set bits `b` of `n`'s Gray code `n ^ (n >> 1)` (Antonov and Saleev's
//! order, the one Joe and Kuo's own generator and SciPy's walk), so any
//! point is `O(32)` operations away and a shard starts anywhere;
//! consecutive points differ by one direction number
//! ([`gray_step`]). Dimension 0 is van der Corput's (every `m` 1).

use std::sync::OnceLock;

use crate::rng::{key_of, philox4x32_10};

/// Dimensions the direction numbers hold.
pub const MAX_DIMENSIONS: usize = 21_201;
/// Bits of a point (and of the index: at most 2^32 points a replicate).
pub const BITS: usize = 32;

/// Joe and Kuo's `new-joe-kuo-6.21201`: `d s a m_1 .. m_s` a line from
/// dimension 2 (1-based), after a header line.
const JOE_KUO: &str = include_str!("../../data/new-joe-kuo-6.21201");

/// Why the direction numbers' text could not be read (a test reads the
/// embedded file; the engines take it as read).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("new-joe-kuo-6.21201 line {line}: {message}")]
pub struct DataError {
    pub line: usize,
    pub message: String,
}

/// The direction numbers `v[d][b]` (bit `b` of the Gray code, `b = 0`
/// the most significant direction `m_1 2^31`) of every dimension.
pub fn directions() -> &'static [[u32; BITS]] {
    static TABLE: OnceLock<Vec<[u32; BITS]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The file is compiled in and read by a unit test: it cannot fail
        // at run time unless the build's own data is corrupt.
        parse(JOE_KUO).expect("the embedded new-joe-kuo-6.21201 is well formed")
    })
}

/// Reads Joe and Kuo's text into direction numbers: `V_k = m_k 2^(32-k)`
/// for `k <= s`, then their recurrence
/// `V_k = V_{k-s} ^ (V_{k-s} >> s) ^ XOR_{i<s} a_i V_{k-i}` (`a_i` bit
/// `s - 1 - i` of `a`).
pub fn parse(text: &str) -> Result<Vec<[u32; BITS]>, DataError> {
    let mut out = Vec::with_capacity(MAX_DIMENSIONS);
    let mut first = [0u32; BITS];
    for (k, v) in first.iter_mut().enumerate() {
        *v = 1u32 << (31 - k);
    }
    out.push(first);
    for (i, line) in text.lines().enumerate().skip(1) {
        let bad = |message: String| DataError {
            line: i + 1,
            message,
        };
        let nums: Vec<u64> = line
            .split_whitespace()
            .map(|t| t.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("not a whole number: {e}")))?;
        let [d, s, a, m @ ..] = nums.as_slice() else {
            return Err(bad("fewer than four numbers".into()));
        };
        let s = *s as usize;
        if *d as usize != out.len() + 1 {
            return Err(bad(format!("dimension {d} after {}", out.len())));
        }
        if s == 0 || s > BITS || m.len() != s || *a >= 1u64 << (s - 1) {
            return Err(bad(format!("degree {s} with {} initial numbers", m.len())));
        }
        let mut v = [0u32; BITS];
        for k in 0..BITS {
            v[k] = if k < s {
                let mk = m[k];
                if mk % 2 == 0 || mk >= 1 << (k + 1) {
                    return Err(bad(format!(
                        "m_{} = {mk} is not odd and below 2^{}",
                        k + 1,
                        k + 1
                    )));
                }
                (mk as u32) << (31 - k)
            } else {
                let mut x = v[k - s] ^ (v[k - s] >> s);
                for j in 1..s {
                    if (a >> (s - 1 - j)) & 1 == 1 {
                        x ^= v[k - j];
                    }
                }
                x
            };
        }
        out.push(v);
    }
    if out.len() != MAX_DIMENSIONS {
        return Err(DataError {
            line: text.lines().count(),
            message: format!("{} dimensions, not {MAX_DIMENSIONS}", out.len()),
        });
    }
    Ok(out)
}

/// Point `index` of dimension `v` (its direction numbers), unscrambled, as
/// a 32-bit fraction.
#[inline(always)]
pub fn point(v: &[u32; BITS], index: u32) -> u32 {
    let mut g = index ^ (index >> 1);
    let mut x = 0;
    let mut b = 0;
    while g != 0 {
        if g & 1 == 1 {
            x ^= v[b];
        }
        g >>= 1;
        b += 1;
    }
    x
}

/// Which direction number turns point `index - 1` into point `index`
/// (`index >= 1`): the lowest set bit of `index`.
#[inline(always)]
pub fn gray_step(index: u32) -> usize {
    index.trailing_zeros() as usize
}

/// Key of the scrambling seeds: the run seed XOR this ("sobol-ow"), so
/// they never share a Philox counter and key with a pricing draw.
pub const SCRAMBLE_KEY: u64 = 0x736f_626f_6c2d_6f77;

/// The two seed words of dimension `dim` of replicate `replicate` of the
/// trade whose stream id is `stream`: Philox words 0 and 1 of counter
/// `[dim, replicate, stream lo, stream hi]` under key `seed ^`
/// [`SCRAMBLE_KEY`].
#[inline(always)]
pub fn dimension_seed(seed: u64, stream: u64, replicate: u32, dim: u32) -> [u32; 2] {
    let w = philox4x32_10(
        [dim, replicate, stream as u32, (stream >> 32) as u32],
        key_of(seed ^ SCRAMBLE_KEY),
    );
    [w[0], w[1]]
}

/// Nested-uniform (Owen) scrambling by hashing, after Laine and Karras
/// (2011) and Burley ("Practical hash-based Owen scrambling", JCGT 2020):
/// the bits are reversed, so that a point's most significant digit is the
/// lowest bit; then each step below flips bit `k` by a function of bits
/// `0 .. k` alone (adding a word, multiplying by an odd one, `x ^= x c`
/// with `c` even), which is Owen's tree of digit permutations, each
/// digit's permutation keyed by the digits above it; then the bits are
/// reversed back. Integer arithmetic only: every engine gets these bits.
#[inline(always)]
pub fn scramble(x: u32, seed: [u32; 2]) -> u32 {
    let mut x = x.reverse_bits();
    x = x.wrapping_add(seed[0]);
    x ^= x.wrapping_mul(0x6c50_b47c);
    x = x.wrapping_mul(seed[1] | 1);
    x ^= x.wrapping_mul(0xb82f_1e52);
    x ^= x.wrapping_mul(0xc7af_e638);
    x ^= x.wrapping_mul(0x8d22_f6e6);
    x.reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_direction_numbers_read_whole() {
        let v = parse(JOE_KUO).expect("embedded data");
        assert_eq!(v.len(), MAX_DIMENSIONS);
        // Dimension 2 (1-based): x + 1, m = 1: every V_k is 2^(31-k) XOR
        // the one above, so points 0..4 are 0, 1/2, 1/4, 3/4 in Gray order.
        let pts: Vec<u32> = (0..4).map(|n| point(&v[1], n)).collect();
        assert_eq!(pts, [0, 1 << 31, 1 << 30, 3 << 30]);
        // Dimension 3: x^2 + x + 1, m = 1, 3.
        assert_eq!(v[2][0], 1 << 31);
        assert_eq!(v[2][1], 3 << 30);
    }

    #[test]
    fn bad_text_is_named_by_line() {
        let e = parse("d s a m_i\n2 1 0 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("d s a m_i\n3 1 0 1\n").unwrap_err();
        assert!(e.message.contains("dimension 3"), "{e}");
        let e = parse("d s a m_i\n2 1 0 1\n").unwrap_err();
        assert!(e.message.contains("2 dimensions"), "{e}");
    }

    #[test]
    fn gray_steps_walk_the_points() {
        let v = directions();
        for d in [0usize, 1, 7, 500, MAX_DIMENSIONS - 1] {
            let mut x = 0;
            for n in 1..5000u32 {
                x ^= v[d][gray_step(n)];
                assert_eq!(x, point(&v[d], n), "dim {d} point {n}");
            }
        }
    }

    /// Each step of the hash flips bit k (of the reversed word) by bits
    /// below k only: two words equal in their top j bits scramble to words
    /// equal in their top j bits.
    #[test]
    fn scrambling_keeps_shared_leading_digits() {
        let seed = dimension_seed(1, 2, 3, 4);
        for j in 0..32 {
            for t in 0..64u32 {
                let a = t.wrapping_mul(0x9e37_79b9);
                let b =
                    a ^ (0xffff_ffffu32.checked_shr(j).unwrap_or(0) & t.wrapping_mul(0x85eb_ca6b));
                let keep = !0xffff_ffffu32.checked_shr(j).unwrap_or(0);
                assert_eq!(
                    scramble(a, seed) & keep,
                    scramble(b, seed) & keep,
                    "{j} {t}"
                );
            }
        }
    }
}
