//! The stream contract in practice: a trade's price depends on its
//! identity and the seed only, bit for bit, whatever else is priced with
//! it, in whatever order, on however many threads, at any SIMD level.

use crate::common::*;
use riskpool_kernels::model::{Heston, ModelSpec, SvFx};
use riskpool_kernels::payoff::*;
use riskpool_kernels::{
    CpuEngine, Engine, Greek, GreekSet, PricingRequest, Simd, Trade, TradeResult,
};

fn book() -> Vec<Trade> {
    let mut v = Vec::new();
    let heston = ModelSpec::Heston(Heston {
        spot: 100.0,
        rate: 0.02,
        dividend: 0.0,
        v0: 0.04,
        kappa: 2.0,
        theta: 0.05,
        xi: 0.4,
        rho: -0.5,
    });
    let svfx = ModelSpec::SvFx(SvFx {
        spot: 0.85,
        drift: 0.01,
        sigma: 0.08,
        volvol: 0.0015,
        rho: 0.0,
    });
    let payoffs = [
        PayoffSpec::European(European {
            option: OptionType::Put,
            strike: 95.0,
        }),
        PayoffSpec::Digital(Digital {
            option: OptionType::Call,
            strike: 100.0,
            cash: 1.0,
        }),
        PayoffSpec::Asian(Asian {
            option: OptionType::Call,
            strike: 100.0,
            average: Average::Arithmetic,
        }),
        PayoffSpec::Barrier(Barrier {
            option: OptionType::Put,
            strike: 100.0,
            barrier: 120.0,
            direction: Direction::Up,
            knock: Knock::In,
            monitoring: Monitoring::Continuous,
            rebate: 1.0,
        }),
        PayoffSpec::Lookback(Lookback {
            option: OptionType::Put,
            strike_type: StrikeType::Floating,
            strike: 0.0,
        }),
    ];
    for (i, p) in payoffs.iter().enumerate() {
        v.push(trade(
            &format!("gbm-{i}"),
            gbm(100.0, 0.03, 0.0, 0.3),
            p.clone(),
            1.0,
            37,
            10_001,
        ));
        v.push(trade(
            &format!("heston-{i}"),
            heston.clone(),
            p.clone(),
            0.5,
            64,
            5_000,
        ));
    }
    v.push(trade(
        "warrant",
        svfx,
        PayoffSpec::FxWarrant(FxWarrant {
            strike: 0.8,
            warrants: 40_000.0,
            notional_per_warrant: 1000.0,
        }),
        0.2,
        172,
        9_000,
    ));
    v
}

fn req() -> PricingRequest {
    PricingRequest {
        greeks: GreekSet(vec![Greek::Delta, Greek::Gamma, Greek::Vega, Greek::Rho]),
        ..Default::default()
    }
}

/// Everything but the timing.
fn strip(r: &[TradeResult]) -> Vec<TradeResult> {
    r.iter()
        .map(|x| TradeResult {
            seconds: 0.0,
            ..x.clone()
        })
        .collect()
}

#[test]
fn a_trade_prices_the_same_alone_shuffled_and_sharded() {
    let trades = book();
    let engine = CpuEngine::new(Some(2)).unwrap();
    let all = strip(&engine.price(&trades, &req()).unwrap());

    // Alone.
    for (t, r) in trades.iter().zip(&all) {
        assert_eq!(
            &strip(&engine.price(std::slice::from_ref(t), &req()).unwrap())[0],
            r,
            "{} alone",
            t.id
        );
    }
    // Shuffled (a fixed permutation).
    let order: Vec<usize> = (0..trades.len())
        .map(|i| (i * 7 + 3) % trades.len())
        .collect();
    let shuffled: Vec<Trade> = order.iter().map(|&i| trades[i].clone()).collect();
    let rs = strip(&engine.price(&shuffled, &req()).unwrap());
    for (k, &i) in order.iter().enumerate() {
        assert_eq!(rs[k], all[i], "{} shuffled", trades[i].id);
    }
    // Two shards by stream id, as --shard selects them.
    for shard in 0..2 {
        let part: Vec<(usize, Trade)> = trades
            .iter()
            .cloned()
            .enumerate()
            .filter(|(_, t)| t.stream % 2 == shard)
            .collect();
        let only: Vec<Trade> = part.iter().map(|(_, t)| t.clone()).collect();
        let r = strip(&engine.price(&only, &req()).unwrap());
        for ((i, t), got) in part.iter().zip(&r) {
            assert_eq!(got, &all[*i], "{} in shard {shard}", t.id);
        }
    }
}

#[test]
fn results_are_bit_identical_for_any_thread_count_and_simd_level() {
    let trades = book();
    let reference = strip(
        &CpuEngine::with_simd(Some(1), Simd::Portable)
            .unwrap()
            .price(&trades, &req())
            .unwrap(),
    );
    for threads in [1, 2, 3] {
        for simd in [Simd::Portable, Simd::Avx2, Simd::Avx512] {
            if !simd.supported() {
                eprintln!("skipping {}: not supported by this CPU", simd.name());
                continue;
            }
            let got = strip(
                &CpuEngine::with_simd(Some(threads), simd)
                    .unwrap()
                    .price(&trades, &req())
                    .unwrap(),
            );
            assert_eq!(got, reference, "{threads} threads, {}", simd.name());
        }
    }
}

#[test]
fn seeds_change_prices_and_antithetic_pairs_cut_variance() {
    let t = trade(
        "anti",
        gbm(100.0, 0.03, 0.0, 0.2),
        PayoffSpec::European(European {
            option: OptionType::Call,
            strike: 100.0,
        }),
        1.0,
        1,
        200_000,
    );
    let a = price_one(
        &t,
        &PricingRequest {
            seed: 1,
            ..Default::default()
        },
    );
    let b = price_one(
        &t,
        &PricingRequest {
            seed: 2,
            ..Default::default()
        },
    );
    assert_ne!(a.pv.value, b.pv.value);
    let anti = price_one(
        &t,
        &PricingRequest {
            antithetic: true,
            ..Default::default()
        },
    );
    assert_eq!(anti.paths, 200_000);
    assert!(
        anti.pv.stderr < 0.8 * a.pv.stderr,
        "antithetic SE {} vs plain {}",
        anti.pv.stderr,
        a.pv.stderr
    );
    let reference = bs(true, 100.0, 100.0, 0.03, 0.0, 0.2, 1.0);
    assert_within("antithetic call", anti.pv, reference, 4.0, 0.0);
    // An odd path count cannot be paired.
    let odd = Trade { paths: 1001, ..t };
    assert!(CpuEngine::new(None)
        .unwrap()
        .price(
            &[odd],
            &PricingRequest {
                antithetic: true,
                ..Default::default()
            }
        )
        .is_err());
}
