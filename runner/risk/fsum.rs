//! The correctly rounded sum of f64 values (Shewchuk's exact partials, as
//! Python's `math.fsum`): the f64 nearest the exact sum, whatever the
//! order of the terms.
//!
//! Why: a sharded risk run adds its trades' P&L in shard order and an
//! unsharded one in book order; only an order-free sum makes the two
//! portfolios equal bit for bit. No well-kept Rust crate does just this,
//! and it is thirty lines.

/// The exact sum of `xs` rounded once to the nearest f64 (ties to even).
/// Terms must be finite; a sum beyond f64's range comes back infinite.
pub fn fsum<I: IntoIterator<Item = f64>>(xs: I) -> f64 {
    // Non-overlapping partials, increasing in magnitude, summing exactly
    // to the terms so far.
    let mut partials: Vec<f64> = Vec::new();
    for mut x in xs {
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    // Add from the largest down until the sum is inexact, then correct
    // the last rounding when the rest would tip a half-way case.
    let Some(mut hi) = partials.pop() else {
        return 0.0;
    };
    let mut lo = 0.0;
    while let Some(y) = partials.pop() {
        let x = hi;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    if let Some(&next) = partials.last() {
        if (lo < 0.0 && next < 0.0) || (lo > 0.0 && next > 0.0) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_where_naive_sums_are_not() {
        assert_eq!(fsum([1e100, 1.0, -1e100]), 1.0);
        assert_eq!(fsum([0.1; 10]), 1.0);
        assert_eq!(fsum([]), 0.0);
        // 2^53 + 1 + 2^-50... : the half-way case rounds by the rest.
        let two53 = 9007199254740992.0;
        assert_eq!(fsum([two53, 1.0, 1e-10]), two53 + 2.0);
        assert_eq!(fsum([two53, 1.0]), two53);
    }

    proptest! {
        /// Any order gives the same bits, and the result is the exact sum
        /// rounded once: terms `a 2^b` (exact in f64) sum exactly in i128,
        /// whose conversion to f64 rounds to nearest, ties to even.
        #[test]
        fn order_free_and_correctly_rounded(v in proptest::collection::vec((-(1i64 << 52)..(1i64 << 52), 0u32..40), 1..40)) {
            let xs: Vec<f64> = v.iter().map(|&(a, b)| a as f64 * 2f64.powi(b as i32)).collect();
            let mut rev = xs.clone();
            rev.reverse();
            let s = fsum(xs.iter().copied());
            prop_assert_eq!(s.to_bits(), fsum(rev).to_bits());
            let exact: i128 = v.iter().map(|&(a, b)| (a as i128) << b).sum();
            prop_assert_eq!(s, exact as f64);
        }
    }
}
