//! One-pass Greeks (`GreeksMethod::Pathwise`) on the GPU engines'
//! extension kernels (several assets, early exercise) against the CPU
//! engine on hostile inputs: rainbows whose assets tie, strikes at the
//! spot, deep in and out of the money, 9 to 32 assets, vols at the
//! pathwise vega's threshold, Heston's v0 of 0, a bermudan with only its
//! maturity, each Greek alone, and paths that are not finite. The CUDA C
//! built for the CPU to 1e-9 relative (f64), wgpu to the f32 contract
//! (1e-4 relative or 0.1 SE, plus rounding); every asset's Greeks too.

use crate::common::*;
use riskpool_kernels::correlation::Correlation;
use riskpool_kernels::exercise::Exercise;
use riskpool_kernels::greeks::{Estimator, GreeksMethod};
use riskpool_kernels::multi::*;
use riskpool_kernels::payoff::*;
use riskpool_kernels::{
    CpuEngine, Engine, Estimate, Greek, GreekSet, Precision, PricingRequest, Trade,
};

fn corr(n: usize, rho: f64) -> Correlation {
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { rho }).collect())
        .collect();
    Correlation::new(&rows, n).unwrap()
}

fn gbm_multi(spots: &[f64], vols: &[f64], rho: f64) -> MultiModel {
    MultiModel::GbmMulti {
        rate: 0.05,
        assets: spots
            .iter()
            .zip(vols)
            .map(|(&spot, &vol)| GbmAsset {
                spot,
                vol,
                dividend: 0.01,
            })
            .collect(),
        correlation: corr(spots.len(), rho),
    }
}

fn heston_multi(spots: &[f64], v0: f64, rho: f64) -> MultiModel {
    MultiModel::HestonMulti {
        rate: 0.03,
        assets: spots
            .iter()
            .map(|&spot| HestonAsset {
                spot,
                dividend: 0.01,
                v0,
                kappa: 1.5,
                theta: 0.05,
                xi: 0.4,
                rho: -0.6,
            })
            .collect(),
        correlation: corr(spots.len(), rho),
    }
}

fn basket(option: OptionType, strike: f64, n: usize) -> MultiPayoff {
    MultiPayoff::Basket {
        option,
        strike,
        weights: vec![1.0 / n as f64; n],
    }
}

fn rainbow(option: OptionType, strike: f64, kind: RainbowKind) -> MultiPayoff {
    MultiPayoff::Rainbow {
        option,
        strike,
        kind,
    }
}

/// A several-asset trade on `steps` steps and `paths` paths.
fn multi(
    id: &str,
    model: MultiModel,
    payoff: MultiPayoff,
    exercise: Exercise,
    steps: u32,
    paths: u64,
) -> Trade {
    let base = trade(
        id,
        gbm(100.0, 0.05, 0.0, 0.2),
        PayoffSpec::European(European {
            option: OptionType::Put,
            strike: 100.0,
        }),
        1.0,
        steps,
        paths,
    );
    extended(id, base, Some(MultiAsset { model, payoff }), exercise)
}

fn req(precision: Precision, antithetic: bool, greeks: &[Greek]) -> PricingRequest {
    PricingRequest {
        precision,
        antithetic,
        greeks: GreekSet(greeks.to_vec()),
        greeks_method: GreeksMethod::Pathwise,
        ..Default::default()
    }
}

/// The smallest spot and the largest scale of a trade's assets.
fn spots_of(t: &Trade) -> (f64, f64) {
    match t.extension.as_ref().and_then(|e| e.multi.as_ref()) {
        Some(m) => {
            let s: Vec<f64> = match &m.model {
                MultiModel::GbmMulti { assets, .. } => assets.iter().map(|a| a.spot).collect(),
                MultiModel::HestonMulti { assets, .. } => assets.iter().map(|a| a.spot).collect(),
            };
            (
                s.iter().copied().fold(f64::INFINITY, f64::min),
                s.iter().copied().fold(0.0, f64::max),
            )
        }
        None => (t.model.spot(), t.model.spot()),
    }
}

/// The smallest vol parameter of a trade's assets (gbm's vol, Heston's
/// `sqrt(v0)`).
fn min_vol(t: &Trade) -> f64 {
    match t
        .extension
        .as_ref()
        .and_then(|e| e.multi.as_ref())
        .map(|m| &m.model)
    {
        Some(MultiModel::GbmMulti { assets, .. }) => {
            assets.iter().map(|a| a.vol).fold(f64::INFINITY, f64::min)
        }
        Some(MultiModel::HestonMulti { assets, .. }) => assets
            .iter()
            .map(|a| a.v0.sqrt())
            .fold(f64::INFINITY, f64::min),
        None => t.model.vol_parameter(),
    }
}

/// Every disagreement of `engine` with the CPU engine on `trades` under
/// `req`: estimators, paths, which outputs are NaN or infinite, and each
/// finite output's value (the PV, each Greek, each asset's Greeks) within
/// `max(rel |cpu|, se SE, rounding)`, the rounding `ulps` of the
/// precision's epsilon times the output's scale (a pathwise difference's
/// gamma divided by its bump).
fn disagreements(
    engine: &dyn Engine,
    trades: &[Trade],
    req: &PricingRequest,
    (rel, se, ulps): (f64, f64, f64),
) -> Vec<String> {
    let cpu = CpuEngine::new(None).unwrap();
    // A trade the engine refuses, saying which engine takes it (lavapipe's
    // loop cap, an f32 policy that cancels), is left out; any other error
    // is a disagreement.
    let mut out = Vec::new();
    let b: Vec<Option<riskpool_kernels::TradeResult>> = match engine.price(trades, req) {
        Ok(b) => b.into_iter().map(Some).collect(),
        Err(_) => trades
            .iter()
            .map(|t| match engine.price(std::slice::from_ref(t), req) {
                Ok(mut r) => r.pop(),
                Err(e)
                    if e.to_string().contains("use the cpu engine")
                        || e.to_string().contains("use --engine cpu or cuda") =>
                {
                    eprintln!("  (left out: {e})");
                    None
                }
                Err(e) => {
                    out.push(format!("{}: {e}", engine.name()));
                    None
                }
            })
            .collect(),
    };
    let a = cpu.price(trades, req).unwrap();
    let eps = match (engine.name(), req.precision) {
        ("wgpu", _) | (_, Precision::F32) => f32::EPSILON as f64,
        _ => f64::EPSILON,
    };
    for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
        let Some(y) = y else { continue };
        COMPARED.with(|c| c.set(c.get() + 1));
        let what = format!(
            "{} on {} ({:?}, anti={}, greeks={:?})",
            t.id,
            engine.name(),
            req.precision,
            req.antithetic,
            req.greeks.0
        );
        if x.estimators != y.estimators {
            out.push(format!(
                "{what}: estimators {:?} vs {:?}",
                x.estimators, y.estimators
            ));
        }
        if x.paths != y.paths {
            out.push(format!("{what}: paths {} vs {}", x.paths, y.paths));
        }
        if x.per_asset.len() != y.per_asset.len() {
            out.push(format!(
                "{what}: {} vs {} assets",
                x.per_asset.len(),
                y.per_asset.len()
            ));
        }
        let (s_min, s_max) = spots_of(t);
        let size = x.pv.value.abs().max(s_max);
        let h = req.bumps.spot_rel;
        // Per unit of `size`: a delta's rounding is the PV's over the spot,
        // a gamma's (a difference of deltas over the bump) over h spot^2.
        // A bumped vega's, over its bump `h_vol vol` (f32 cannot tell a
        // vol of 1e-12 bumped by 1% from its base: 0 where the CPU's is
        // not, within this rounding).
        let bumped_vega = x.estimators[Greek::Vega as usize] == Some(Estimator::Bump);
        let amp = |name: &str| match name {
            n if n.starts_with("delta") => 1.0 / s_min,
            n if n.starts_with("gamma") => 1.0 / (h * s_min * s_min),
            n if n.starts_with("vega") && bumped_vega => {
                1.0 / (req.bumps.vol_rel * min_vol(t)).max(f64::MIN_POSITIVE)
            }
            _ => 1.0,
        };
        // A bumped Greek of early exercise in f32 is held to 0.3 SE
        // (docs/formats.md: a path at the boundary may decide the other
        // way in one bumped copy of the market).
        let se_of = |name: &str| {
            if name.starts_with("vega") && bumped_vega && engine.name() == "wgpu" {
                se.max(0.3)
            } else {
                se
            }
        };
        let mut pairs: Vec<(String, Option<Estimate>, Option<Estimate>)> =
            vec![("pv".into(), Some(x.pv), Some(y.pv))];
        for g in Greek::ALL {
            pairs.push((g.name().into(), x.greek(g), y.greek(g)));
        }
        for (j, (p, q)) in x.per_asset.iter().zip(&y.per_asset).enumerate() {
            pairs.push((format!("delta[{j}]"), p.delta, q.delta));
            pairs.push((format!("gamma[{j}]"), p.gamma, q.gamma));
            pairs.push((format!("vega[{j}]"), p.vega, q.vega));
        }
        for (name, p, q) in pairs {
            let (p, q) = match (p, q) {
                (Some(p), Some(q)) => (p, q),
                (None, None) => continue,
                _ => {
                    out.push(format!("{what} {name}: {p:?} vs {q:?}"));
                    continue;
                }
            };
            if p.value.is_nan() != q.value.is_nan() || p.value.is_finite() != q.value.is_finite() {
                out.push(format!("{what} {name}: cpu {p:?}, other {q:?}"));
                continue;
            }
            if !p.value.is_finite() {
                if !p.value.is_nan() && p.value != q.value {
                    out.push(format!("{what} {name}: cpu {p:?}, other {q:?}"));
                }
                continue;
            }
            let rounding = ulps * eps * size * amp(&name);
            let d = (p.value - q.value).abs();
            let allowed = (rel * p.value.abs())
                .max(se_of(&name) * p.stderr)
                .max(rounding);
            if d > allowed {
                out.push(format!(
                    "{what} {name}: cpu {} +- {}, other {} +- {} (allowed {allowed:.3e})",
                    p.value, p.stderr, q.value, q.stderr
                ));
            }
        }
    }
    out
}

/// The engines that run here, each with its precisions and tolerance
/// (relative, SE, ulps).
fn engines() -> Vec<(Box<dyn Engine>, Precision, (f64, f64, f64))> {
    let mut v: Vec<(Box<dyn Engine>, Precision, (f64, f64, f64))> = Vec::new();
    if let Some(k) = cuda_c() {
        v.push((Box::new(k), Precision::F64, (1e-9, 1e-6, 64.0)));
    }
    if let Some(w) = wgpu() {
        v.push((Box::new(w), Precision::F32, (1e-4, 0.1, 32.0)));
    }
    v
}

/// `trades` on every engine, with and without antithetic pairs, for each
/// of `greek_sets`.
fn sweep(trades: &[Trade], greek_sets: &[&[Greek]]) -> Vec<String> {
    sweep_where(trades, greek_sets, |_, _| true)
}

/// As [`sweep`], each engine on the trades `takes` gives it.
fn sweep_where(
    trades: &[Trade],
    greek_sets: &[&[Greek]],
    takes: impl Fn(&str, &Trade) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (e, p, tol) in engines() {
        let trades: Vec<Trade> = trades
            .iter()
            .filter(|t| takes(e.name(), t))
            .cloned()
            .collect();
        let trades = &trades[..];
        for anti in [false, true] {
            // Antithetic pairs need an even path count (every engine
            // refuses an odd one).
            let trades = if anti {
                with_even_paths(trades)
            } else {
                trades.to_vec()
            };
            for g in greek_sets {
                out.extend(disagreements(e.as_ref(), &trades, &req(p, anti, g), tol));
            }
        }
    }
    out
}

thread_local! {
    /// Trades compared by this test's thread (a sweep that compared none
    /// would prove nothing).
    static COMPARED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[track_caller]
fn assert_none(name: &str, d: &[String]) {
    assert!(
        engines().is_empty() || COMPARED.with(|c| c.get()) > 0,
        "{name}: nothing compared"
    );
    for s in d.iter().take(40) {
        eprintln!("  {s}");
    }
    assert!(
        d.is_empty(),
        "{name}: {} disagreements (first: {})",
        d.len(),
        d[0]
    );
}

const SUBSETS: [&[Greek]; 3] = [&Greek::ALL, &[Greek::Rho], &[Greek::Gamma, Greek::Vega]];

/// Rainbows whose assets tie (equal spots, vols and dividends, correlation
/// 1 and a hair below), struck at the spot, in and out of the money;
/// baskets struck at the basket's value; on american, bermudan (one with
/// only its maturity) and european exercise, with each Greek alone.
#[test]
fn one_pass_rainbows_tied_and_strikes_at_the_spot_match_the_cpu_engine() {
    use OptionType::{Call, Put};
    use RainbowKind::{Max, Min};
    if engines().is_empty() {
        return;
    }
    let exercises = [
        ("am", Exercise::American),
        ("berm-maturity", Exercise::Bermudan { steps: vec![6] }),
        (
            "berm",
            Exercise::Bermudan {
                steps: vec![2, 4, 6],
            },
        ),
    ];
    let mut trades = Vec::new();
    for (ename, ex) in &exercises {
        for rho in [1.0, 0.9999, 0.999_999_999] {
            for (pname, p) in [
                ("max-call-atm", rainbow(Call, 100.0, Max)),
                ("min-put-atm", rainbow(Put, 100.0, Min)),
                ("max-put-deep-itm", rainbow(Put, 1e4, Max)),
                ("min-call-deep-otm", rainbow(Call, 1e4, Min)),
                ("basket-call-atm", basket(Call, 100.0, 3)),
                ("basket-put-deep-itm", basket(Put, 1e4, 3)),
            ] {
                trades.push(multi(
                    &format!("tied-{pname}-{ename}-rho{rho}"),
                    gbm_multi(&[100.0; 3], &[0.25; 3], rho),
                    p,
                    ex.clone(),
                    6,
                    257,
                ));
            }
        }
    }
    // At 0.999999999 two assets' order flips with f32's rounding on a
    // path in a thousand, moving its whole delta from one to the other
    // (a kink): the per-asset Greeks' split is rounding there, beyond the
    // f32 contract; the CUDA C (f64) still holds to 1e-9.
    let d = sweep_where(&trades, &SUBSETS, |e, t| {
        e != "wgpu" || !t.id.ends_with("rho0.999999999")
    });
    assert_none("tied rainbows", &d);
}

/// 9, 16 and 32 assets (the wide kernels), gbm and Heston.
#[test]
fn one_pass_on_many_assets_matches_the_cpu_engine() {
    use OptionType::{Call, Put};
    if engines().is_empty() {
        return;
    }
    let mut trades = Vec::new();
    for n in [9usize, 16, 32] {
        let spots: Vec<f64> = (0..n).map(|i| 90.0 + i as f64).collect();
        let vols: Vec<f64> = (0..n).map(|i| 0.15 + 0.01 * i as f64).collect();
        trades.push(multi(
            &format!("gbm-{n}-basket-put-am"),
            gbm_multi(&spots, &vols, 0.3),
            basket(Put, 105.0, n),
            Exercise::American,
            2,
            129,
        ));
        trades.push(multi(
            &format!("gbm-{n}-max-call-berm"),
            gbm_multi(&spots, &vols, 0.3),
            rainbow(Call, 110.0, RainbowKind::Max),
            Exercise::Bermudan { steps: vec![1, 2] },
            2,
            129,
        ));
        trades.push(multi(
            &format!("heston-{n}-min-put-am"),
            heston_multi(&spots, 0.04, 0.2),
            rainbow(Put, 95.0, RainbowKind::Min),
            Exercise::American,
            2,
            129,
        ));
    }
    let d = sweep(&trades, &[&Greek::ALL, &[Greek::Vega]]);
    assert_none("many assets", &d);
}

/// gbm vols at and below the pathwise vega's threshold (1e-4: below it
/// vega is bumped), one asset of vol 0, Heston's v0 of 0 (vega bumped, its
/// bump 0).
#[test]
fn one_pass_at_the_vega_thresholds_matches_the_cpu_engine() {
    use OptionType::{Call, Put};
    if engines().is_empty() {
        return;
    }
    let mut trades = Vec::new();
    for vols in [
        [1e-4, 1e-4],
        [0.99e-4, 0.2],
        [1e-12, 0.2],
        [1e-3, 1e-3],
        [1e-2, 0.3],
    ] {
        for (ename, ex) in [("eu", Exercise::European), ("am", Exercise::American)] {
            trades.push(multi(
                &format!("gbm-vol{:e}-{:e}-basket-call-{ename}", vols[0], vols[1]),
                gbm_multi(&[100.0, 100.0], &vols, 0.5),
                // At the forward: half the paths in the money at vol 1e-4.
                basket(Call, 100.0 * (0.04f64).exp(), 2),
                ex.clone(),
                12,
                257,
            ));
            trades.push(multi(
                &format!("gbm-vol{:e}-{:e}-max-put-{ename}", vols[0], vols[1]),
                gbm_multi(&[100.0, 100.0], &vols, 0.5),
                rainbow(Put, 105.0, RainbowKind::Max),
                ex,
                12,
                257,
            ));
        }
    }
    for v0 in [1e-300, 1e-12] {
        trades.push(multi(
            &format!("heston-v0{v0:e}-basket-put-am"),
            heston_multi(&[100.0, 95.0], v0, 0.3),
            basket(Put, 100.0, 2),
            Exercise::American,
            8,
            257,
        ));
    }
    let d = sweep(&trades, &SUBSETS);
    assert_none("vega thresholds", &d);
}

/// Paths that are not finite (a vol of 1e39 is infinite in f32; 1e308
/// squared in f64): every Greek NaN where the CPU's is, on every engine.
#[test]
fn one_pass_greeks_of_paths_that_are_not_finite_are_nan_on_every_engine() {
    use OptionType::{Call, Put};
    if engines().is_empty() {
        return;
    }
    let mut trades = Vec::new();
    for vol in [1e39, 1e308] {
        for (ename, ex) in [("eu", Exercise::European), ("am", Exercise::American)] {
            trades.push(multi(
                &format!("gbm-vol{vol:e}-basket-call-{ename}"),
                gbm_multi(&[100.0, 100.0], &[vol, 0.2], 0.5),
                basket(Call, 100.0, 2),
                ex.clone(),
                6,
                128,
            ));
            trades.push(multi(
                &format!("gbm-vol{vol:e}-min-put-{ename}"),
                gbm_multi(&[100.0, 100.0], &[0.2, vol], 0.5),
                rainbow(Put, 100.0, RainbowKind::Min),
                ex,
                6,
                128,
            ));
        }
    }
    // A basket whose weighted value overflows on finite paths: its
    // intrinsic is NaN, and so is every one-pass Greek (the payoff has no
    // slope there; a slope of 0 gave deltas of 0 beside a NaN PV).
    let mut huge = multi(
        "gbm-basket-weights-overflow-am",
        gbm_multi(&[100.0, 100.0], &[0.2, 0.3], 0.5),
        basket(Call, 100.0, 2),
        Exercise::American,
        6,
        128,
    );
    if let Some(m) = huge.extension.as_mut().and_then(|e| e.multi.as_mut()) {
        m.payoff = MultiPayoff::Basket {
            option: Call,
            strike: 100.0,
            weights: vec![1e308, 1e308],
        };
    }
    let cpu = CpuEngine::new(None).unwrap();
    let r = cpu
        .price(
            std::slice::from_ref(&huge),
            &req(Precision::F64, false, &Greek::ALL),
        )
        .unwrap()
        .remove(0);
    assert!(r.pv.value.is_nan(), "{r:?}");
    for g in Greek::ALL {
        assert!(r.greek(g).unwrap().value.is_nan(), "{} {r:?}", g.name());
    }
    for a in &r.per_asset {
        assert!(a.delta.unwrap().value.is_nan(), "{r:?}");
    }
    trades.push(huge);
    // A vol of 1e39 is infinite in wgpu's f32 records (its paths NaN) but
    // finite in the CPU's f64 path state: beyond the f32 contract.
    let d = sweep_where(&trades, &SUBSETS, |e, t| {
        e != "wgpu" || !t.id.contains("1e39")
    });
    assert_none("not finite", &d);
}
