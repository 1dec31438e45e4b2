//! Scenario revaluation: every trade's base price and scenario P&L from one
//! pass over its paths per chunk of scenarios (`riskpool_kernels::revalue`).
//!
//! - European options under GBM on three underlyings: each scenario's P&L
//!   (spot only, vol only, rate only, all three) within 4 standard errors
//!   of the Black-Scholes P&L, and that standard error at least 10x below
//!   the one of two independently seeded prices' difference;
//! - an unmoved scenario is exactly 0;
//! - bit-identical results for any thread count, trade order and batch;
//! - the wgpu engine (lavapipe) and the CUDA C on the CPU give the CPU
//!   engine's P&L for every model x payoff, and for every several-asset
//!   and early-exercise kind, to the engines' contract;
//! - trades with an extension go through the early-exercise pricer in one
//!   pass: a basket's assets each moved, an American put's moved trades
//!   each on its own policy (against a lattice).

use crate::common::*;
use riskpool_kernels::correlation::Correlation;
use riskpool_kernels::engine::cuda::on_cpu::CudaOnCpu;
use riskpool_kernels::engine::wgpu::WgpuEngine;
use riskpool_kernels::multi::{Extension, GbmAsset, MultiAsset, MultiModel, MultiPayoff};
use riskpool_kernels::payoff::*;
use riskpool_kernels::scenario::{MarketMove, ScenarioResult, TradeScenarios};
use riskpool_kernels::stats::Estimate;
use riskpool_kernels::{CpuEngine, Engine, Precision, PricingRequest, Trade};

fn mv(spot: f64, vol: f64, rate: f64) -> MarketMove {
    MarketMove { spot, vol, rate }
}

/// Scenarios of the tests, by what they move.
fn scenario_set() -> Vec<(&'static str, MarketMove)> {
    vec![
        ("spot only", mv(-0.02, 0.0, 0.0)),
        ("spot only", mv(0.015, 0.0, 0.0)),
        ("vol only", mv(0.0, 0.02, 0.0)),
        ("vol only", mv(0.0, -0.015, 0.0)),
        ("rate only", mv(0.0, 0.0, 0.005)),
        ("rate only", mv(0.0, 0.0, -0.003)),
        ("all three", mv(-0.01, 0.01, 0.002)),
        ("all three", mv(0.01, -0.01, -0.002)),
        ("unmoved", MarketMove::default()),
    ]
}

/// The book: calls and puts on three GBM underlyings.
fn gbm_book(paths: u64) -> Vec<Trade> {
    let underlyings = [
        (100.0, 0.03, 0.01, 0.2),
        (50.0, 0.01, 0.0, 0.35),
        (250.0, 0.05, 0.02, 0.15),
    ];
    let mut book = Vec::new();
    for (u, &(s, r, q, v)) in underlyings.iter().enumerate() {
        for (k, option) in [(0.95, OptionType::Call), (1.05, OptionType::Put)] {
            book.push(trade(
                &format!("u{u}-{option:?}"),
                gbm(s, r, q, v),
                PayoffSpec::European(European {
                    option,
                    strike: k * s,
                }),
                1.0,
                4,
                paths,
            ));
        }
    }
    book
}

fn black_scholes(t: &Trade) -> f64 {
    let (PayoffSpec::European(e), riskpool_kernels::model::ModelSpec::Gbm(m)) =
        (&t.payoff, &t.model)
    else {
        unreachable!("the book is European under GBM")
    };
    let call = matches!(e.option, OptionType::Call);
    bs(
        call, m.spot, e.strike, m.rate, m.dividend, m.vol, t.maturity,
    )
}

fn scenarios_of(set: &[(&str, MarketMove)], n_trades: usize) -> Vec<TradeScenarios> {
    let moves: Vec<Vec<MarketMove>> = set.iter().map(|(_, m)| vec![*m]).collect();
    vec![TradeScenarios { moves }; n_trades]
}

#[test]
fn every_scenario_matches_black_scholes_and_beats_independent_prices_tenfold() {
    let cpu = CpuEngine::new(None).unwrap();
    let set = scenario_set();
    let book = gbm_book(20_000);
    let req = PricingRequest::default();
    let out = cpu
        .revalue(&book, &scenarios_of(&set, book.len()), &req)
        .unwrap();
    for (t, r) in book.iter().zip(&out) {
        assert_within(
            &format!("{} base", t.id),
            r.base,
            black_scholes(t),
            4.0,
            0.0,
        );
        for ((what, m), pnl) in set.iter().zip(&r.pnl) {
            let moved = Trade {
                model: m.apply(&t.model).unwrap(),
                ..t.clone()
            };
            let exact = black_scholes(&moved) - black_scholes(t);
            if m.is_none() {
                assert_eq!((pnl.value, pnl.stderr), (0.0, 0.0), "{} {what}", t.id);
                continue;
            }
            assert_within(&format!("{} {what} {m:?}", t.id), *pnl, exact, 4.0, 0.0);
            // The same two prices drawn independently (another seed for the
            // moved one): their difference's standard error.
            let plain = |t: &Trade, seed| {
                cpu.price(
                    std::slice::from_ref(t),
                    &PricingRequest {
                        seed,
                        ..req.clone()
                    },
                )
                .unwrap()[0]
                    .pv
            };
            let (a, b) = (plain(t, req.seed), plain(&moved, req.seed ^ 0x9e37_79b9));
            let independent = a.stderr.hypot(b.stderr);
            assert!(
                pnl.stderr * 10.0 <= independent,
                "{} {what}: P&L stderr {} vs independent {independent}",
                t.id,
                pnl.stderr
            );
        }
    }
}

/// A scenario's paths are the repriced trade's paths: for every model and
/// payoff, the fused P&L is the difference of the naive prices (one run per
/// scenario on the same streams) but for rounding, in f64. This checks each
/// move's fold (the spot shift, the rate's drift and discount, sv_fx's
/// drift) and family against the model it stands for.
#[test]
fn every_model_s_fused_pnl_is_the_repriced_difference() {
    let trades = every_model_and_payoff(500);
    let set = scenario_set();
    let sc = scenarios_of(&set, trades.len());
    let req = PricingRequest {
        precision: Precision::F64,
        ..Default::default()
    };
    let cpu = CpuEngine::new(None).unwrap();
    let fused = cpu.revalue(&trades, &sc, &req).unwrap();
    let naive = riskpool_kernels::engine::naive_revalue(&cpu, &trades, &sc, &req).unwrap();
    for ((t, f), n) in trades.iter().zip(&fused).zip(&naive) {
        assert_eq!(f.base, n.base, "{}", t.id);
        for ((what, m), (a, b)) in set.iter().zip(f.pnl.iter().zip(&n.pnl)) {
            assert!(
                (a.value - b.value).abs() <= 1e-9 * f.base.value.abs().max(1.0),
                "{} {what} {m:?}: fused {a:?}, repriced {b:?}",
                t.id
            );
        }
    }
}

fn without_seconds(v: Vec<ScenarioResult>) -> Vec<ScenarioResult> {
    v.into_iter()
        .map(|r| ScenarioResult { seconds: 0.0, ..r })
        .collect()
}

#[test]
fn results_do_not_depend_on_threads_order_or_batch() {
    // Every model x payoff, scenarios needing several passes and families.
    // And an American put, through the early-exercise pricer.
    let mut trades: Vec<Trade> = every_model_and_payoff(700).into_iter().step_by(3).collect();
    trades.insert(3, american_put());
    let set = scenario_set();
    let sc = scenarios_of(&set, trades.len());
    let req = PricingRequest::default();
    let one = CpuEngine::new(Some(1)).unwrap();
    let two = CpuEngine::new(Some(2)).unwrap();
    let a = without_seconds(one.revalue(&trades, &sc, &req).unwrap());
    let b = without_seconds(two.revalue(&trades, &sc, &req).unwrap());
    assert_eq!(a, b);
    // Reversed, and in two batches.
    let rev: Vec<Trade> = trades.iter().rev().cloned().collect();
    let mut c = without_seconds(two.revalue(&rev, &sc, &req).unwrap());
    c.reverse();
    assert_eq!(a, c);
    let half = trades.len() / 2;
    let mut d = without_seconds(two.revalue(&trades[..half], &sc[..half], &req).unwrap());
    d.extend(without_seconds(
        two.revalue(&trades[half..], &sc[half..], &req).unwrap(),
    ));
    assert_eq!(a, d);
    // A trade's base is its plain price, bit for bit.
    let plain = two.price(&trades, &req).unwrap();
    for (r, p) in a.iter().zip(&plain) {
        assert_eq!(r.base, p.pv);
    }
}

/// On the CPU a trade's scenario passes run as one group over its paths,
/// the normals drawn once for all of them: each scenario's P&L is the same
/// bits as when it is the trade's only scenario (one pass, a group of
/// one), for every model and payoff, with antithetic pairs or not.
#[test]
fn a_trade_s_passes_drawn_together_give_each_scenario_s_own_bits() {
    // Even path counts (antithetic pairs), one not a multiple of a lane.
    let trades: Vec<Trade> = every_model_and_payoff(300)
        .into_iter()
        .step_by(2)
        .map(|t| Trade { paths: 302, ..t })
        .collect();
    // 9 moves x 3: five passes a trade, vol groups among them.
    let mut set = scenario_set();
    for k in [1.5, -0.5] {
        set.extend(
            scenario_set()
                .into_iter()
                .map(|(w, m)| (w, mv(m.spot * k, m.vol * k, m.rate * k))),
        );
    }
    let all = scenarios_of(&set, trades.len());
    let cpu = CpuEngine::new(Some(2)).unwrap();
    for antithetic in [false, true] {
        let req = PricingRequest {
            antithetic,
            ..PricingRequest::default()
        };
        let grouped = cpu.revalue(&trades, &all, &req).unwrap();
        for (s, (what, m)) in set.iter().enumerate() {
            let alone = cpu
                .revalue(&trades, &scenarios_of(&[(what, *m)], trades.len()), &req)
                .unwrap();
            for ((t, g), a) in trades.iter().zip(&grouped).zip(&alone) {
                assert_eq!(
                    (g.pnl[s].value.to_bits(), g.pnl[s].stderr.to_bits()),
                    (a.pnl[0].value.to_bits(), a.pnl[0].stderr.to_bits()),
                    "{} scenario {s} ({what}), antithetic {antithetic}",
                    t.id
                );
                assert_eq!(g.base, a.base, "{}", t.id);
            }
        }
    }
}

/// |cpu - other| within the contract for the base and every P&L.
fn assert_pnl_conform(what: &str, a: &[ScenarioResult], b: &[ScenarioResult], tol: Tolerance) {
    assert_pnl_conform_with(what, a, b, tol, false)
}

/// As [`assert_pnl_conform`]; with `flips`, a P&L may also differ by the
/// SE allowance of the base price: a rounding that exercises a path one
/// date apart moves the P&L as much as the price, and a P&L's own standard
/// error (from per-path differences) is far below the price's.
fn assert_pnl_conform_with(
    what: &str,
    a: &[ScenarioResult],
    b: &[ScenarioResult],
    tol: Tolerance,
    flips: bool,
) {
    assert_eq!(a.len(), b.len(), "{what}");
    // The largest difference in P&L standard errors and relative to the
    // P&L, for the record.
    let (mut worst_se, mut worst_rel) = (0.0f64, 0.0f64);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.pnl.len(), y.pnl.len(), "{what}");
        let rounding = tol.ulp * x.base.value.abs().max(1.0) * 2.0;
        let pairs = std::iter::once(("base", x.base, y.base))
            .chain(x.pnl.iter().zip(&y.pnl).map(|(p, q)| ("pnl", *p, *q)));
        for (s, (name, p, q)) in pairs.enumerate() {
            let flip = if flips { tol.se * x.base.stderr } else { 0.0 };
            let allowed: f64 = (tol.rel * p.value.abs())
                .max(tol.se * p.stderr)
                .max(flip)
                .max(rounding);
            if p.stderr > 0.0 {
                worst_se = worst_se.max((p.value - q.value).abs() / p.stderr);
                worst_rel = worst_rel.max((p.value - q.value).abs() / p.value.abs().max(1e-300));
            }
            assert!(
                (p.value - q.value).abs() <= allowed,
                "{what} trade {i} {name} {s}: cpu {p:?}, other {q:?} (tolerance {allowed})"
            );
            // A P&L that hardly varies path to path (a deep put exercised
            // at once, under a rate move) has a standard error of rounding
            // (its sums of squares cancel): below sqrt(eps) of the value.
            let cancels = 1e-7 * p.value.abs();
            assert!(
                (p.stderr - q.stderr).abs() <= 0.01 * p.stderr + flip + cancels + rounding,
                "{what} trade {i} {name} {s} stderr: {p:?} vs {q:?}"
            );
        }
    }
    eprintln!("{what}: largest difference {worst_se:.2e} SE, {worst_rel:.2e} relative");
}

fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

#[test]
fn the_gpu_engines_give_the_cpu_engine_s_pnl() {
    // Every model x payoff (partial last blocks), plainly and in
    // antithetic pairs.
    let trades = every_model_and_payoff(3_000);
    let set = scenario_set();
    let sc = scenarios_of(&set, trades.len());
    let cpu = CpuEngine::new(None).unwrap();
    let f32 = PricingRequest::default();
    let anti = PricingRequest {
        antithetic: true,
        ..Default::default()
    };
    let even = with_even_paths(&trades);
    let f64 = PricingRequest {
        precision: Precision::F64,
        ..Default::default()
    };
    let base32 = cpu.revalue(&trades, &sc, &f32).unwrap();
    let base_anti = cpu.revalue(&even, &sc, &anti).unwrap();
    let mut ran = 0;
    match WgpuEngine::new(true) {
        Ok(gpu) => {
            let got = gpu.revalue(&trades, &sc, &f32).unwrap();
            assert_pnl_conform("wgpu f32", &base32, &got, Tolerance::F32);
            let got = gpu.revalue(&even, &sc, &anti).unwrap();
            assert_pnl_conform("wgpu f32 antithetic", &base_anti, &got, Tolerance::F32);
            ran += 1;
        }
        Err(e) if required("RISKPOOL_REQUIRE_WGPU") => panic!("RISKPOOL_REQUIRE_WGPU=1 but: {e}"),
        Err(e) => eprintln!("skipping wgpu: {e}"),
    }
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => {
            let got = k.revalue(&trades, &sc, &f32).unwrap();
            assert_pnl_conform("cuda-on-cpu f32", &base32, &got, Tolerance::F32);
            let got = k.revalue(&even, &sc, &anti).unwrap();
            assert_pnl_conform(
                "cuda-on-cpu f32 antithetic",
                &base_anti,
                &got,
                Tolerance::F32,
            );
            let base64 = cpu.revalue(&trades, &sc, &f64).unwrap();
            let got = k.revalue(&trades, &sc, &f64).unwrap();
            assert_pnl_conform("cuda-on-cpu f64", &base64, &got, Tolerance::F64);
            ran += 1;
        }
        Err(e) if required("RISKPOOL_REQUIRE_CXX") => panic!("RISKPOOL_REQUIRE_CXX=1 but: {e}"),
        Err(e) => eprintln!("skipping cuda-on-cpu: {e}"),
    }
    eprintln!("{ran} engines compared with the cpu engine");
}

/// Scenarios for a trade on `n` assets: every asset's spot, vol or rate
/// moved, one asset alone, all three, and unmoved.
fn multi_scenarios(n: usize) -> TradeScenarios {
    let all = |m: MarketMove| vec![m; n];
    let mut first = vec![MarketMove::default(); n];
    first[0] = mv(-0.08, 0.03, 0.0);
    TradeScenarios {
        moves: vec![
            all(mv(-0.1, 0.0, 0.0)),
            all(mv(0.0, 0.05, 0.0)),
            all(mv(0.0, 0.0, 0.01)),
            first,
            all(mv(0.05, -0.02, -0.005)),
            all(MarketMove::default()),
        ],
    }
}

fn assets(t: &Trade) -> usize {
    t.extension
        .as_ref()
        .and_then(|e| e.multi.as_ref())
        .map_or(1, |m| m.model.assets())
}

/// Issue 22 item 3: every several-asset and early-exercise kind's P&L is
/// the same on every engine, to the CPU's contract (each moved trade on
/// its own refitted policy, the standard error from per-path differences):
/// the CPU's P&L is its moved trades' prices less the base's to rounding,
/// and wgpu and the CUDA C on the CPU give the CPU's, plainly and in
/// antithetic pairs.
#[test]
fn every_engine_gives_the_same_pnl_for_several_assets_and_early_exercise() {
    let trades = every_multi_and_exercise(1_500);
    let sc: Vec<TradeScenarios> = trades.iter().map(|t| multi_scenarios(assets(t))).collect();
    let cpu = CpuEngine::new(None).unwrap();
    let f32 = PricingRequest::default();
    let f64 = PricingRequest {
        precision: Precision::F64,
        ..Default::default()
    };
    let anti = PricingRequest {
        antithetic: true,
        ..Default::default()
    };
    let even = with_even_paths(&trades);
    let base32 = cpu.revalue(&trades, &sc, &f32).unwrap();
    let naive = riskpool_kernels::engine::naive_revalue(&cpu, &trades, &sc, &f32).unwrap();
    for ((t, f), n) in trades.iter().zip(&base32).zip(&naive) {
        assert_eq!(f.base, n.base, "{}", t.id);
        for (s, (a, b)) in f.pnl.iter().zip(&n.pnl).enumerate() {
            assert!(
                (a.value - b.value).abs() <= 1e-9 * f.base.value.abs().max(1.0),
                "{} scenario {s}: {a:?}, its moved trade repriced {b:?}",
                t.id
            );
            assert!(a.stderr <= b.stderr, "{} scenario {s}: {a:?} {b:?}", t.id);
        }
    }
    let base_anti = cpu.revalue(&even, &sc, &anti).unwrap();
    let base64 = cpu.revalue(&trades, &sc, &f64).unwrap();
    let mut ran = 0;
    match WgpuEngine::new(true) {
        Ok(gpu) => {
            let got = gpu.revalue(&trades, &sc, &f32).unwrap();
            assert_pnl_conform_with("wgpu extension f32", &base32, &got, Tolerance::F32, true);
            let got = gpu.revalue(&even, &sc, &anti).unwrap();
            let what = "wgpu extension antithetic";
            assert_pnl_conform_with(what, &base_anti, &got, Tolerance::F32, true);
            ran += 1;
        }
        Err(e) if required("RISKPOOL_REQUIRE_WGPU") => panic!("RISKPOOL_REQUIRE_WGPU=1 but: {e}"),
        Err(e) => eprintln!("skipping wgpu: {e}"),
    }
    match CudaOnCpu::build(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(k) => {
            // The CUDA C runs f64 path state whatever the precision, as
            // the CPU pricer: the f64 contract.
            let got = k.revalue(&trades, &sc, &f32).unwrap();
            assert_pnl_conform("cuda-on-cpu extension", &base32, &got, Tolerance::F64);
            let got = k.revalue(&even, &sc, &anti).unwrap();
            assert_pnl_conform(
                "cuda-on-cpu extension antithetic",
                &base_anti,
                &got,
                Tolerance::F64,
            );
            let got = k.revalue(&trades, &sc, &f64).unwrap();
            assert_pnl_conform("cuda-on-cpu extension f64", &base64, &got, Tolerance::F64);
            ran += 1;
        }
        Err(e) if required("RISKPOOL_REQUIRE_CXX") => panic!("RISKPOOL_REQUIRE_CXX=1 but: {e}"),
        Err(e) => eprintln!("skipping cuda-on-cpu: {e}"),
    }
    eprintln!("{ran} engines compared with the cpu engine");
}

/// An American put (S=36, K=40) with 25 exercise dates.
fn american_put() -> Trade {
    Trade {
        extension: Some(Box::new(Extension {
            multi: None,
            exercise: riskpool_kernels::exercise::Exercise::American,
        })),
        dated: None,
        ..trade(
            "american",
            gbm(36.0, 0.06, 0.0, 0.2),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: 40.0,
            }),
            1.0,
            25,
            8_000,
        )
    }
}

#[test]
fn an_american_put_s_pnl_is_its_moved_trade_s_price_on_the_same_paths() {
    let put = american_put();
    let set = scenario_set();
    let sc = scenarios_of(&set, 1);
    let req = PricingRequest::default();
    let cpu = CpuEngine::new(None).unwrap();
    let fused = cpu.revalue(std::slice::from_ref(&put), &sc, &req).unwrap();
    let naive =
        riskpool_kernels::engine::naive_revalue(&cpu, std::slice::from_ref(&put), &sc, &req)
            .unwrap();
    // Each scenario's value is the moved trade's own price (its policy
    // refitted on the same regression normals, priced on the same paths):
    // the P&L is the naive one's to rounding, and its standard error, from
    // the per-path differences, below half the naive bound.
    assert_eq!(fused[0].base, naive[0].base);
    for ((what, m), (f, n)) in set.iter().zip(fused[0].pnl.iter().zip(&naive[0].pnl)) {
        if m.is_none() {
            assert_eq!((f.value, f.stderr), (0.0, 0.0));
            continue;
        }
        assert!(
            (f.value - n.value).abs() <= 1e-9 * fused[0].base.value,
            "american {what} {m:?}: {f:?} vs naive {n:?}"
        );
        eprintln!(
            "american {what}: P&L stderr {:.2e}, naive bound {:.2e}",
            f.stderr, n.stderr
        );
        assert!(f.stderr * 2.0 < n.stderr, "{what}: {f:?} vs {n:?}");
    }
}

/// Issue 22 item 2: an American put's P&L under real moves (spot -10%, vol
/// +0.05, both) within 4 standard errors of a 2,000-step lattice's, and
/// above the European's where early exercise is worth more.
#[test]
fn an_american_put_s_pnl_under_real_moves_matches_a_lattice() {
    let (s, k, r, vol, mat, steps) = (100.0, 100.0, 0.05, 0.2, 1.0, 50u32);
    let put = Trade {
        extension: Some(Box::new(Extension {
            multi: None,
            exercise: riskpool_kernels::exercise::Exercise::American,
        })),
        dated: None,
        ..trade(
            "american",
            gbm(s, r, 0.0, vol),
            PayoffSpec::European(European {
                option: OptionType::Put,
                strike: k,
            }),
            mat,
            steps,
            20_000,
        )
    };
    let moves = [
        mv(-0.10, 0.0, 0.0),
        mv(0.0, 0.05, 0.0),
        mv(-0.10, 0.05, 0.0),
    ];
    let sc = [TradeScenarios {
        moves: moves.iter().map(|m| vec![*m]).collect(),
    }];
    let req = PricingRequest {
        precision: Precision::F64,
        ..Default::default()
    };
    let cpu = CpuEngine::new(None).unwrap();
    let got = cpu.revalue(std::slice::from_ref(&put), &sc, &req).unwrap();
    let dates: Vec<u32> = (1..=steps).collect();
    let tree = |spot: f64, vol: f64, dates: &[u32]| {
        lattice(spot, k, r, 0.0, vol, mat, steps, true, dates, 40)
    };
    let base = tree(s, vol, &dates);
    for (m, p) in moves.iter().zip(&got[0].pnl) {
        let (spot, v) = (s * (1.0 + m.spot), vol + m.vol);
        let want = tree(spot, v, &dates) - base;
        let european = tree(spot, v, &[steps]) - tree(s, vol, &[steps]);
        eprintln!(
            "{m:?}: P&L {:.4} +- {:.4}, lattice {want:.4}, european {european:.4}",
            p.value, p.stderr
        );
        assert!(
            (p.value - want).abs() <= 4.0 * p.stderr,
            "{m:?}: P&L {p:?} against the lattice's {want}"
        );
    }
}

#[test]
fn a_multi_asset_trade_moves_each_asset_on_the_same_paths() {
    let basket = Trade {
        extension: Some(Box::new(Extension {
            multi: Some(MultiAsset {
                model: MultiModel::GbmMulti {
                    rate: 0.02,
                    assets: vec![
                        GbmAsset {
                            spot: 100.0,
                            vol: 0.2,
                            dividend: 0.0,
                        },
                        GbmAsset {
                            spot: 80.0,
                            vol: 0.3,
                            dividend: 0.01,
                        },
                    ],
                    correlation: Correlation::new(&[vec![1.0, 0.5], vec![0.5, 1.0]], 2).unwrap(),
                },
                payoff: MultiPayoff::Basket {
                    option: OptionType::Call,
                    strike: 90.0,
                    weights: vec![0.5, 0.5],
                },
            }),
            ..Default::default()
        })),
        dated: None,
        ..trade(
            "basket",
            gbm(100.0, 0.02, 0.0, 0.2),
            PayoffSpec::European(European {
                option: OptionType::Call,
                strike: 90.0,
            }),
            1.0,
            8,
            4_000,
        )
    };
    let moves = vec![
        vec![mv(0.05, 0.0, 0.0), MarketMove::default()],
        vec![MarketMove::default(), mv(-0.05, 0.02, 0.0)],
        vec![mv(0.0, 0.0, 0.01), mv(0.0, 0.0, 0.01)],
        vec![MarketMove::default(); 2],
    ];
    let cpu = CpuEngine::new(None).unwrap();
    let req = PricingRequest::default();
    let out = cpu
        .revalue(
            std::slice::from_ref(&basket),
            &[TradeScenarios {
                moves: moves.clone(),
            }],
            &req,
        )
        .unwrap();
    let base = cpu.price(std::slice::from_ref(&basket), &req).unwrap()[0].pv;
    assert_eq!(out[0].base, base);
    let pv = |assets: [(f64, f64); 2], rate: f64| {
        let mut t = basket.clone();
        if let Some(MultiModel::GbmMulti {
            rate: r, assets: a, ..
        }) = t
            .extension
            .as_mut()
            .and_then(|e| e.multi.as_mut())
            .map(|m| &mut m.model)
        {
            *r = rate;
            for (x, (s, v)) in a.iter_mut().zip(assets) {
                x.spot = s;
                x.vol = v;
            }
        }
        cpu.price(&[t], &req).unwrap()[0].pv.value
    };
    let expect = [
        pv([(105.0, 0.2), (80.0, 0.3)], 0.02),
        pv([(100.0, 0.2), (76.0, 0.32)], 0.02),
        pv([(100.0, 0.2), (80.0, 0.3)], 0.03),
    ];
    for (k, e) in expect.iter().enumerate() {
        let got = out[0].pnl[k];
        // A European basket has no policy: the moved paths are the
        // repriced ones, but for rounding.
        assert!(
            (got.value - (e - base.value)).abs() < 1e-9 * e.abs().max(1.0),
            "scenario {k}: {got:?} vs {}",
            e - base.value
        );
        assert!(got.stderr > 0.0 && got.stderr < base.stderr, "{got:?}");
    }
    assert_eq!(
        out[0].pnl[3],
        Estimate {
            value: 0.0,
            stderr: 0.0
        }
    );
    // Assets whose rates move apart are refused with the reason.
    let e = cpu
        .revalue(
            std::slice::from_ref(&basket),
            &[TradeScenarios {
                moves: vec![vec![mv(0.0, 0.0, 0.01), mv(0.0, 0.0, 0.02)]],
            }],
            &req,
        )
        .unwrap_err();
    assert!(e.to_string().contains("one rate"), "{e}");
}
