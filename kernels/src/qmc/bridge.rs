//! The Brownian bridge over a trade's time grid: a path's `N` Gaussian
//! increments built from `N` standard normals, the first of them fixing
//! the path's end, the next its middle, and so on by bisection, so that
//! the first (best spread) quasi-Monte Carlo dimensions decide the path's
//! coarse shape.
//!
//! The bridge is built on the step index (`W(i)` at step `i`, unit
//! steps), whatever the trade's dates: the increments `W(i+1) - W(i)` are
//! then independent standard normals, the numbers a model takes for step
//! `i` in place of Philox's, so every model and every time grid (a dated
//! trade's uneven steps too) gets exact normals. Node `r` (the `r`th
//! dimension of its factor) sets `W(target) = wl W(left) + wr W(right)
//! + sd z_r`; node 0 sets `W(N) = sqrt(N) z_0` (`W(0) = 0`), then the
//! intervals are bisected breadth first, `target` the lower middle
//! `left + (right - left) / 2`.

/// Deepest a [`Bridge::sweep`]'s stack goes for any trade the direction
/// numbers can hold (up to [`super::sobol::MAX_DIMENSIONS`] steps), with
/// its bottom slot: the GPU kernels' per-path stack has this many slots.
pub const SWEEP_DEPTH: usize = 16;

/// One point of the bridge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node {
    pub target: u32,
    pub left: u32,
    pub right: u32,
    pub wl: f64,
    pub wr: f64,
    pub sd: f64,
}

/// The bridge of `steps` steps: its nodes in dimension order.
#[derive(Clone, Debug, PartialEq)]
pub struct Bridge {
    pub steps: u32,
    pub nodes: Vec<Node>,
}

impl Bridge {
    /// The bridge over steps `0..steps` (`steps >= 1`).
    pub fn new(steps: u32) -> Bridge {
        let n = steps.max(1);
        let mut nodes = Vec::with_capacity(n as usize);
        nodes.push(Node {
            target: n,
            left: 0,
            right: 0,
            wl: 0.0,
            wr: 0.0,
            sd: (n as f64).sqrt(),
        });
        let mut queue = std::collections::VecDeque::from([(0u32, n)]);
        while let Some((l, r)) = queue.pop_front() {
            if r - l < 2 {
                continue;
            }
            let m = l + (r - l) / 2;
            let (a, b, len) = ((m - l) as f64, (r - m) as f64, (r - l) as f64);
            nodes.push(Node {
                target: m,
                left: l,
                right: r,
                wl: b / len,
                wr: a / len,
                sd: (a * b / len).sqrt(),
            });
            queue.push_back((l, m));
            queue.push_back((m, r));
        }
        Bridge { steps: n, nodes }
    }
}

/// A node as the GPU kernels walk the bridge ([`Bridge::sweep`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepNode {
    /// The point it sets.
    pub target: u32,
    /// Its dimension rank (its place in [`Bridge::nodes`]).
    pub rank: u32,
    pub wl: f64,
    pub wr: f64,
    pub sd: f64,
}

impl Bridge {
    /// The nodes in the order a path walked forward in time needs them,
    /// so a kernel makes each step's increment as the step comes with a
    /// stack of `O(log steps)` points instead of the whole path: before
    /// step `s` (from `W(s)`, held) it sets nodes until the stack's top is
    /// `W(s + 1)`, each node's left point being `W(s)` and its right the
    /// stack's top (node 0's both `W(0) = 0`), then pops it. The same
    /// arithmetic as [`Bridge::nodes`] in breadth-first order (each point
    /// `wl W(left) + wr W(right) + sd z_rank`), so the same bits; the
    /// kernels' twins are `sobol_advance` (WGSL, CUDA C). Also the
    /// deepest the stack goes, its bottom slot included.
    pub fn sweep(&self) -> (Vec<SweepNode>, usize) {
        // Each interval (left, right) is split by one node.
        let split: std::collections::HashMap<(u32, u32), usize> = self
            .nodes
            .iter()
            .enumerate()
            .skip(1)
            .map(|(r, n)| ((n.left, n.right), r))
            .collect();
        let node = |r: usize| {
            let n = &self.nodes[r];
            SweepNode {
                target: n.target,
                rank: r as u32,
                wl: n.wl,
                wr: n.wr,
                sd: n.sd,
            }
        };
        let mut out = Vec::with_capacity(self.nodes.len());
        // The stack's points; its bottom stands for no point (node 0's right).
        let mut stack = vec![u32::MAX];
        let mut depth = 1;
        for s in 0..self.steps {
            while stack.last() != Some(&(s + 1)) {
                let top = *stack.last().unwrap_or(&u32::MAX);
                let r = if top == u32::MAX { 0 } else { split[&(s, top)] };
                out.push(node(r));
                stack.push(self.nodes[r].target);
                depth = depth.max(stack.len());
            }
            stack.pop();
        }
        (out, depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep sets every node once, each from `W(s)` and the stack's
    /// top, and stays within [`SWEEP_DEPTH`] up to the largest bridge.
    #[test]
    fn the_sweep_walks_the_bridge_forward() {
        for n in [
            1u32, 2, 3, 5, 8, 13, 64, 100, 252, 1023, 1025, 16_385, 21_201,
        ] {
            let b = Bridge::new(n);
            let (sweep, depth) = b.sweep();
            assert_eq!(sweep.len(), n as usize);
            assert!(depth <= SWEEP_DEPTH, "{n}: depth {depth}");
            let mut ranks: Vec<u32> = sweep.iter().map(|s| s.rank).collect();
            ranks.sort_unstable();
            assert!(ranks.iter().enumerate().all(|(i, &r)| i as u32 == r), "{n}");
            for s in &sweep {
                let node = b.nodes[s.rank as usize];
                assert_eq!(
                    (s.target, s.wl, s.wr, s.sd),
                    (node.target, node.wl, node.wr, node.sd)
                );
            }
        }
        // The depth is 2 + floor(log2 steps) (the bottom, the end point and
        // a point a halving): 2^14 steps are the first to reach it.
        assert_eq!(Bridge::new(16_384).sweep().1, SWEEP_DEPTH);
        assert_eq!(Bridge::new(16_383).sweep().1, SWEEP_DEPTH - 1);
    }

    /// Every point is set once, from points already set; the increments'
    /// covariance is the identity (exactly, from the weights).
    #[test]
    fn every_step_once_and_independent_increments() {
        for n in [1u32, 2, 3, 5, 8, 13, 64, 100, 252] {
            let b = Bridge::new(n);
            assert_eq!(b.nodes.len(), n as usize);
            let mut set = vec![false; n as usize + 1];
            set[0] = true;
            // Each W(i) as a linear form in the node normals.
            let mut w = vec![vec![0.0f64; n as usize]; n as usize + 1];
            for (r, node) in b.nodes.iter().enumerate() {
                assert!(set[node.left as usize] && set[node.right as usize] || r == 0);
                assert!(!set[node.target as usize], "{n}: {node:?}");
                set[node.target as usize] = true;
                let mut f = vec![0.0; n as usize];
                for j in 0..n as usize {
                    f[j] = node.wl * w[node.left as usize][j] + node.wr * w[node.right as usize][j];
                }
                f[r] += node.sd;
                w[node.target as usize] = f;
            }
            assert!(set.iter().all(|s| *s));
            for i in 0..n as usize {
                for k in 0..n as usize {
                    let cov: f64 = (0..n as usize)
                        .map(|j| (w[i + 1][j] - w[i][j]) * (w[k + 1][j] - w[k][j]))
                        .sum();
                    let want = if i == k { 1.0 } else { 0.0 };
                    assert!((cov - want).abs() < 1e-12, "{n}: cov({i},{k}) = {cov}");
                }
            }
        }
    }
}
