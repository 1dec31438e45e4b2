//! Sobol points for several assets, early exercise and a market's dates
//! (the CPU engine's extension and dated pricers): a basket's replicates
//! unbiased against a price the test integrates itself, every model x
//! payoff x exercise (and every dated trade of the dated conformance book)
//! on Sobol points against Philox's at the same paths (price, Greeks,
//! scenarios), the policy fitted once whatever the replicates, the same
//! bits anywhere, and the GPU engines' refusal.

use crate::common::{every_multi_and_exercise, extended, gbm, trade};
use riskpool_kernels::correlation::Correlation;
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::multi::{GbmAsset, MultiAsset, MultiModel, MultiPayoff};
use riskpool_kernels::payoff::{European, OptionType, PayoffSpec};
use riskpool_kernels::qmc::Rng;
use riskpool_kernels::real::libm_erfc;
use riskpool_kernels::{
    CpuEngine, Engine, EngineError, Greek, GreekSet, PricingRequest, Trade, TradeResult,
};

fn sobol(mut t: Trade, replicates: u32) -> Trade {
    t.rng = Some(Rng::Sobol { replicates });
    t
}

fn phi(x: f64) -> f64 {
    0.5 * libm_erfc(-x / std::f64::consts::SQRT_2)
}

/// A two-asset GBM basket call: weights `w`, strike `k`, correlation `rho`.
struct Basket {
    spots: [f64; 2],
    vols: [f64; 2],
    divs: [f64; 2],
    w: [f64; 2],
    k: f64,
    rho: f64,
    r: f64,
    t: f64,
}

impl Basket {
    /// Its price by one dimension of quadrature: given the first asset's
    /// normal `z`, the second asset's weighted value is lognormal, so the
    /// call on the sum is Black's formula (or its forward where the first
    /// asset alone is past the strike); Simpson's rule over `z`.
    fn reference(&self) -> f64 {
        let m = |i: usize| (self.r - self.divs[i] - 0.5 * self.vols[i].powi(2)) * self.t;
        let v = |i: usize| self.vols[i] * self.t.sqrt();
        let s2 = v(1) * (1.0 - self.rho * self.rho).sqrt();
        let given = |z: f64| {
            let a = self.w[0] * self.spots[0] * (m(0) + v(0) * z).exp();
            let f = self.w[1] * self.spots[1] * (m(1) + v(1) * self.rho * z + 0.5 * s2 * s2).exp();
            let kk = self.k - a;
            if kk <= 0.0 {
                return a + f - self.k;
            }
            let d1 = ((f / kk).ln() + 0.5 * s2 * s2) / s2;
            f * phi(d1) - kk * phi(d1 - s2)
        };
        let (lo, hi, n) = (-12.0, 12.0, 24_000usize);
        let h = (hi - lo) / n as f64;
        let mut sum = 0.0;
        for i in 0..=n {
            let z = lo + i as f64 * h;
            let wgt = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            sum += wgt * given(z) * (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        }
        (-self.r * self.t).exp() * sum * h / 3.0
    }

    fn trade(&self, id: &str, steps: u32, paths: u64) -> Trade {
        let base = trade(
            id,
            gbm(100.0, self.r, 0.0, 0.2),
            PayoffSpec::European(European {
                option: OptionType::Call,
                strike: self.k,
            }),
            self.t,
            steps,
            paths,
        );
        let model = MultiModel::GbmMulti {
            rate: self.r,
            assets: (0..2)
                .map(|i| GbmAsset {
                    spot: self.spots[i],
                    vol: self.vols[i],
                    dividend: self.divs[i],
                })
                .collect(),
            correlation: Correlation::new(&[vec![1.0, self.rho], vec![self.rho, 1.0]], 2)
                .expect("correlation"),
        };
        let payoff = MultiPayoff::Basket {
            option: OptionType::Call,
            strike: self.k,
            weights: self.w.to_vec(),
        };
        extended(
            id,
            base,
            Some(MultiAsset { model, payoff }),
            Exercise::European,
        )
    }
}

const BASKET: Basket = Basket {
    spots: [100.0, 90.0],
    vols: [0.2, 0.3],
    divs: [0.01, 0.0],
    w: [0.6, 0.4],
    k: 95.0,
    rho: 0.5,
    r: 0.03,
    t: 1.0,
};

fn cpu() -> CpuEngine {
    CpuEngine::new(None).expect("cpu engine")
}

fn no_seconds(rs: Vec<TradeResult>) -> Vec<TradeResult> {
    rs.into_iter()
        .map(|mut r| {
            r.seconds = 0.0;
            r
        })
        .collect()
}

/// The mean of 256 replicates of a basket on Sobol points is the basket's
/// price (within 4 of their standard errors), and that error is far below
/// Philox's at the same paths.
#[test]
fn a_sobol_basket_is_unbiased() {
    let want = BASKET.reference();
    let e = cpu();
    let req = PricingRequest::default();
    let q = &e
        .price(&[sobol(BASKET.trade("bk", 4, 256 * 256), 256)], &req)
        .expect("price")[0];
    let p = &e
        .price(&[BASKET.trade("bk", 4, 256 * 256)], &req)
        .expect("price")[0];
    let dev = (q.pv.value - want).abs();
    println!(
        "basket: sobol {} +- {:.2e} ({:.2} SE), philox {} +- {:.2e}, reference {want}: {:.0}x smaller",
        q.pv.value,
        q.pv.stderr,
        dev / q.pv.stderr,
        p.pv.value,
        p.pv.stderr,
        p.pv.stderr / q.pv.stderr
    );
    assert!(
        dev < 4.0 * q.pv.stderr + 1e-9 * want,
        "{q:?} against {want}"
    );
    assert!((p.pv.value - want).abs() < 4.0 * p.pv.stderr, "{p:?}");
    assert!(p.pv.stderr > 5.0 * q.pv.stderr, "{p:?} against {q:?}");
    assert_eq!(q.paths, 256 * 256);
}

/// Every model on several assets x payoff x exercise, and one-asset early
/// exercise, on Sobol points against Philox's at the same paths: the price
/// and every Greek (bumped and one-pass) within their combined error, the
/// Sobol standard errors printed beside Philox's.
#[test]
fn every_extension_on_sobol_points_prices_as_on_philox() {
    let e = cpu();
    let trades = every_multi_and_exercise(16 * 1024);
    for method in [
        riskpool_kernels::greeks::GreeksMethod::Bump,
        riskpool_kernels::greeks::GreeksMethod::Pathwise,
    ] {
        let req = PricingRequest {
            greeks: GreekSet(Greek::ALL.to_vec()),
            greeks_method: method,
            ..Default::default()
        };
        let p = e.price(&trades, &req).expect("philox");
        let qt: Vec<Trade> = trades.iter().cloned().map(|t| sobol(t, 16)).collect();
        let q = e.price(&qt, &req).expect("sobol");
        for ((t, p), q) in trades.iter().zip(&p).zip(&q) {
            assert_eq!(q.paths, t.paths, "{}", t.id);
            let mut pairs = vec![("pv".to_string(), p.pv, q.pv)];
            for (k, g) in Greek::ALL.iter().enumerate() {
                if let (Some(a), Some(b)) = (p.greeks[k], q.greeks[k]) {
                    pairs.push((g.name().to_string(), a, b));
                }
            }
            assert_agree(&format!("{method:?} {}", t.id), &pairs);
        }
    }
}

/// |philox - sobol| within 4.5 of their combined standard errors, for
/// each `(what, philox, sobol)`; the ratio of the errors printed.
fn assert_agree(
    id: &str,
    pairs: &[(
        String,
        riskpool_kernels::Estimate,
        riskpool_kernels::Estimate,
    )],
) {
    for (what, a, b) in pairs {
        let se = (a.stderr.powi(2) + b.stderr.powi(2)).sqrt();
        println!(
            "{id} {what}: philox {:.6} +- {:.2e}, sobol {:.6} +- {:.2e} ({:.1}x)",
            a.value,
            a.stderr,
            b.value,
            b.stderr,
            a.stderr / b.stderr
        );
        assert!(
            b.value.is_finite() && b.stderr.is_finite(),
            "{id} {what}: {b:?}"
        );
        assert!(
            (a.value - b.value).abs() <= 4.5 * se + 1e-12,
            "{id} {what}: philox {a:?} sobol {b:?}"
        );
    }
}

/// Every trade of the dated conformance book (every model on a market,
/// cash dividends, fixings, barriers, several underlyings, dated early
/// exercise) on Sobol points against Philox's at the same paths, with
/// bumped Greeks; the one-underlying ones' scenario P&L too.
#[test]
fn dated_trades_on_sobol_points_price_as_on_philox() {
    let e = cpu();
    let mut trades = crate::dated_engines::book(8 * 1024);
    trades.extend(crate::dated_engines::multi_book(8 * 1024));
    assert!(trades.iter().all(|t| t.dated.is_some()));
    let req = PricingRequest {
        greeks: GreekSet(Greek::ALL.to_vec()),
        ..Default::default()
    };
    let qt: Vec<Trade> = trades.iter().cloned().map(|t| sobol(t, 8)).collect();
    let p = e.price(&trades, &req).expect("philox");
    let q = e.price(&qt, &req).expect("sobol");
    for ((t, p), q) in trades.iter().zip(&p).zip(&q) {
        assert_eq!(q.paths, t.paths, "{}", t.id);
        let mut pairs = vec![("pv".to_string(), p.pv, q.pv)];
        for (k, g) in Greek::ALL.iter().enumerate() {
            if let (Some(a), Some(b)) = (p.greeks[k], q.greeks[k]) {
                pairs.push((g.name().to_string(), a, b));
            }
        }
        assert_agree(&t.id, &pairs);
    }
    let book = crate::dated_engines::book(8 * 1024);
    let s = crate::dated_engines::scenarios(book.len());
    let qb: Vec<Trade> = book.iter().cloned().map(|t| sobol(t, 8)).collect();
    let plain = PricingRequest::default();
    let p = e.revalue(&book, &s, &plain).expect("philox");
    let q = e.revalue(&qb, &s, &plain).expect("sobol");
    for ((t, p), q) in book.iter().zip(&p).zip(&q) {
        assert_eq!(q.paths, t.paths, "{}", t.id);
        let mut pairs = vec![("base".to_string(), p.base, q.base)];
        for (k, (a, b)) in p.pnl.iter().zip(&q.pnl).enumerate() {
            pairs.push((format!("pnl {k}"), *a, *b));
        }
        assert_agree(&t.id, &pairs);
    }
}

/// An American put on Sobol points: one policy, fitted on Philox
/// regression paths as many as the whole trade's paths ask (so each
/// replicate is priced on the policy a Philox run of the trade fits);
/// the same bits whatever the threads and the batch; the trade's own
/// `rng` and the run's; scenarios on its points.
#[test]
fn early_exercise_on_sobol_points_is_the_same_anywhere() {
    use riskpool_kernels::engine::cpu::Simd;
    let put = || {
        extended(
            "am",
            trade(
                "am",
                gbm(36.0, 0.06, 0.0, 0.2),
                PayoffSpec::European(European {
                    option: OptionType::Put,
                    strike: 40.0,
                }),
                1.0,
                50,
                16 * 2048,
            ),
            None,
            Exercise::American,
        )
    };
    let req = PricingRequest {
        greeks: GreekSet(vec![Greek::Delta, Greek::Gamma]),
        ..Default::default()
    };
    let one = CpuEngine::with_simd(Some(1), Simd::Portable).expect("engine");
    let two = CpuEngine::new(Some(2)).expect("engine");
    let beside = BASKET.trade("beside", 4, 5000);
    let batch = [beside.clone(), sobol(put(), 16)];
    let a = no_seconds(one.price(&batch, &req).expect("price"));
    let b = no_seconds(two.price(&batch, &req).expect("price"));
    assert_eq!(a, b);
    let alone = no_seconds(two.price(&[sobol(put(), 16)], &req).expect("price"));
    assert_eq!(alone[0], a[1]);
    // The Philox trade beside it keeps its bits.
    let philox_alone = no_seconds(two.price(&[beside], &req).expect("price"));
    assert_eq!(philox_alone[0], a[0]);
    // The run's choice gives the trade's own.
    let run = PricingRequest {
        rng: Rng::Sobol { replicates: 16 },
        ..req.clone()
    };
    let c = no_seconds(two.price(&[put()], &run).expect("price"));
    assert_eq!(c[0], a[1]);
    // Against the lattice (4.4780, Longstaff and Schwartz's finite
    // difference): the policy's low bias is Philox's, a few cents.
    let p = &two.price(&[put()], &req).expect("price")[0];
    let q = &a[1];
    println!(
        "american put: sobol {} +- {:.2e}, philox {} +- {:.2e}, lattice 4.4780",
        q.pv.value, q.pv.stderr, p.pv.value, p.pv.stderr
    );
    let se = (p.pv.stderr.powi(2) + q.pv.stderr.powi(2)).sqrt();
    assert!((p.pv.value - q.pv.value).abs() < 4.0 * se, "{p:?} {q:?}");
    assert!((q.pv.value - 4.478).abs() < 0.05, "{q:?}");
    // Scenario revaluation on the same points: no move is the price; a
    // spot move's P&L is the moved trade's price less the base's, on the
    // same points (to rounding).
    use riskpool_kernels::scenario::{MarketMove, TradeScenarios};
    let plain = PricingRequest::default();
    let up = MarketMove {
        spot: 0.05,
        ..Default::default()
    };
    let s = TradeScenarios {
        moves: vec![vec![MarketMove::default()], vec![up]],
    };
    let r = &two
        .revalue(&[sobol(put(), 16)], &[s], &plain)
        .expect("revalue")[0];
    let base = &two.price(&[sobol(put(), 16)], &plain).expect("price")[0];
    let mut moved = put();
    if let riskpool_kernels::model::ModelSpec::Gbm(m) = &mut moved.model {
        m.spot *= 1.0 + 0.05;
    }
    let moved = &two.price(&[sobol(moved, 16)], &plain).expect("price")[0];
    println!("scenario: base {:?}, P&L {:?}", r.base, r.pnl);
    assert!(
        (r.base.value - base.pv.value).abs() < 1e-12,
        "{r:?} {base:?}"
    );
    assert_eq!(r.pnl[0].value, 0.0);
    let want = moved.pv.value - base.pv.value;
    assert!((r.pnl[1].value - want).abs() < 1e-9, "{r:?} against {want}");
    assert!(
        r.pnl[1].stderr.is_finite() && r.pnl[1].stderr > 0.0,
        "{r:?}"
    );
    assert_eq!(r.paths, 16 * 2048);
}

/// The GPU engines draw Philox numbers in their side kernels: a Sobol
/// trade with an extension is one they cannot price (unavailable, so
/// `--engine auto` goes on with the CPU), and says which engine can.
#[test]
fn gpu_engines_refuse_sobol_extensions_as_unavailable() {
    let t = sobol(BASKET.trade("bk", 4, 1024), 16);
    let req = PricingRequest::default();
    for engine in ["wgpu", "cuda", "cuda-on-cpu"] {
        match riskpool_kernels::engine::check_batch(
            engine,
            std::slice::from_ref(&t),
            &req,
            u64::MAX,
        ) {
            Err(EngineError::Unavailable { reason, .. }) => {
                assert!(
                    reason.contains(&t.id) && reason.contains("cpu engine"),
                    "{reason}"
                );
            }
            other => panic!("{engine}: {other:?}"),
        }
    }
    // The CPU takes it; a Philox one goes to the GPU engines as before.
    riskpool_kernels::engine::check_batch("cpu", std::slice::from_ref(&t), &req, u64::MAX)
        .expect("cpu");
    let mut philox = t.clone();
    philox.rng = None;
    riskpool_kernels::engine::check_batch("wgpu", &[philox], &req, u64::MAX).expect("wgpu");
}
