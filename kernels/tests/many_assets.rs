//! Trades on up to `MAX_ASSETS` (32) correlated assets, the wide kernels'
//! side of the limit (more than eight assets; eight and fewer run the
//! narrow kernels, which the other modules test): a basket of 32 GBM
//! assets on the CPU engine against an exact terminal simulation written
//! here (its own Cholesky factor and its own random numbers), with every
//! Greek per asset; the same basket and a 10-asset Heston American
//! rainbow on wgpu (lavapipe, f32) and the CUDA C built for the CPU (f64)
//! against the CPU engine; dated trades on 10, 12 and 32 underlyings
//! (black, local volatility, Heston, cash dividends; every Greek, and
//! scenario moves over more than one record) on both; and 33 refused,
//! naming the limit.

use std::sync::Arc;

use crate::common::*;
use crate::dated_multi_hostile::{results_close, SAME_PATHS};
use riskpool_kernels::correlation::{Correlation, MAX_ASSETS};
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::market::dated::{resolve, DatedExercise, DatedPayoff, DatedTerms};
use riskpool_kernels::market::Market;
use riskpool_kernels::multi::{
    GbmAsset, HestonAsset, MultiAsset, MultiModel, MultiPayoff, RainbowKind,
};
use riskpool_kernels::payoff::{European, OptionType, PayoffSpec};
use riskpool_kernels::scenario::{MarketMove, TradeScenarios};
use riskpool_kernels::{CpuEngine, Engine, Greek, GreekSet, Precision, PricingRequest, Trade};

const N: usize = 32;

/// Four sectors of eight: 0.6 within a sector, 0.25 across (positive
/// definite: its eigenvalues are 0.4, 3.2 and 11.2).
fn sectors(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| match (i == j, i / 8 == j / 8) {
                    (true, _) => 1.0,
                    (false, true) => 0.6,
                    (false, false) => 0.25,
                })
                .collect()
        })
        .collect()
}

/// The 32 assets: spots 80 to 126.5, vols 0.15 to 0.305, yields 0 to 3%.
fn assets() -> Vec<GbmAsset> {
    (0..N)
        .map(|i| GbmAsset {
            spot: 80.0 + 1.5 * i as f64,
            vol: 0.15 + 0.005 * i as f64,
            dividend: 0.01 * (i % 4) as f64,
        })
        .collect()
}

const RATE: f64 = 0.03;
const STRIKE: f64 = 100.0;
const MATURITY: f64 = 1.0;

/// Weights 1/48 to 3/96: unequal, summing to about 1.
fn weights() -> Vec<f64> {
    (0..N).map(|i| (2.0 + (i % 3) as f64) / 96.0).collect()
}

/// A trade on several assets (the one-asset fields hold names only).
fn multi_trade(
    id: &str,
    model: MultiModel,
    payoff: MultiPayoff,
    steps: u32,
    paths: u64,
    exercise: Exercise,
) -> Trade {
    let base = trade(
        id,
        gbm(100.0, model.rate(), 0.0, 0.2),
        PayoffSpec::European(European {
            option: OptionType::Call,
            strike: 100.0,
        }),
        MATURITY,
        steps,
        paths,
    );
    extended(id, base, Some(MultiAsset { model, payoff }), exercise)
}

/// The basket call on the 32 assets, European, four steps.
fn basket32(paths: u64) -> Trade {
    multi_trade(
        "basket32",
        MultiModel::GbmMulti {
            rate: RATE,
            assets: assets(),
            correlation: Correlation::new(&sectors(N), N).unwrap(),
        },
        MultiPayoff::Basket {
            option: OptionType::Call,
            strike: STRIKE,
            weights: weights(),
        },
        4,
        paths,
        Exercise::European,
    )
}

/// An American call on the largest of ten Heston assets (three steps):
/// the wide kernels' sort, basis and Heston step.
fn rainbow10(paths: u64) -> Trade {
    let n = 10;
    let rows: Vec<Vec<f64>> = sectors(16)
        .into_iter()
        .take(n)
        .map(|r| r[..n].to_vec())
        .collect();
    multi_trade(
        "rainbow10-heston-american",
        MultiModel::HestonMulti {
            rate: 0.02,
            assets: (0..n)
                .map(|i| HestonAsset {
                    spot: 90.0 + 2.0 * i as f64,
                    dividend: 0.01,
                    v0: 0.04 + 0.002 * i as f64,
                    kappa: 1.5,
                    theta: 0.05,
                    xi: 0.4,
                    rho: -0.6,
                })
                .collect(),
            correlation: Correlation::new(&rows, n).unwrap(),
        },
        MultiPayoff::Rainbow {
            option: OptionType::Call,
            strike: 105.0,
            kind: RainbowKind::Max,
        },
        3,
        paths,
        Exercise::American,
    )
}

/// Uniform doubles in (0, 1): SplitMix64, written here so the reference
/// shares nothing with the engines' Philox streams.
struct SplitMix(u64);

impl SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Two independent standard normals (Box-Muller).
    fn normals(&mut self) -> [f64; 2] {
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let a = 2.0 * std::f64::consts::PI * v;
        [r * a.cos(), r * a.sin()]
    }
}

/// Sums and squares of per-path estimators, as (mean, standard error).
struct Moments {
    sum: Vec<f64>,
    sq: Vec<f64>,
    n: f64,
}

impl Moments {
    fn add(&mut self, x: &[f64]) {
        for (q, v) in x.iter().enumerate() {
            self.sum[q] += v;
            self.sq[q] += v * v;
        }
        self.n += 1.0;
    }

    fn estimate(&self, q: usize) -> (f64, f64) {
        let m = self.sum[q] / self.n;
        (m, ((self.sq[q] / self.n - m * m) / (self.n - 1.0)).sqrt())
    }
}

/// The basket of 32 on the CPU engine with every Greek (100,000 paths),
/// against an exact terminal simulation written here: its own Cholesky
/// factor of the correlation, its own normals (SplitMix64 and
/// Box-Muller), 300,000 paths, each Greek the same central difference of
/// the payoff on common random numbers (spot times `1 +- 1%`, each vol
/// times `1 +- 1%`, the rate `+- 1bp`). The PV, every asset's delta and
/// vega, and rho within 4 combined SE; every gamma finite; the summed
/// delta the sum of the 32.
#[test]
fn a_basket_of_32_correlated_assets_matches_an_exact_terminal_simulation() {
    let req = PricingRequest {
        greeks: GreekSet(Greek::ALL.to_vec()),
        precision: Precision::F64,
        ..PricingRequest::default()
    };
    let res = price_one(&basket32(100_000), &req);
    assert_eq!(res.per_asset.len(), N);

    // Cholesky of the correlation, here.
    let c = sectors(N);
    let mut l = vec![vec![0.0f64; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
            l[i][j] = if i == j {
                (c[i][i] - s).sqrt()
            } else {
                (c[i][j] - s) / l[j][j]
            };
        }
    }
    let a = assets();
    let w = weights();
    let b = req.bumps;
    let t = MATURITY;
    let disc = |r: f64| (-r * t).exp();
    let call = |basket: f64| (basket - STRIKE).max(0.0);
    // Per path: pv, delta_i, vega_i, rho.
    let mut m = Moments {
        sum: vec![0.0; 2 + 2 * N],
        sq: vec![0.0; 2 + 2 * N],
        n: 0.0,
    };
    let mut rng = SplitMix(20_260_432);
    let (mut e, mut z, mut s) = (vec![0.0; N], vec![0.0; N], vec![0.0; N]);
    let mut x = vec![0.0; 2 + 2 * N];
    let terminal = |i: usize, vol: f64, z: f64| {
        a[i].spot * ((RATE - a[i].dividend - 0.5 * vol * vol) * t + vol * t.sqrt() * z).exp()
    };
    for _ in 0..300_000 {
        for pair in e.chunks_mut(2) {
            pair.copy_from_slice(&rng.normals()[..pair.len()]);
        }
        for i in 0..N {
            z[i] = (0..=i).map(|k| l[i][k] * e[k]).sum();
            s[i] = terminal(i, a[i].vol, z[i]);
        }
        let basket: f64 = w.iter().zip(&s).map(|(w, s)| w * s).sum();
        x[0] = call(basket) * disc(RATE);
        for i in 0..N {
            // The basket is linear: moving one asset moves it by its weight.
            let h = b.spot_rel * s[i];
            let (up, down) = (basket + w[i] * h, basket - w[i] * h);
            x[1 + i] = (call(up) - call(down)) * disc(RATE) / (2.0 * b.spot_rel * a[i].spot);
            let dv = b.vol_rel * a[i].vol;
            let su = terminal(i, a[i].vol + dv, z[i]);
            let sd = terminal(i, a[i].vol - dv, z[i]);
            let (up, down) = (basket + w[i] * (su - s[i]), basket + w[i] * (sd - s[i]));
            x[1 + N + i] = (call(up) - call(down)) * disc(RATE) / (2.0 * dv);
        }
        let dr = b.rate_abs;
        let up = call(basket * (dr * t).exp()) * disc(RATE + dr);
        let down = call(basket * (-dr * t).exp()) * disc(RATE - dr);
        x[1 + 2 * N] = (up - down) / (2.0 * dr);
        m.add(&x);
    }
    let within = |what: &str, got: riskpool_kernels::stats::Estimate, q: usize| {
        let (r, rse) = m.estimate(q);
        let tol = 4.0 * (got.stderr.powi(2) + rse.powi(2)).sqrt();
        assert!(
            (got.value - r).abs() <= tol,
            "{what}: engine {} (SE {}), exact terminal {r} (SE {rse})",
            got.value,
            got.stderr
        );
    };
    eprintln!(
        "basket of 32: engine {:.4} (SE {:.4}), exact terminal {:.4} (SE {:.4})",
        res.pv.value,
        res.pv.stderr,
        m.estimate(0).0,
        m.estimate(0).1
    );
    within("pv", res.pv, 0);
    for (i, g) in res.per_asset.iter().enumerate() {
        within(&format!("delta_{}", i + 1), g.delta.unwrap(), 1 + i);
        within(&format!("vega_{}", i + 1), g.vega.unwrap(), 1 + N + i);
        assert!(g.gamma.unwrap().value.is_finite(), "gamma_{}", i + 1);
    }
    within("rho", res.greek(Greek::Rho).unwrap(), 1 + 2 * N);
    let total: f64 = res.per_asset.iter().map(|g| g.delta.unwrap().value).sum();
    let delta = res.greek(Greek::Delta).unwrap().value;
    assert!((delta - total).abs() <= 1e-9 * total.abs());
}

/// The basket of 32 and the ten-asset Heston American rainbow on `engine`
/// against the CPU engine, with no Greeks and all of them, without and with
/// antithetic pairs (200 paths: a few workgroups): the PV, every Greek and
/// every asset's delta, gamma and vega within `tol` (the rainbow's Greeks
/// within the early-exercise allowance).
fn assert_wide_conforms(engine: &dyn Engine, tol: Tolerance) {
    assert_extension_conforms(engine, &[basket32(200)], tol);
    assert_extension_conforms(engine, &[rainbow10(200)], tol.for_exercise_greeks());
}

#[test]
fn thirty_two_assets_on_wgpu_price_as_the_cpu_engine() {
    let Some(w) = wgpu() else { return };
    assert_wide_conforms(&w, Tolerance::F32);
}

/// The wide kernels on a GPU (scripts/gpu-check proof; skipped without
/// one): NVRTC contracts multiplies and adds, so the f32 contract, as for
/// the narrow kernels there.
#[test]
fn thirty_two_assets_on_the_gpu_price_and_revalue_as_the_cpu_engine() {
    let Some(g) = crate::dated_engines::cuda_gpu() else {
        return;
    };
    assert_wide_conforms(&g, Tolerance::F32);
    assert_dated_conforms(&g, Tolerance::F32, true);
    assert_dated_moves_conform(&g, Tolerance::F32);
}

#[test]
fn thirty_two_assets_on_the_cuda_c_price_as_the_cpu_engine() {
    let Some(k) = cuda_c() else { return };
    assert_wide_conforms(&k, Tolerance::F64);
}

const EXPIRY: &str = "2027-12-04";

/// A market of `n` underlyings `U0..`: spots 50 on, flat vols (a skewed
/// surface on every fourth: local volatility), a cash dividend on every
/// fourth of the others, Heston parameters on each; correlated 0.5 within sectors of
/// eight, 0 across.
fn market(n: usize) -> Arc<Market> {
    let mut unds = Vec::new();
    for i in 0..n {
        let s = 50.0 + 5.0 * i as f64;
        let v = 0.15 + 0.005 * i as f64;
        let vol = if i % 4 == 1 {
            format!(
                r#"{{"expiries": ["2027-06-04", "2028-06-04"], "strikes": [{}, {s}, {}], "vols": [[{}, {v}, {}], [{}, {v}, {}]]}}"#,
                0.8 * s,
                1.2 * s,
                v + 0.05,
                v - 0.02,
                v + 0.04,
                v - 0.01
            )
        } else {
            format!(r#"{{"flat": {v}}}"#)
        };
        let dividends = if i % 4 == 3 {
            format!(
                r#", "dividends": [{{"ex_date": "2027-06-04", "amount": {}}}]"#,
                0.02 * s
            )
        } else {
            String::new()
        };
        unds.push(format!(
            r#""U{i}": {{"spot": {s}, "currency": "USD", "vol": {vol}{dividends}, "heston": {{"v0": {}, "kappa": 1.5, "theta": {}, "xi": 0.4, "rho": -0.6}}}}"#,
            v * v,
            v * v
        ));
    }
    let mut corr = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if i / 8 == j / 8 {
                corr.push(format!(r#"{{"a": "U{i}", "b": "U{j}", "rho": 0.5}}"#));
            }
        }
    }
    let json = format!(
        r#"{{"valuation_date": "2026-12-04",
 "curves": {{"USD": {{"dates": ["2027-03-04", "2027-12-04", "2029-12-04"], "zero_rates": [0.041, 0.038, 0.035]}}}},
 "underlyings": {{{}}},
 "correlations": [{}]}}"#,
        unds.join(",\n"),
        corr.join(", ")
    );
    Arc::new(Market::from_json(&json).expect("the test market"))
}

/// A dated basket on the first `n` underlyings of `m`.
fn dated(
    m: &Arc<Market>,
    id: &str,
    n: usize,
    model: Option<&str>,
    payoff: DatedPayoff,
    exercise: Option<DatedExercise>,
    paths: u64,
) -> Result<Trade, String> {
    let d = DatedTerms {
        id: id.into(),
        underlyings: (0..n).map(|i| format!("U{i}")).collect(),
        model: model.map(str::to_string),
        payoff,
        expiry: EXPIRY.into(),
        fixings: None,
        steps_per_year: 12,
        paths,
        exercise,
    };
    resolve(m, &d).map_err(|e| e.to_string())
}

fn basket(option: OptionType, strike: f64, n: usize) -> DatedPayoff {
    DatedPayoff::Many(MultiPayoff::Basket {
        option,
        strike,
        weights: (0..n)
            .map(|i| (1.0 + (i % 3) as f64) / (2.0 * n as f64))
            .collect(),
    })
}

/// The dated trades of the wide kernel: a European basket call on 32
/// underlyings; a Bermudan basket put on 12 (three dates, one an ex-date);
/// a European rainbow max call on 10 under Heston.
fn dated_book(paths: u64) -> Vec<Trade> {
    let m = market(N);
    let bermudan = DatedExercise::Bermudan(
        ["2027-03-04", "2027-06-04", EXPIRY]
            .iter()
            .map(|d| d.to_string())
            .collect(),
    );
    let trades = [
        dated(
            &m,
            "d32-basket-call",
            N,
            None,
            basket(OptionType::Call, 140.0, N),
            None,
            paths,
        ),
        dated(
            &m,
            "d12-bermudan-basket-put",
            12,
            None,
            basket(OptionType::Put, 80.0, 12),
            Some(bermudan),
            paths,
        ),
        dated(
            &m,
            "d10-heston-max-call",
            10,
            Some("heston"),
            DatedPayoff::Many(MultiPayoff::Rainbow {
                option: OptionType::Call,
                strike: 100.0,
                kind: RainbowKind::Max,
            }),
            None,
            paths,
        ),
    ];
    trades
        .into_iter()
        .map(|t| t.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The dated book on `engine` against the CPU engine, without and with
/// antithetic pairs: every Greek, except the 32-underlying basket on
/// lavapipe (`greeks32` false): with every Greek its 131 revaluations on 32
/// underlyings pass lavapipe's cap on an invocation's loop iterations,
/// and the engine refuses it (a real GPU has no such cap).
fn assert_dated_conforms(engine: &dyn Engine, tol: Tolerance, greeks32: bool) {
    let cpu = CpuEngine::new(None).unwrap();
    let book = dated_book(130);
    for antithetic in [false, true] {
        for greeks in [Greek::ALL.to_vec(), vec![]] {
            let req = PricingRequest {
                greeks: GreekSet(greeks.clone()),
                antithetic,
                ..PricingRequest::default()
            };
            let trades: Vec<Trade> = book
                .iter()
                .filter(|t| greeks.is_empty() || greeks32 || t.id != "d32-basket-call")
                .cloned()
                .collect();
            let a = cpu.price(&trades, &req).unwrap();
            let b = engine
                .price(&trades, &req)
                .unwrap_or_else(|e| panic!("{}: {e}", engine.name()));
            for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
                assert!(x.pv.value.is_finite(), "{}", t.id);
                if !greeks.is_empty() {
                    assert_eq!(x.per_asset.len(), t.dated.as_ref().unwrap().assets.len());
                }
                results_close(engine.name(), t, &req, x, y, tol);
            }
        }
    }
}

/// 25 distinct moves of the 12-underlying Bermudan (more than one record
/// of the wide kernel takes on 12 underlyings: 20), moving one underlying's
/// spot, another's vol, or every rate: each P&L as the CPU engine's.
fn assert_dated_moves_conform(engine: &dyn Engine, tol: Tolerance) {
    let cpu = CpuEngine::new(None).unwrap();
    let trades: Vec<Trade> = dated_book(64)
        .into_iter()
        .filter(|t| t.id == "d12-bermudan-basket-put")
        .collect();
    let n = 12;
    let none = MarketMove {
        spot: 0.0,
        vol: 0.0,
        rate: 0.0,
    };
    let moves: Vec<Vec<MarketMove>> = (0..25)
        .map(|k| {
            let mut mv = vec![none; n];
            mv[k % n].spot = -0.1 + 0.01 * k as f64;
            if k % 3 == 0 {
                mv[(k + 5) % n].vol = 0.02;
            }
            if k % 7 == 0 {
                for m in mv.iter_mut() {
                    m.rate = 0.001;
                }
            }
            mv
        })
        .collect();
    let sc = vec![TradeScenarios { moves }];
    let req = PricingRequest::default();
    let a = cpu.revalue(&trades, &sc, &req).unwrap();
    let b = engine
        .revalue(&trades, &sc, &req)
        .unwrap_or_else(|e| panic!("{}: {e}", engine.name()));
    let (x, y) = (&a[0], &b[0]);
    assert_eq!(x.pnl.len(), 25);
    assert_eq!(y.pnl.len(), 25);
    let allowed = |p: riskpool_kernels::stats::Estimate| {
        (tol.rel * p.value.abs())
            .max(tol.se * p.stderr)
            .max(tol.ulp * x.base.value.abs().max(1.0))
    };
    assert!(
        (x.base.value - y.base.value).abs() <= allowed(x.base),
        "base: cpu {:?}, {} {:?}",
        x.base,
        engine.name(),
        y.base
    );
    for (k, (p, q)) in x.pnl.iter().zip(&y.pnl).enumerate() {
        assert!(
            (p.value - q.value).abs() <= allowed(*p),
            "scenario {} on {}: cpu {p:?}, other {q:?}",
            k + 1,
            engine.name()
        );
    }
}

#[test]
fn dated_trades_on_32_underlyings_on_the_cuda_c_price_and_revalue_as_the_cpu_engine() {
    let Some(k) = cuda_c() else { return };
    assert_dated_conforms(&k, SAME_PATHS, true);
    assert_dated_moves_conform(&k, SAME_PATHS);
}

#[test]
fn dated_trades_on_32_underlyings_on_wgpu_price_and_revalue_as_the_cpu_engine() {
    let Some(w) = wgpu() else { return };
    assert_dated_conforms(&w, Tolerance::F32, !w.is_software());
    assert_dated_moves_conform(&w, Tolerance::F32);
}

/// A trade of 33 assets or underlyings is refused, naming the limit: the
/// correlation of an inline multi-asset model, and a dated trade on 33 of
/// a market's underlyings (before its 528 correlations are looked at).
#[test]
fn thirty_three_assets_are_refused_naming_the_limit() {
    assert_eq!(MAX_ASSETS, 32);
    let rows = sectors(33);
    let e = Correlation::new(&rows, 33).unwrap_err().to_string();
    assert!(e.contains("33 assets") && e.contains("at most 32"), "{e}");
    let m = market(33);
    let e = dated(
        &m,
        "d33",
        33,
        None,
        basket(OptionType::Call, 100.0, 33),
        None,
        100,
    )
    .unwrap_err();
    assert!(
        e.contains("underlyings") && e.contains("33 underlyings") && e.contains("at most 32"),
        "{e}"
    );
    // 32 of the same market resolve.
    assert!(dated(
        &m,
        "d32",
        32,
        None,
        basket(OptionType::Call, 100.0, 32),
        None,
        100
    )
    .is_ok());
}
