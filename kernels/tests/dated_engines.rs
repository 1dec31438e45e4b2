//! Dated trades on one underlying on the GPU engines' kernels against the
//! CPU engine's dated pricer: the CUDA C built for the CPU (f64, no
//! contraction: the same paths, so the same prices but for the order the
//! blocks' sums are added in) and the WGSL on lavapipe (f32 path state: the
//! f32 contract, 1e-4 relative or 0.1 SE). Every model (black on a flat
//! vol and on a surface's term structure, local volatility, Heston), cash
//! dividends (a continuous barrier's bridge at an ex-date), dated
//! fixings, every payoff kind, a Greek's bump that knocks a barrier (out:
//! the rebate; in: its European), and scenario revaluation.

use std::sync::Arc;

use crate::common::*;
use riskpool_kernels::greeks::{Greek, GreekSet};
use riskpool_kernels::market::dated::{resolve, DatedPayoff, DatedTerms};
use riskpool_kernels::market::Market;
use riskpool_kernels::payoff::PayoffSpec;
use riskpool_kernels::scenario::{MarketMove, TradeScenarios};
use riskpool_kernels::{CpuEngine, Engine, PricingRequest, TradeResult};

/// A market with a skewed surface with term structure (and a dividend
/// yield), and an underlying on a flat vol with two cash dividends and
/// Heston parameters.
const MARKET: &str = r#"{"valuation_date": "2026-12-04",
 "curves": {"USD": {"dates": ["2027-03-04", "2027-12-04", "2029-12-04"], "zero_rates": [0.041, 0.038, 0.035]}},
 "underlyings": {
   "SKEW": {"spot": 100, "currency": "USD",
            "dividend_yield": {"dates": ["2027-12-04"], "zero_rates": [0.012]},
            "vol": {"expiries": ["2027-03-04", "2027-12-04", "2028-12-04"], "strikes": [70, 85, 100, 115, 130],
                    "vols": [[0.32, 0.27, 0.22, 0.19, 0.18], [0.29, 0.25, 0.21, 0.19, 0.18], [0.27, 0.24, 0.21, 0.195, 0.19]]},
            "heston": {"v0": 0.045, "kappa": 2.0, "theta": 0.05, "xi": 0.4, "rho": -0.6}},
   "CASH": {"spot": 50, "currency": "USD",
            "dividends": [{"ex_date": "2027-03-19", "amount": 1.5}, {"ex_date": "2027-09-17", "amount": 1.5}],
            "vol": {"flat": 0.25},
            "heston": {"v0": 0.0625, "kappa": 1.5, "theta": 0.07, "xi": 0.5, "rho": -0.7}}},
 "correlations": [{"a": "SKEW", "b": "CASH", "rho": 0.5}]}"#;

const FIXINGS: [&str; 4] = ["2027-03-04", "2027-06-04", "2027-09-06", "2027-12-04"];

fn market() -> Arc<Market> {
    Arc::new(Market::from_json(MARKET).expect("the test market"))
}

/// A payoff from its JSON (its `type` and its terms).
fn payoff_of(mut v: serde_json::Value) -> PayoffSpec {
    use riskpool_kernels::payoff::*;
    let kind = v["type"].as_str().expect("a type").to_string();
    v.as_object_mut().expect("an object").remove("type");
    fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("a payoff: {e}"))
    }
    match kind.as_str() {
        "european" => PayoffSpec::European(de(v)),
        "digital" => PayoffSpec::Digital(de(v)),
        "asian" => PayoffSpec::Asian(de(v)),
        "barrier" => PayoffSpec::Barrier(de(v)),
        "double_barrier" => PayoffSpec::DoubleBarrier(de(v)),
        "lookback" => PayoffSpec::Lookback(de(v)),
        other => panic!("no payoff {other}"),
    }
}

/// A dated trade on `underlying` under `model` paying `payoff` (JSON).
fn dated(
    m: &Arc<Market>,
    id: &str,
    underlying: &str,
    model: &str,
    payoff: serde_json::Value,
    fixings: bool,
    paths: u64,
) -> riskpool_kernels::Trade {
    let payoff = payoff_of(payoff);
    let d = DatedTerms {
        id: id.into(),
        underlyings: vec![underlying.into()],
        model: Some(model.into()),
        payoff: DatedPayoff::One(payoff),
        expiry: "2027-12-04".into(),
        fixings: fixings.then(|| FIXINGS.iter().map(|s| s.to_string()).collect()),
        steps_per_year: 16,
        paths,
        exercise: None,
    };
    let t = resolve(m, &d).expect("a dated trade");
    assert!(
        riskpool_kernels::gpu::dated::takes(&t),
        "{id} goes to the dated kernels"
    );
    t
}

/// Every payoff kind and model the dated kernels branch on.
pub(crate) fn book(paths: u64) -> Vec<riskpool_kernels::Trade> {
    use serde_json::json;
    let m = market();
    let call = |k: f64| json!({"type": "european", "option": "call", "strike": k});
    vec![
        dated(
            &m,
            "lv-asian",
            "SKEW",
            "local_vol",
            json!({"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}),
            true,
            paths,
        ),
        dated(
            &m,
            "lv-european",
            "SKEW",
            "local_vol",
            call(95.0),
            false,
            paths,
        ),
        dated(
            &m,
            "lv-down-out",
            "SKEW",
            "local_vol",
            json!({"type": "barrier", "option": "put", "strike": 100, "barrier": 80, "direction": "down",
                     "knock": "out", "monitoring": "continuous", "rebate": 2.0}),
            false,
            paths,
        ),
        dated(
            &m,
            "lv-double",
            "SKEW",
            "local_vol",
            json!({"type": "double_barrier", "option": "call", "strike": 100, "lower": 75, "upper": 135,
                     "monitoring": "discrete", "rebate": 1.0}),
            true,
            paths,
        ),
        dated(
            &m,
            "lv-lookback",
            "SKEW",
            "local_vol",
            json!({"type": "lookback", "option": "call", "strike_type": "floating"}),
            true,
            paths,
        ),
        dated(
            &m,
            "lv-digital",
            "SKEW",
            "local_vol",
            json!({"type": "digital", "option": "put", "strike": 95, "cash": 10}),
            false,
            paths,
        ),
        dated(
            &m,
            "black-term-up-in",
            "SKEW",
            "black",
            json!({"type": "barrier", "option": "call", "strike": 100, "barrier": 120, "direction": "up",
                     "knock": "in", "monitoring": "discrete"}),
            true,
            paths,
        ),
        // Spot bumps of 1% cross these barriers: knocked out (the rebate)
        // and knocked in (its European).
        dated(
            &m,
            "near-out",
            "SKEW",
            "local_vol",
            json!({"type": "barrier", "option": "call", "strike": 100, "barrier": 99.5, "direction": "down",
                     "knock": "out", "monitoring": "continuous", "rebate": 3.0}),
            false,
            paths,
        ),
        dated(
            &m,
            "near-in",
            "SKEW",
            "black",
            json!({"type": "barrier", "option": "put", "strike": 100, "barrier": 99.5, "direction": "down",
                     "knock": "in", "monitoring": "continuous"}),
            false,
            paths,
        ),
        dated(
            &m,
            "cash-european",
            "CASH",
            "black",
            call(50.0),
            false,
            paths,
        ),
        dated(
            &m,
            "cash-down-out",
            "CASH",
            "black",
            json!({"type": "barrier", "option": "call", "strike": 50, "barrier": 44, "direction": "down",
                     "knock": "out", "monitoring": "continuous"}),
            false,
            paths,
        ),
        dated(
            &m,
            "cash-asian",
            "CASH",
            "black",
            json!({"type": "asian", "option": "put", "strike": 50, "average": "geometric"}),
            true,
            paths,
        ),
        dated(
            &m,
            "heston-european",
            "CASH",
            "heston",
            call(48.0),
            false,
            paths,
        ),
        dated(
            &m,
            "heston-down-in",
            "CASH",
            "heston",
            json!({"type": "barrier", "option": "put", "strike": 50, "barrier": 42, "direction": "down",
                     "knock": "in", "monitoring": "continuous"}),
            false,
            paths,
        ),
    ]
}

/// Early exercise on dated dates and several correlated underlyings: the
/// several-underlying kernel (`dated_multi`), every model.
pub(crate) fn multi_book(paths: u64) -> Vec<riskpool_kernels::Trade> {
    use riskpool_kernels::market::dated::DatedExercise;
    use riskpool_kernels::multi::{MultiPayoff, RainbowKind};
    use riskpool_kernels::payoff::OptionType;
    let m = market();
    let make = |id: &str,
                und: &[&str],
                model: &str,
                payoff: DatedPayoff,
                exercise: Option<DatedExercise>,
                spy: u32| {
        let d = DatedTerms {
            id: id.into(),
            underlyings: und.iter().map(|s| s.to_string()).collect(),
            model: Some(model.into()),
            payoff,
            expiry: "2027-12-04".into(),
            fixings: None,
            steps_per_year: spy,
            paths,
            exercise,
        };
        let t = resolve(&m, &d).expect("a dated trade");
        assert!(
            riskpool_kernels::gpu::dated_multi::takes(&t),
            "{id} goes to the several-underlying kernel"
        );
        t
    };
    let put = |k: f64| {
        DatedPayoff::One(payoff_of(
            serde_json::json!({"type": "european", "option": "put", "strike": k}),
        ))
    };
    let bermudan = || {
        DatedExercise::Bermudan(vec![
            "2027-03-04".into(),
            "2027-06-04".into(),
            "2027-09-06".into(),
        ])
    };
    let basket = |option, strike| {
        DatedPayoff::Many(MultiPayoff::Basket {
            option,
            strike,
            weights: vec![0.6, 0.8],
        })
    };
    let rainbow = |option, strike, kind| {
        DatedPayoff::Many(MultiPayoff::Rainbow {
            option,
            strike,
            kind,
        })
    };
    vec![
        make(
            "lv-bermudan",
            &["SKEW"],
            "local_vol",
            put(100.0),
            Some(bermudan()),
            16,
        ),
        make(
            "cash-american",
            &["CASH"],
            "black",
            put(52.0),
            Some(DatedExercise::American),
            12,
        ),
        make(
            "heston-bermudan",
            &["CASH"],
            "heston",
            put(50.0),
            Some(bermudan()),
            16,
        ),
        make(
            "basket-european",
            &["SKEW", "CASH"],
            "black",
            basket(OptionType::Call, 100.0),
            None,
            12,
        ),
        make(
            "basket-bermudan-lv",
            &["SKEW", "CASH"],
            "local_vol",
            basket(OptionType::Put, 100.0),
            Some(bermudan()),
            12,
        ),
        make(
            "rainbow-max",
            &["SKEW", "CASH"],
            "black",
            rainbow(OptionType::Call, 60.0, RainbowKind::Max),
            None,
            12,
        ),
        make(
            "rainbow-min-american",
            &["CASH", "SKEW"],
            "heston",
            rainbow(OptionType::Put, 55.0, RainbowKind::Min),
            Some(DatedExercise::American),
            8,
        ),
    ]
}

fn requests() -> Vec<PricingRequest> {
    let all = GreekSet(vec![Greek::Delta, Greek::Gamma, Greek::Vega, Greek::Rho]);
    vec![
        PricingRequest::default(),
        PricingRequest {
            greeks: all.clone(),
            ..PricingRequest::default()
        },
        PricingRequest {
            greeks: all,
            antithetic: true,
            seed: 7,
            ..PricingRequest::default()
        },
    ]
}

/// |cpu - other| within `rel` relative, `se` standard errors, or the
/// rounding `ulp` of the PV amplified by each Greek's revaluation
/// coefficients; the standard errors within 1% (and that rounding).
fn assert_close(
    engine: &str,
    t: &riskpool_kernels::Trade,
    req: &PricingRequest,
    a: &TradeResult,
    b: &TradeResult,
    tol: Tolerance,
) {
    // The smallest spot bump of the trade's underlyings; a sum over them
    // adds each one's rounding.
    let (spot, n) = t.dated.as_ref().map_or((1.0, 1), |d| {
        (
            d.assets
                .iter()
                .map(|a| a.spot)
                .fold(f64::INFINITY, f64::min),
            d.assets.len(),
        )
    });
    let bu = &req.bumps;
    let h = bu.spot_rel * spot;
    let n = n as f64;
    // The smallest vega bump any of these trades takes (vols of 0.15 and more).
    let floors = [
        1.0,
        n / h,
        4.0 * n / (h * h),
        n / (bu.vol_rel * 0.15),
        1.0 / bu.rate_abs,
    ];
    let mut pairs = vec![("pv", 0, a.pv, b.pv)];
    assert_eq!(a.per_asset.len(), b.per_asset.len(), "{}", t.id);
    for (p, q) in a.per_asset.iter().zip(&b.per_asset) {
        for (name, slot, x, y) in [
            ("delta[j]", 1, p.delta, q.delta),
            ("gamma[j]", 2, p.gamma, q.gamma),
            ("vega[j]", 3, p.vega, q.vega),
        ] {
            assert_eq!(x.is_some(), y.is_some(), "{} {name}", t.id);
            if let (Some(x), Some(y)) = (x, y) {
                pairs.push((name, slot, x, y));
            }
        }
    }
    for (q, g) in Greek::ALL.iter().enumerate() {
        assert_eq!(
            a.greek(*g).is_some(),
            b.greek(*g).is_some(),
            "{} {}",
            t.id,
            g.name()
        );
        if let (Some(x), Some(y)) = (a.greek(*g), b.greek(*g)) {
            pairs.push((g.name(), q + 1, x, y));
        }
    }
    for (name, q, x, y) in pairs {
        let rounding = tol.ulp * a.pv.value.abs().max(1.0) * floors[q];
        let allowed = (tol.rel * x.value.abs())
            .max(tol.se * x.stderr)
            .max(rounding);
        assert!(
            (x.value - y.value).abs() <= allowed,
            "{} {name} on {engine} (greeks={} anti={}): cpu {} +- {}, {engine} {} +- {} (tolerance {allowed})",
            t.id, req.greeks.0.len(), req.antithetic, x.value, x.stderr, y.value, y.stderr
        );
        assert!(
            (x.stderr - y.stderr).abs() <= 0.01 * x.stderr + rounding,
            "{} {name} stderr on {engine}: {} vs {}",
            t.id,
            x.stderr,
            y.stderr
        );
    }
}

fn assert_prices_conform(engine: &dyn Engine, tol: Tolerance) {
    let cpu = CpuEngine::new(None).unwrap();
    let mut trades = book(1_000);
    trades.extend(multi_book(1_000));
    for req in requests() {
        let a = cpu.price(&trades, &req).unwrap();
        let b = engine.price(&trades, &req).unwrap();
        for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
            assert!(x.pv.value.is_finite(), "{}", t.id);
            assert_eq!(x.paths, y.paths);
            assert_close(engine.name(), t, &req, x, y, tol);
        }
    }
}

/// Moves of the trades' underlyings: spot down 5% and 15% (through some
/// barriers), vol up, rate up, and a move left flat.
pub(crate) fn scenarios(n: usize) -> Vec<TradeScenarios> {
    let mv = |spot, vol, rate| vec![MarketMove { spot, vol, rate }];
    let moves = vec![
        mv(-0.05, 0.0, 0.0),
        mv(-0.15, 0.02, 0.0),
        mv(0.0, 0.03, 0.0),
        mv(0.0, 0.0, 0.001),
        mv(0.0, 0.0, 0.0),
        mv(0.05, -0.02, -0.001),
        mv(0.1, 0.0, 0.0),
        mv(-0.05, 0.0, 0.0),
    ];
    vec![TradeScenarios { moves }; n]
}

fn assert_scenarios_conform(engine: &dyn Engine, tol: Tolerance) {
    let cpu = CpuEngine::new(None).unwrap();
    let mut trades = book(600);
    trades.extend(multi_book(600));
    let sc = scenarios(trades.len());
    let req = PricingRequest::default();
    let a = cpu.revalue(&trades, &sc, &req).unwrap();
    let b = engine.revalue(&trades, &sc, &req).unwrap();
    for ((t, x), y) in trades.iter().zip(&a).zip(&b) {
        let mut pairs = vec![("base".to_string(), x.base, y.base)];
        for (k, (p, q)) in x.pnl.iter().zip(&y.pnl).enumerate() {
            pairs.push((format!("scenario {}", k + 1), *p, *q));
        }
        assert_eq!(x.pnl.len(), y.pnl.len());
        for (name, p, q) in pairs {
            let rounding = tol.ulp * x.base.value.abs().max(1.0);
            let allowed = (tol.rel * p.value.abs())
                .max(tol.se * p.stderr)
                .max(rounding);
            assert!(
                (p.value - q.value).abs() <= allowed,
                "{} {name} on {}: cpu {} +- {}, other {} +- {} (tolerance {allowed})",
                t.id,
                engine.name(),
                p.value,
                p.stderr,
                q.value,
                q.stderr
            );
        }
    }
}

/// The same paths in f64: the CPU's prices but for the order of the sums.
const SAME_PATHS: Tolerance = Tolerance {
    rel: 1e-11,
    se: 0.0,
    ulp: 1e-13,
};

#[test]
fn dated_trades_on_the_cuda_c_price_as_the_cpu_engine() {
    let Some(k) = cuda_c() else { return };
    assert_prices_conform(&k, SAME_PATHS);
}

#[test]
fn dated_scenarios_on_the_cuda_c_revalue_as_the_cpu_engine() {
    let Some(k) = cuda_c() else { return };
    assert_scenarios_conform(&k, SAME_PATHS);
}

#[test]
fn dated_trades_on_wgpu_price_as_the_cpu_engine() {
    let Some(w) = wgpu() else { return };
    assert_prices_conform(&w, Tolerance::F32);
}

#[test]
fn dated_scenarios_on_wgpu_revalue_as_the_cpu_engine() {
    let Some(w) = wgpu() else { return };
    assert_scenarios_conform(&w, Tolerance::F32);
}

/// lavapipe ends an invocation's loops after 65,535 iterations in all: a
/// dated grid of 60,000 steps cannot be walked there, and the engine says
/// so (unavailable, naming the trade and its steps) rather than return a
/// cut walk's sums; a grid of 2,000 steps with every Greek is walked
/// whole and prices as the CPU engine.
#[test]
fn a_grid_longer_than_lavapipe_walks_is_refused_and_a_long_one_prices() {
    let Some(w) = wgpu() else { return };
    let m = market();
    let call = serde_json::json!({"type": "european", "option": "call", "strike": 100});
    let long = |id: &str, spy: u32| {
        let d = DatedTerms {
            id: id.into(),
            underlyings: vec!["SKEW".into()],
            model: Some("local_vol".into()),
            payoff: DatedPayoff::One(payoff_of(call.clone())),
            expiry: "2027-12-04".into(),
            fixings: None,
            steps_per_year: spy,
            paths: 128,
            exercise: None,
        };
        resolve(&m, &d).expect("a dated trade")
    };
    let req = PricingRequest::default();
    match w.price(&[long("cut-short", 60_000)], &req) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("cut-short") && msg.contains("60000 steps"),
                "{msg}"
            );
        }
        Ok(r) => panic!("a 60,000-step walk on {}: {r:?}", w.device()),
    }
    let t = long("walked", 2_000);
    let all = PricingRequest {
        greeks: GreekSet(vec![Greek::Delta, Greek::Gamma, Greek::Vega, Greek::Rho]),
        ..req
    };
    let a = CpuEngine::new(None)
        .unwrap()
        .price(std::slice::from_ref(&t), &all)
        .unwrap();
    let b = w.price(std::slice::from_ref(&t), &all).unwrap();
    assert_close("wgpu", &t, &all, &a[0], &b[0], Tolerance::F32);
}

/// The CUDA engine on a GPU (scripts/gpu-check sets RISKPOOL_REQUIRE_CUDA=1):
/// the same kernels in f64, compiled by NVRTC, which contracts multiplies
/// and adds, so a path at a discrete barrier may land on its other side:
/// the f32 contract (1e-4 relative or 0.1 SE), as for the extension's.
pub fn cuda_gpu() -> Option<riskpool_kernels::engine::cuda::CudaEngine> {
    match riskpool_kernels::engine::cuda::CudaEngine::new() {
        Ok(e) => Some(e),
        Err(e) if std::env::var("RISKPOOL_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("RISKPOOL_REQUIRE_CUDA=1 but: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

#[test]
fn dated_trades_on_the_gpu_price_and_revalue_as_the_cpu_engine() {
    let Some(g) = cuda_gpu() else { return };
    assert_prices_conform(&g, Tolerance::F32);
    assert_scenarios_conform(&g, Tolerance::F32);
}

/// The several-underlying kernel's plans are cut under the adapter's
/// binding too: every trade of `multi_book` three times over, on 32 KiB
/// bindings, prices as on the CPU engine.
#[test]
fn several_underlying_trades_past_one_binding_are_split_on_wgpu() {
    let Some(mut w) = wgpu() else { return };
    w.cap_binding_size(32 * 1024);
    let mut book = Vec::new();
    for round in 0..3 {
        for mut t in multi_book(128) {
            t.id = format!("{}-{round}", t.id);
            t.stream = riskpool_kernels::rng::stream_id_of(&t.id);
            book.push(t);
        }
    }
    let req = PricingRequest::default();
    let a = CpuEngine::new(None).unwrap().price(&book, &req).unwrap();
    let b = w
        .price(&book, &req)
        .unwrap_or_else(|e| panic!("on 32 KiB bindings: {e}"));
    for ((t, x), y) in book.iter().zip(&a).zip(&b) {
        assert_close("wgpu", t, &req, x, y, Tolerance::F32);
    }
}
