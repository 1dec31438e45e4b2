//! Reference prices the tests compare Monte Carlo against, and helpers.
#![allow(dead_code)]

use riskpool_kernels::greeks::Revaluations;
use riskpool_kernels::model::{Gbm, Heston, ModelSpec, SvFx};
use riskpool_kernels::payoff::*;
use riskpool_kernels::{
    CpuEngine, Engine, Estimate, Greek, GreekSet, Precision, PricingRequest, Trade, TradeResult,
};

#[allow(unused_imports)]
pub use riskpool_kernels::analytic::{black_scholes as bs, bs_d1, erfc, ncdf, npdf};

/// Prices trades on a fresh CPU engine.
pub fn price(trades: &[Trade], req: &PricingRequest) -> Vec<TradeResult> {
    CpuEngine::new(None)
        .expect("cpu engine")
        .price(trades, req)
        .expect("pricing")
}

pub fn price_one(trade: &Trade, req: &PricingRequest) -> TradeResult {
    price(std::slice::from_ref(trade), req).remove(0)
}

pub fn gbm(spot: f64, rate: f64, dividend: f64, vol: f64) -> ModelSpec {
    ModelSpec::Gbm(Gbm {
        spot,
        rate,
        dividend,
        vol,
    })
}

pub fn trade(
    id: &str,
    model: ModelSpec,
    payoff: PayoffSpec,
    maturity: f64,
    steps: u32,
    paths: u64,
) -> Trade {
    Trade {
        rng: None,
        id: id.into(),
        stream: riskpool_kernels::rng::stream_id_of(id),
        model,
        payoff,
        maturity,
        steps,
        paths,
        extension: None,
        dated: None,
    }
}

/// Asserts `est` is within `k` standard errors (plus `allowance`) of `reference`.
#[track_caller]
pub fn assert_within(what: &str, est: Estimate, reference: f64, k: f64, allowance: f64) {
    let dev = (est.value - reference).abs();
    eprintln!(
        "{what}: MC {:.6} +- {:.6}, reference {reference:.6}, {:.2} SE",
        est.value,
        est.stderr,
        dev / est.stderr
    );
    assert!(
        dev <= k * est.stderr + allowance,
        "{what}: MC {} +- {} vs reference {reference}: {:.2} SE off (allowance {allowance})",
        est.value,
        est.stderr,
        dev / est.stderr
    );
}

/// Minimal complex numbers for the Heston characteristic function.
#[derive(Clone, Copy, Debug)]
pub struct C(pub f64, pub f64);

impl C {
    pub fn add(self, o: C) -> C {
        C(self.0 + o.0, self.1 + o.1)
    }
    pub fn sub(self, o: C) -> C {
        C(self.0 - o.0, self.1 - o.1)
    }
    pub fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    pub fn div(self, o: C) -> C {
        let d = o.0 * o.0 + o.1 * o.1;
        C(
            (self.0 * o.0 + self.1 * o.1) / d,
            (self.1 * o.0 - self.0 * o.1) / d,
        )
    }
    pub fn scale(self, k: f64) -> C {
        C(self.0 * k, self.1 * k)
    }
    pub fn exp(self) -> C {
        let m = self.0.exp();
        C(m * self.1.cos(), m * self.1.sin())
    }
    pub fn ln(self) -> C {
        C(self.0.hypot(self.1).ln(), self.1.atan2(self.0))
    }
    pub fn sqrt(self) -> C {
        let r = self.0.hypot(self.1).sqrt();
        let a = 0.5 * self.1.atan2(self.0);
        C(r * a.cos(), r * a.sin())
    }
}

/// Heston parameters for the semi-analytic reference.
#[derive(Clone, Copy, Debug)]
pub struct HestonRef {
    pub s: f64,
    pub r: f64,
    pub q: f64,
    pub v0: f64,
    pub kappa: f64,
    pub theta: f64,
    pub xi: f64,
    pub rho: f64,
}

impl HestonRef {
    /// E[exp(i u ln S_T)] for complex u, in Albrecher et al.'s "little
    /// trap" form (continuous in u, no branch-cut jumps).
    fn cf(&self, u: C, t: f64) -> C {
        let i = C(0.0, 1.0);
        let iu = i.mul(u);
        let a = C(self.kappa, 0.0).sub(iu.scale(self.rho * self.xi));
        let d = a
            .mul(a)
            .add(iu.add(u.mul(u)).scale(self.xi * self.xi))
            .sqrt();
        let g = a.sub(d).div(a.add(d));
        let edt = d.scale(-t).exp();
        let one = C(1.0, 0.0);
        let c_term = a
            .sub(d)
            .scale(t)
            .sub(one.sub(g.mul(edt)).div(one.sub(g)).ln().scale(2.0))
            .scale(self.kappa * self.theta / (self.xi * self.xi));
        let d_term = a
            .sub(d)
            .scale(1.0 / (self.xi * self.xi))
            .mul(one.sub(edt).div(one.sub(g.mul(edt))));
        iu.scale(self.s.ln() + (self.r - self.q) * t)
            .add(c_term)
            .add(d_term.scale(self.v0))
            .exp()
    }

    /// European call by the P1/P2 integrals (Simpson's rule on (0, 200]).
    pub fn call(&self, k: f64, t: f64) -> f64 {
        let n = 20_000;
        let umax = 200.0;
        let h = umax / n as f64;
        let fwd = self.cf(C(0.0, -1.0), t); // E[S_T]
        let lk = k.ln();
        let integrand = |u: f64, j: u8| -> f64 {
            let e = C(0.0, -u * lk).exp();
            let iu = C(0.0, u);
            let phi = if j == 1 {
                self.cf(C(u, -1.0), t).div(fwd)
            } else {
                self.cf(C(u, 0.0), t)
            };
            e.mul(phi).div(iu).0
        };
        let mut p = [0.0; 2];
        for (j, pj) in [1u8, 2].iter().zip(p.iter_mut()) {
            let mut s = 0.0;
            for m in 0..=n {
                let u = (m as f64 * h).max(1e-9);
                let w = if m == 0 || m == n {
                    1.0
                } else if m % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                s += w * integrand(u, *j);
            }
            *pj = 0.5 + s * h / 3.0 / std::f64::consts::PI;
        }
        self.s * (-self.q * t).exp() * p[0] - k * (-self.r * t).exp() * p[1]
    }
}

/// How closely another engine must agree with the CPU engine.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Relative difference allowed.
    pub rel: f64,
    /// Fraction of the CPU's standard error allowed.
    pub se: f64,
    /// Rounding of each revaluation (about 1e-6 in f32, 1e-14 in f64).
    pub ulp: f64,
}

impl Tolerance {
    /// The GPU engines' f32 contract: within 1e-4 relative or 0.1 SE,
    /// whichever is larger.
    pub const F32: Tolerance = Tolerance {
        rel: 1e-4,
        se: 0.1,
        ulp: 1e-6,
    };
    /// The CUDA engine's `--fast-math`: the f32 contract, with a rounding
    /// floor ten times wider, as its special functions are a few ulp off
    /// the polynomials the CPU engine uses.
    pub const F32_FAST_MATH: Tolerance = Tolerance {
        rel: 1e-4,
        se: 0.1,
        ulp: 1e-5,
    };
    /// The f32 contract for an early-exercise trade's bumped Greeks: 0.3
    /// SE where the PV keeps 0.1 (f64 contracts unchanged). A path within
    /// f32 rounding of the exercise boundary may decide the other way in
    /// one bumped copy of the market and not in the other; a better policy
    /// (one closer to smooth pasting, its continuation value nearer the
    /// intrinsic value along the boundary) meets more such paths, and with
    /// few paths one of them is 0.1 to 0.3 of the Greek's SE (0.21 seen:
    /// a deep in-the-money American's vega at 130 paths).
    pub fn for_exercise_greeks(self) -> Tolerance {
        if self.se > 0.0 {
            Tolerance {
                se: self.se.max(0.3),
                ..self
            }
        } else {
            self
        }
    }
    /// CUDA's f64 contract: within 1e-9 relative.
    pub const F64: Tolerance = Tolerance {
        rel: 1e-9,
        se: 0.0,
        ulp: 1e-14,
    };

    /// The CUDA C on the CPU against the CPU engine: the same paths (its
    /// normals are the CPU's to the bit), so only the sums' order and the
    /// f32 records' rounding of the Greeks' coefficients differ.
    pub fn same_paths(precision: riskpool_kernels::Precision) -> Tolerance {
        Tolerance {
            rel: 1e-12,
            se: 0.0,
            ulp: match precision {
                riskpool_kernels::Precision::F32 => f32::EPSILON as f64 / 2.0,
                riskpool_kernels::Precision::F64 => 1e-13,
            },
        }
    }
}

/// |cpu - other| <= max(rel |cpu|, se SE, rounding) for the PV and every
/// Greek, and the standard errors within 1%. The rounding floor: a Greek is
/// a difference of revaluations, so their rounding (on either engine) is
/// amplified by the difference's coefficients; where the true Greek is zero
/// (the gamma of a floating lookback, homogeneous in spot) both engines
/// report only that rounding, and the floor is what they can agree to.
pub fn assert_conform(
    what: &str,
    trade: &Trade,
    req: &PricingRequest,
    cpu: &TradeResult,
    other: &TradeResult,
    tol: Tolerance,
) {
    let plan = Revaluations::new(trade, &req.greeks, &req.bumps);
    let mut pairs = vec![("pv", 0, cpu.pv, other.pv)];
    for g in Greek::ALL {
        if let (Some(a), Some(b)) = (cpu.greek(g), other.greek(g)) {
            pairs.push((g.name(), g.slot(), a, b));
        }
    }
    for (name, q, a, b) in pairs {
        let rounding = tol.ulp
            * cpu.pv.value.abs().max(1.0)
            * plan.coef[q].iter().map(|c| c.abs()).sum::<f64>();
        let allowed = (tol.rel * a.value.abs())
            .max(tol.se * a.stderr)
            .max(rounding);
        assert!(
            (a.value - b.value).abs() <= allowed,
            "{what} {name}: cpu {} +- {}, other {} +- {} (tolerance {allowed})",
            a.value,
            a.stderr,
            b.value,
            b.stderr
        );
        assert!(
            (a.stderr - b.stderr).abs() <= 0.01 * a.stderr + rounding,
            "{what} {name} stderr: {} vs {}",
            a.stderr,
            b.stderr
        );
    }
}

/// One payoff of each kind and flavour the kernels branch on.
pub fn all_payoffs() -> Vec<PayoffSpec> {
    use Direction::*;
    use Knock::*;
    use Monitoring::*;
    let barrier = |option, barrier, direction, knock, monitoring| {
        PayoffSpec::Barrier(Barrier {
            option,
            strike: 100.0,
            barrier,
            direction,
            knock,
            monitoring,
            rebate: 2.0,
        })
    };
    vec![
        PayoffSpec::European(European {
            option: OptionType::Call,
            strike: 105.0,
        }),
        PayoffSpec::European(European {
            option: OptionType::Put,
            strike: 95.0,
        }),
        PayoffSpec::Digital(Digital {
            option: OptionType::Call,
            strike: 100.0,
            cash: 10.0,
        }),
        PayoffSpec::Digital(Digital {
            option: OptionType::Put,
            strike: 100.0,
            cash: 10.0,
        }),
        PayoffSpec::Asian(Asian {
            option: OptionType::Call,
            strike: 100.0,
            average: Average::Arithmetic,
        }),
        PayoffSpec::Asian(Asian {
            option: OptionType::Put,
            strike: 100.0,
            average: Average::Geometric,
        }),
        barrier(OptionType::Call, 85.0, Down, Out, Discrete),
        barrier(OptionType::Put, 120.0, Up, In, Continuous),
        barrier(OptionType::Call, 120.0, Up, Out, Continuous),
        PayoffSpec::Lookback(Lookback {
            option: OptionType::Call,
            strike_type: StrikeType::Floating,
            strike: 0.0,
        }),
        PayoffSpec::Lookback(Lookback {
            option: OptionType::Put,
            strike_type: StrikeType::Fixed,
            strike: 100.0,
        }),
        PayoffSpec::FxWarrant(FxWarrant {
            strike: 90.0,
            warrants: 100.0,
            notional_per_warrant: 10.0,
        }),
        PayoffSpec::DoubleBarrier(DoubleBarrier {
            option: OptionType::Call,
            strike: 100.0,
            lower: 80.0,
            upper: 125.0,
            monitoring: Continuous,
            rebate: 1.5,
        }),
        PayoffSpec::DoubleBarrier(DoubleBarrier {
            option: OptionType::Put,
            strike: 105.0,
            lower: 85.0,
            upper: 120.0,
            monitoring: Discrete,
            rebate: 0.0,
        }),
    ]
}

/// One trade model of each kind.
pub fn all_models() -> Vec<ModelSpec> {
    vec![
        gbm(100.0, 0.03, 0.01, 0.25),
        ModelSpec::Heston(Heston {
            spot: 100.0,
            rate: 0.03,
            dividend: 0.0,
            v0: 0.04,
            kappa: 1.5,
            theta: 0.05,
            xi: 0.6,
            rho: -0.7,
        }),
        ModelSpec::SvFx(SvFx {
            spot: 100.0,
            drift: 0.02,
            sigma: 0.15,
            volvol: 0.3,
            rho: 0.2,
        }),
    ]
}

/// One trade of every model x payoff (42), with path counts that leave a
/// partial last block (`base + 64 k + 3`).
pub fn every_model_and_payoff(base: u64) -> Vec<Trade> {
    let mut v = Vec::new();
    for (mi, m) in all_models().into_iter().enumerate() {
        for (pi, p) in all_payoffs().into_iter().enumerate() {
            v.push(trade(
                &format!("m{mi}-p{pi}"),
                m.clone(),
                p,
                0.5,
                48,
                base + 64 * pi as u64 + 3,
            ));
        }
    }
    v
}

/// `engine` against the CPU engine on `trades`, in each of `precisions`,
/// with no Greeks and all of them, with and without antithetic pairs:
/// every output of every trade within `tolerance(precision)`.
pub fn assert_engine_conforms(
    engine: &dyn Engine,
    trades: &[Trade],
    precisions: &[Precision],
    tolerance: impl Fn(Precision) -> Tolerance,
) {
    let cpu = CpuEngine::new(None).unwrap();
    for (req, trades) in request_matrix(trades, precisions) {
        let a = cpu.price(&trades, &req).unwrap();
        let b = engine.price(&trades, &req).unwrap();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            assert_eq!(x.paths, y.paths, "{}", t.id);
            let what = format!(
                "{} on {}: {:?} greeks={} anti={}",
                t.id,
                engine.name(),
                req.precision,
                req.greeks.0.len(),
                req.antithetic
            );
            assert_conform(&what, t, &req, x, y, tolerance(req.precision));
        }
    }
}

/// Every request the conformance and golden tests price `trades` under:
/// each of `precisions`, with no Greeks and all of them, without and with
/// antithetic pairs (the trades then with even path counts).
pub fn request_matrix(
    trades: &[Trade],
    precisions: &[Precision],
) -> Vec<(PricingRequest, Vec<Trade>)> {
    let mut out = Vec::new();
    for &precision in precisions {
        for greeks in [vec![], Greek::ALL.to_vec()] {
            for antithetic in [false, true] {
                let req = PricingRequest {
                    precision,
                    greeks: GreekSet(greeks.clone()),
                    antithetic,
                    ..Default::default()
                };
                let trades = if antithetic {
                    with_even_paths(trades)
                } else {
                    trades.to_vec()
                };
                out.push((req, trades));
            }
        }
    }
    out
}

/// The same trades with even path counts, as antithetic pairs need.
pub fn with_even_paths(trades: &[Trade]) -> Vec<Trade> {
    trades
        .iter()
        .map(|t| Trade {
            paths: t.paths + t.paths % 2,
            ..t.clone()
        })
        .collect()
}

/// Counters and keys for a device known-answer test: Random123's three
/// vectors, then `n` counters of one stream.
pub fn kat_inputs(n: u32) -> Vec<([u32; 4], [u32; 2])> {
    use riskpool_kernels::rng::{counter, key_of};
    let mut v = vec![
        ([0, 0, 0, 0], [0, 0]),
        ([u32::MAX; 4], [u32::MAX; 2]),
        (
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0],
        ),
    ];
    v.extend((0..n).map(|p| (counter(0x1234_5678_9abc, p, p % 97), key_of(42))));
    v
}

/// A device's Philox words equal the CPU's bit for bit (Random123's answers
/// first), and its normals agree with the CPU's to f32 rounding: the same
/// polynomials, where only a compiler's fused multiply-adds can differ.
pub fn assert_device_streams(
    device: &str,
    inputs: &[([u32; 4], [u32; 2])],
    out: &[([u32; 4], [f32; 4])],
) {
    use riskpool_kernels::real::Real;
    use riskpool_kernels::rng::philox4x32_10;
    assert_eq!(
        out[0].0,
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        out[1].0,
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
    );
    assert_eq!(
        out[2].0,
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
    let mut worst = 0.0f64;
    for ((ctr, key), (words, normals)) in inputs.iter().zip(out) {
        assert_eq!(
            *words,
            philox4x32_10(*ctr, *key),
            "{device}: words for {ctr:?}"
        );
        let cpu = <f32 as Real>::normals_from_words(*words);
        for i in 0..4 {
            worst = worst.max((normals[i] - cpu[i]).abs() as f64 / (1.0 + cpu[i].abs() as f64));
        }
    }
    eprintln!("worst normal difference {device} vs CPU: {worst:e}");
    assert!(worst < 2e-6, "{device}: normals differ by {worst}");
}

/// `n` small GBM calls, to push a GPU engine past one dispatch and binding.
pub fn many_small_calls(n: u64, steps: u32, paths: impl Fn(u64) -> u64) -> Vec<Trade> {
    let m = gbm(100.0, 0.02, 0.0, 0.3);
    (0..n)
        .map(|i| Trade {
            rng: None,
            id: format!("t{i}"),
            stream: i,
            model: m.clone(),
            payoff: PayoffSpec::European(European {
                option: OptionType::Call,
                strike: 80.0 + (i % 40) as f64,
            }),
            maturity: 1.0,
            steps,
            paths: paths(i),
            extension: None,
            dated: None,
        })
        .collect()
}

/// A trade on several assets (the one-asset fields hold names only) or,
/// with `multi` `None`, `base` with `exercise`.
pub fn extended(
    id: &str,
    base: Trade,
    multi: Option<riskpool_kernels::multi::MultiAsset>,
    exercise: riskpool_kernels::exercise::Exercise,
) -> Trade {
    Trade {
        id: id.into(),
        stream: riskpool_kernels::rng::stream_id_of(id),
        extension: Some(Box::new(riskpool_kernels::multi::Extension {
            multi,
            exercise,
        })),
        dated: None,
        ..base
    }
}

/// Every model on several assets x payoff x exercise style the GPU
/// kernels branch on, and one-asset early exercise on both models: small
/// (12 steps, `paths` paths), for the conformance tests.
pub fn every_multi_and_exercise(paths: u64) -> Vec<Trade> {
    use riskpool_kernels::correlation::Correlation;
    use riskpool_kernels::exercise::Exercise;
    use riskpool_kernels::multi::*;
    let corr = |n: usize, rho: f64| {
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 1.0 } else { rho }).collect())
            .collect();
        Correlation::new(&rows, n).unwrap()
    };
    let gbm_multi = |n: usize| MultiModel::GbmMulti {
        rate: 0.05,
        assets: (0..n)
            .map(|i| GbmAsset {
                spot: 100.0 + 5.0 * i as f64,
                vol: 0.2 + 0.05 * i as f64,
                dividend: 0.01 * i as f64,
            })
            .collect(),
        correlation: corr(n, 0.4),
    };
    let heston_multi = |n: usize| MultiModel::HestonMulti {
        rate: 0.03,
        assets: (0..n)
            .map(|i| HestonAsset {
                spot: 100.0 - 4.0 * i as f64,
                dividend: 0.01,
                v0: 0.04 + 0.01 * i as f64,
                kappa: 1.5,
                theta: 0.05,
                xi: 0.4,
                rho: -0.6,
            })
            .collect(),
        correlation: corr(n, -0.2),
    };
    let basket = |option, n: usize| MultiPayoff::Basket {
        option,
        strike: 100.0,
        weights: (0..n).map(|i| 1.0 / n as f64 + 0.02 * i as f64).collect(),
    };
    let rainbow = |option, kind| MultiPayoff::Rainbow {
        option,
        strike: 100.0,
        kind,
    };
    let bermudan = Exercise::Bermudan {
        steps: vec![3, 6, 9, 12],
    };
    let base = |id: &str, model| {
        trade(
            id,
            model,
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 100.0,
            }),
            1.0,
            12,
            paths,
        )
    };
    let one = gbm(100.0, 0.05, 0.0, 0.2);
    let multi = |model, payoff| Some(MultiAsset { model, payoff });
    use OptionType::{Call, Put};
    vec![
        extended(
            "gbm-basket-call-eu",
            base("a", one.clone()),
            multi(gbm_multi(3), basket(Call, 3)),
            Exercise::European,
        ),
        extended(
            "gbm-basket-put-berm",
            base("a", one.clone()),
            multi(gbm_multi(2), basket(Put, 2)),
            bermudan.clone(),
        ),
        extended(
            "gbm-max-call-am",
            base("a", one.clone()),
            multi(gbm_multi(2), rainbow(Call, RainbowKind::Max)),
            Exercise::American,
        ),
        extended(
            "gbm-min-put-am",
            base("a", one.clone()),
            multi(gbm_multi(3), rainbow(Put, RainbowKind::Min)),
            Exercise::American,
        ),
        extended(
            "heston-basket-put-am",
            base("a", one.clone()),
            multi(heston_multi(2), basket(Put, 2)),
            Exercise::American,
        ),
        extended(
            "heston-max-call-eu",
            base("a", one.clone()),
            multi(heston_multi(2), rainbow(Call, RainbowKind::Max)),
            Exercise::European,
        ),
        extended(
            "heston-min-put-berm",
            base("a", one.clone()),
            multi(heston_multi(3), rainbow(Put, RainbowKind::Min)),
            bermudan.clone(),
        ),
        extended(
            "gbm-put-am",
            base("a", gbm(36.0, 0.06, 0.0, 0.2)),
            None,
            Exercise::American,
        ),
        extended(
            "heston-put-berm",
            base(
                "a",
                ModelSpec::Heston(Heston {
                    spot: 100.0,
                    rate: 0.04,
                    dividend: 0.02,
                    v0: 0.04,
                    kappa: 2.0,
                    theta: 0.04,
                    xi: 0.5,
                    rho: -0.7,
                }),
            ),
            None,
            bermudan,
        ),
    ]
}

/// `engine` against the CPU engine on trades with several assets or early
/// exercise, with no Greeks and all of them (bumped, and in one pass:
/// the same estimators as the CPU's), without and with antithetic
/// pairs: the PV, every Greek and every asset's delta, gamma and vega
/// within `max(tol.rel |cpu|, tol.se SE, tol.ulp)`. Prints and returns the
/// largest relative difference seen.
pub fn assert_extension_conforms(engine: &dyn Engine, trades: &[Trade], tol: Tolerance) -> f64 {
    let cpu = CpuEngine::new(None).unwrap();
    let (mut worst, mut worst_se): (f64, f64) = (0.0, 0.0);
    // Bumps, then one-pass Greeks (every Greek, with and without pairs).
    let mut matrix = request_matrix(trades, &[Precision::F32]);
    let one_pass: Vec<_> = matrix
        .iter()
        .filter(|(r, _)| !r.greeks.is_empty())
        .map(|(r, t)| {
            let r = PricingRequest {
                greeks_method: riskpool_kernels::greeks::GreeksMethod::Pathwise,
                ..r.clone()
            };
            (r, t.clone())
        })
        .collect();
    matrix.extend(one_pass);
    for (req, trades) in matrix {
        let a = cpu.price(&trades, &req).unwrap();
        let b = engine.price(&trades, &req).unwrap();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            assert_eq!(x.paths, y.paths, "{}", t.id);
            assert_eq!(
                x.estimators, y.estimators,
                "{} ({:?}): estimators",
                t.id, req.greeks_method
            );
            assert_eq!(x.per_asset.len(), y.per_asset.len(), "{}", t.id);
            let mut pairs = vec![("pv".to_string(), x.pv, y.pv)];
            for g in Greek::ALL {
                if let (Some(p), Some(q)) = (x.greek(g), y.greek(g)) {
                    pairs.push((g.name().to_string(), p, q));
                }
                assert_eq!(
                    x.greek(g).is_some(),
                    y.greek(g).is_some(),
                    "{} {}",
                    t.id,
                    g.name()
                );
            }
            for (j, (p, q)) in x.per_asset.iter().zip(&y.per_asset).enumerate() {
                for (name, p, q) in [
                    ("delta", p.delta, q.delta),
                    ("gamma", p.gamma, q.gamma),
                    ("vega", p.vega, q.vega),
                ] {
                    assert_eq!(p.is_some(), q.is_some(), "{} {name}[{j}]", t.id);
                    if let (Some(p), Some(q)) = (p, q) {
                        pairs.push((format!("{name}[{j}]"), p, q));
                    }
                }
            }
            let floors = rounding_floors(t, &req);
            for (name, p, q) in pairs {
                let diff = (p.value - q.value).abs();
                // A Greek is a difference of revaluations divided by its
                // bump: their rounding (either engine's) divided so too.
                let floor = floors
                    .iter()
                    .find(|(g, _)| name.starts_with(g))
                    .map_or(1.0, |f| f.1);
                let rounding = tol.ulp * x.pv.value.abs().max(1.0) * floor;
                let allowed = (tol.rel * p.value.abs())
                    .max(tol.se * p.stderr)
                    .max(rounding);
                assert!(
                    diff <= allowed,
                    "{} {name} on {} (greeks={} anti={} {:?}): cpu {} +- {}, other {} +- {} (tolerance {allowed})",
                    t.id, engine.name(), req.greeks.0.len(), req.antithetic, req.greeks_method, p.value, p.stderr, q.value, q.stderr
                );
                // Relative where the value stands above its rounding.
                if p.value.abs() > rounding {
                    worst = worst.max(diff / p.value.abs());
                    if p.stderr > 0.0 {
                        worst_se = worst_se.max(diff / p.stderr);
                    }
                }
            }
        }
    }
    eprintln!(
        "{}: largest difference from the cpu engine {worst:.2e} relative (where above rounding), {worst_se:.3} SE",
        engine.name()
    );
    worst
}

/// Per Greek, the sum of its revaluations' coefficients (bumps from
/// `req`, summed over the assets): how much their rounding is amplified.
fn rounding_floors(t: &Trade, req: &PricingRequest) -> Vec<(&'static str, f64)> {
    use riskpool_kernels::multi::MultiModel;
    let (spots, vols): (Vec<f64>, Vec<f64>) =
        match t.extension.as_ref().and_then(|e| e.multi.as_ref()) {
            Some(m) => match &m.model {
                MultiModel::GbmMulti { assets, .. } => {
                    assets.iter().map(|a| (a.spot, a.vol)).unzip()
                }
                MultiModel::HestonMulti { assets, .. } => {
                    assets.iter().map(|a| (a.spot, a.v0.sqrt())).unzip()
                }
            },
            None => match &t.model {
                ModelSpec::Gbm(m) => (vec![m.spot], vec![m.vol]),
                ModelSpec::Heston(m) => (vec![m.spot], vec![m.v0.sqrt()]),
                ModelSpec::SvFx(m) => (vec![m.spot], vec![1.0]),
            },
        };
    let b = &req.bumps;
    let hs: Vec<f64> = spots.iter().map(|s| b.spot_rel * s).collect();
    vec![
        ("delta", hs.iter().map(|h| 1.0 / h).sum()),
        ("gamma", hs.iter().map(|h| 4.0 / (h * h)).sum()),
        ("vega", vols.iter().map(|v| 1.0 / (b.vol_rel * v)).sum()),
        ("rho", 1.0 / b.rate_abs),
    ]
}

/// CRR binomial value of a one-asset option with exercise at the ends of
/// the listed steps of a `steps`-step grid, `per_step` tree steps each.
#[allow(clippy::too_many_arguments)]
pub fn lattice(
    spot: f64,
    strike: f64,
    rate: f64,
    dividend: f64,
    vol: f64,
    maturity: f64,
    steps: u32,
    put: bool,
    dates: &[u32],
    per_step: u32,
) -> f64 {
    let intrinsic = |s: f64| {
        if put {
            (strike - s).max(0.0)
        } else {
            (s - strike).max(0.0)
        }
    };
    let n = (steps * per_step) as usize;
    let dt = maturity / n as f64;
    let u = (vol * dt.sqrt()).exp();
    let d = 1.0 / u;
    let q = (((rate - dividend) * dt).exp() - d) / (u - d);
    let disc = (-rate * dt).exp();
    let mut v: Vec<f64> = (0..=n)
        .map(|j| intrinsic(spot * u.powi(j as i32) * d.powi((n - j) as i32)))
        .collect();
    for i in (0..n).rev() {
        let may = (i as u32).is_multiple_of(per_step)
            && i > 0
            && dates.contains(&((i as u32) / per_step));
        for j in 0..=i {
            let cont = disc * (q * v[j + 1] + (1.0 - q) * v[j]);
            v[j] = if may {
                cont.max(intrinsic(spot * u.powi(j as i32) * d.powi((i - j) as i32)))
            } else {
                cont
            };
        }
    }
    v[0]
}

/// Continuous barriers half a percent from the spot: a Greek's 1% spot
/// bump starts at or through them, knocked from the start.
pub fn near_barrier_trades(paths: u64) -> Vec<Trade> {
    use Direction::*;
    use Knock::*;
    let m = gbm(100.0, 0.03, 0.01, 0.25);
    let barrier = |option, barrier, direction, knock, rebate| {
        PayoffSpec::Barrier(Barrier {
            option,
            strike: 100.0,
            barrier,
            direction,
            knock,
            monitoring: Monitoring::Continuous,
            rebate,
        })
    };
    vec![
        trade(
            "near-up-out",
            m.clone(),
            barrier(OptionType::Call, 100.5, Up, Out, 2.0),
            0.5,
            48,
            paths,
        ),
        trade(
            "near-down-in",
            m.clone(),
            barrier(OptionType::Put, 99.5, Down, In, 1.0),
            0.5,
            48,
            paths,
        ),
        trade(
            "near-double",
            m,
            PayoffSpec::DoubleBarrier(DoubleBarrier {
                option: OptionType::Call,
                strike: 100.0,
                lower: 99.5,
                upper: 130.0,
                monitoring: Monitoring::Continuous,
                rebate: 1.5,
            }),
            0.5,
            48,
            paths,
        ),
    ]
}

/// The CUDA C built for the CPU, or None with the reason printed (a
/// failure where RISKPOOL_REQUIRE_CXX=1, as scripts/test sets it).
pub fn cuda_c() -> Option<riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu> {
    match riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu::build(std::path::Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))) {
        Ok(e) => Some(e),
        Err(e) if std::env::var("RISKPOOL_REQUIRE_CXX").as_deref() == Ok("1") => {
            panic!("RISKPOOL_REQUIRE_CXX=1 but: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// The wgpu engine (lavapipe in CI), or None with the reason printed (a
/// failure where RISKPOOL_REQUIRE_WGPU=1, as scripts/test sets it).
pub fn wgpu() -> Option<riskpool_kernels::engine::wgpu::WgpuEngine> {
    match riskpool_kernels::engine::wgpu::WgpuEngine::new(true) {
        Ok(e) => Some(e),
        Err(e) if std::env::var("RISKPOOL_REQUIRE_WGPU").as_deref() == Ok("1") => {
            panic!("RISKPOOL_REQUIRE_WGPU=1 but the wgpu engine cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// A Python with SciPy for independent references (`RISKPOOL_PY_REF`,
/// which scripts/test sets up): `None` skips the test with a note, a
/// failure where RISKPOOL_REQUIRE_PY_REF=1.
pub fn reference_python() -> Option<std::path::PathBuf> {
    match std::env::var_os("RISKPOOL_PY_REF") {
        Some(p) => Some(p.into()),
        None if std::env::var("RISKPOOL_REQUIRE_PY_REF").as_deref() == Ok("1") => {
            panic!("RISKPOOL_REQUIRE_PY_REF=1 but RISKPOOL_PY_REF is not set")
        }
        None => {
            eprintln!("skipped: no RISKPOOL_PY_REF (a Python with SciPy)");
            None
        }
    }
}
