//! The Longstaff-Schwartz policy (`riskpool_kernels::exercise`) against
//! lattices written here: one-asset Bermudan puts and calls on the
//! trade's exercise grid, on paths simulated here in f64 from the
//! project's Philox normals (exact log-normal steps). The engines' own
//! paths come with the multi-asset models; this holds the policy's fit,
//! basis and solve to the lattice first.

use riskpool_kernels::exercise::{fit, Basis, Exercise, Policy, RegressionPaths};
use riskpool_kernels::rng::normals_f64;

/// A one-asset option under GBM.
#[derive(Clone, Copy, Debug)]
struct Case {
    spot: f64,
    strike: f64,
    rate: f64,
    dividend: f64,
    vol: f64,
    maturity: f64,
    steps: u32,
    put: bool,
}

impl Case {
    fn intrinsic(&self, s: f64) -> f64 {
        if self.put {
            (self.strike - s).max(0.0)
        } else {
            (s - self.strike).max(0.0)
        }
    }

    /// Asset values at the end of each step, for `paths` paths of `stream`.
    fn simulate(&self, stream: u64, paths: u32) -> Vec<Vec<f64>> {
        let dt = self.maturity / self.steps as f64;
        let drift = (self.rate - self.dividend - 0.5 * self.vol * self.vol) * dt;
        let sd = self.vol * dt.sqrt();
        (0..paths)
            .map(|p| {
                let mut s = self.spot;
                (0..self.steps)
                    .map(|k| {
                        let z = normals_f64(7, stream, p, k / 4)[(k % 4) as usize];
                        s *= (drift + sd * z).exp();
                        s
                    })
                    .collect()
            })
            .collect()
    }

    fn regression_paths(&self, dates: &[u32], paths: &[Vec<f64>]) -> RegressionPaths {
        let mut x = Vec::new();
        let mut intrinsic = Vec::new();
        for path in paths {
            for &d in dates {
                let s = path[d as usize - 1];
                x.push(s / self.spot);
                intrinsic.push(self.intrinsic(s));
            }
        }
        RegressionPaths {
            paths: paths.len(),
            dates: dates.len(),
            assets: 1,
            x,
            intrinsic,
        }
    }

    fn fit(&self, dates: &[u32], paths: &[Vec<f64>]) -> Policy {
        let dt = self.maturity / self.steps as f64;
        let r = self.rate;
        fit(
            &self.regression_paths(dates, paths),
            Basis {
                assets: 1,
                sorted: false,
            },
            dates,
            move |from, to| (-r * dt * (to - from) as f64).exp(),
        )
    }

    /// Mean and standard error of the policy's discounted cash flows.
    fn price(&self, policy: &Policy, paths: &[Vec<f64>]) -> (f64, f64) {
        let dt = self.maturity / self.steps as f64;
        let values: Vec<f64> = paths
            .iter()
            .map(|path| {
                policy.path_value(
                    |k| vec![path[policy.dates[k] as usize - 1] / self.spot],
                    |k| self.intrinsic(path[policy.dates[k] as usize - 1]),
                    |step| (-self.rate * dt * step as f64).exp(),
                )
            })
            .collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, (var / n).sqrt())
    }

    /// CRR binomial value with exercise allowed only at the ends of the
    /// listed steps: `per_step` tree steps to each trade step.
    fn lattice(&self, dates: &[u32], per_step: u32) -> f64 {
        let n = (self.steps * per_step) as usize;
        let dt = self.maturity / n as f64;
        let u = (self.vol * dt.sqrt()).exp();
        let d = 1.0 / u;
        let q = (((self.rate - self.dividend) * dt).exp() - d) / (u - d);
        let disc = (-self.rate * dt).exp();
        let mut v: Vec<f64> = (0..=n)
            .map(|j| self.intrinsic(self.spot * u.powi(j as i32) * d.powi((n - j) as i32)))
            .collect();
        for i in (0..n).rev() {
            let may_exercise =
                (i as u32) % per_step == 0 && i > 0 && dates.contains(&((i as u32) / per_step));
            for j in 0..=i {
                let cont = disc * (q * v[j + 1] + (1.0 - q) * v[j]);
                v[j] = if may_exercise {
                    let s = self.spot * u.powi(j as i32) * d.powi((i - j) as i32);
                    cont.max(self.intrinsic(s))
                } else {
                    cont
                };
            }
        }
        v[0]
    }
}

/// Longstaff and Schwartz's first put: S=36, K=40, r=6%, vol 20%, T=1, 50
/// exercise dates.
const LS_PUT: Case = Case {
    spot: 36.0,
    strike: 40.0,
    rate: 0.06,
    dividend: 0.0,
    vol: 0.2,
    maturity: 1.0,
    steps: 50,
    put: true,
};

/// Longstaff and Schwartz's first put (S=36, K=40, r=6%, vol 20%, T=1,
/// 50 exercise dates) and three more: a call with dividends (where early
/// exercise pays), an in-the-money put with dividends, and a Bermudan put
/// on four dates. Within 4 SE plus the low-bias allowance (the policy is
/// fitted on 20,000 paths and no better than the lattice's: 0.5% of the
/// price) below the lattice, and never more than 4 SE above it.
#[test]
fn bermudan_prices_match_the_lattice() {
    let ls = LS_PUT;
    let cases = [
        (ls, Exercise::American),
        (
            Case {
                spot: 110.0,
                strike: 100.0,
                dividend: 0.08,
                rate: 0.03,
                vol: 0.25,
                steps: 25,
                put: false,
                ..ls
            },
            Exercise::American,
        ),
        (
            Case {
                spot: 90.0,
                strike: 100.0,
                dividend: 0.02,
                rate: 0.05,
                vol: 0.3,
                maturity: 0.5,
                steps: 20,
                ..ls
            },
            Exercise::American,
        ),
        (
            Case { steps: 12, ..ls },
            Exercise::Bermudan {
                steps: vec![3, 6, 9, 12],
            },
        ),
    ];
    for (case, exercise) in cases {
        let dates = exercise.dates(case.steps).unwrap();
        let policy = case.fit(&dates, &case.simulate(1, 20_000));
        let (price, se) = case.price(&policy, &case.simulate(2, 40_000));
        let lattice = case.lattice(&dates, 40);
        let european = case.lattice(&[case.steps], 40);
        let allowance = 0.005 * lattice;
        eprintln!(
            "{case:?}: LSM {price:.4} (SE {se:.4}), lattice {lattice:.4}, European {european:.4}"
        );
        assert!(
            price >= lattice - 4.0 * se - allowance && price <= lattice + 4.0 * se,
            "LSM {price} (SE {se}) against the lattice's {lattice}"
        );
        // The early exercise is worth something here, and the LSM sees it.
        assert!(
            price > european + 4.0 * se,
            "LSM {price} no better than European {european}"
        );
    }
}

/// The out-of-sample price may not rise with the regression path count
/// beyond its error: it stays below the lattice's value (plus 3 SE) however
/// many regression paths fit the policy, and moves less than 3 SE between
/// fits. The in-sample price, on the regression paths themselves (biased
/// high by the look-ahead of fitting and pricing on the same paths), is
/// reported beside it.
#[test]
fn more_regression_paths_do_not_raise_the_price_beyond_its_error() {
    let case = LS_PUT;
    let dates = Exercise::American.dates(case.steps).unwrap();
    let lattice = case.lattice(&dates, 40);
    let pricing = case.simulate(2, 40_000);
    let mut last: Option<f64> = None;
    for n in [2_000, 8_000, 32_000] {
        let regression = case.simulate(1, n);
        let policy = case.fit(&dates, &regression);
        let (in_sample, _) = case.price(&policy, &regression);
        let (out, se) = case.price(&policy, &pricing);
        eprintln!(
            "{n} regression paths: in-sample {in_sample:.4}, out-of-sample {out:.4} (SE {se:.4}), lattice {lattice:.4}"
        );
        assert!(
            out <= lattice + 3.0 * se,
            "{n} regression paths: {out} above the lattice's {lattice}"
        );
        if let Some(prev) = last {
            assert!(
                (out - prev).abs() < 3.0 * se,
                "{n} regression paths: {out} against {prev}"
            );
        }
        last = Some(out);
    }
}
