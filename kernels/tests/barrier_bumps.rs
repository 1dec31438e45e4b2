//! A Greek's spot bump that starts at or through a continuously monitored
//! barrier has knocked (the bridge's crossing weight would exceed 1 and
//! make the survival negative): delta and gamma equal the differences of
//! the prices of the bumped trades, each priced on its own, with the
//! knocked side worth its rebate (knock-out) or its European (knock-in).

use riskpool_kernels::greeks::{Greek, GreekSet};
use riskpool_kernels::model::{Gbm, ModelSpec};
use riskpool_kernels::payoff::{European, PayoffSpec};
use riskpool_kernels::{Precision, PricingRequest};

use crate::common::{near_barrier_trades, price_one};

#[test]
fn a_greeks_bump_through_a_continuous_barrier_is_knocked() {
    let req = PricingRequest {
        greeks: GreekSet(vec![Greek::Delta, Greek::Gamma]),
        precision: Precision::F64,
        ..Default::default()
    };
    let plain = PricingRequest {
        precision: Precision::F64,
        ..Default::default()
    };
    for t in near_barrier_trades(20_000) {
        let r = price_one(&t, &req);
        let with_spot = |s: f64, payoff: Option<PayoffSpec>| {
            let mut u = t.clone();
            let ModelSpec::Gbm(g) = &t.model else {
                unreachable!()
            };
            u.model = ModelSpec::Gbm(Gbm {
                spot: s,
                ..g.clone()
            });
            if let Some(p) = payoff {
                u.payoff = p;
            }
            price_one(&u, &plain).pv.value
        };
        let df = (-0.03f64 * 0.5).exp();
        // The side the bump crosses, knocked at the start.
        let (up, down) = match t.id.as_str() {
            "near-up-out" => (2.0 * df, with_spot(99.0, None)),
            "near-down-in" => (
                with_spot(101.0, None),
                with_spot(
                    99.0,
                    Some(PayoffSpec::European(European {
                        option: riskpool_kernels::payoff::OptionType::Put,
                        strike: 100.0,
                    })),
                ),
            ),
            _ => (with_spot(101.0, None), 1.5 * df),
        };
        let h = 1.0;
        let delta = (up - down) / (2.0 * h);
        let gamma = (up - 2.0 * r.pv.value + down) / (h * h);
        let got_d = r.greek(Greek::Delta).unwrap().value;
        let got_g = r.greek(Greek::Gamma).unwrap().value;
        assert!(
            (got_d - delta).abs() <= 1e-9 * (1.0 + delta.abs()),
            "{}: delta {got_d} against {delta} from the bumped trades",
            t.id
        );
        assert!(
            (got_g - gamma).abs() <= 1e-9 * (1.0 + gamma.abs()),
            "{}: gamma {got_g} against {gamma} from the bumped trades",
            t.id
        );
    }
}

/// After a knock, a path whose Heston variance truncates to zero for a
/// step and that comes back across the barrier has a bridge exponent of
/// +inf: the crossing weight is 1 (ends on both sides cross surely), not
/// `exp(inf)`, whose `0 x (1 - inf)` made the price NaN in f64. Single
/// and double barriers, knock-in and knock-out, with the Feller condition
/// broken so the variance hits zero often.
#[test]
fn a_knocked_path_over_a_step_of_no_variance_keeps_its_price_finite() {
    use crate::common::trade;
    use riskpool_kernels::model::Heston;
    use riskpool_kernels::payoff::{
        Barrier, Direction, DoubleBarrier, Knock, Monitoring, OptionType,
    };
    let heston = ModelSpec::Heston(Heston {
        spot: 50.0,
        rate: 0.03,
        dividend: 0.0,
        v0: 0.0625,
        kappa: 1.5,
        theta: 0.07,
        xi: 0.9,
        rho: -0.7,
    });
    let single = |knock| {
        PayoffSpec::Barrier(Barrier {
            option: OptionType::Put,
            strike: 50.0,
            barrier: 46.0,
            direction: Direction::Down,
            knock,
            monitoring: Monitoring::Continuous,
            rebate: 1.0,
        })
    };
    let double = PayoffSpec::DoubleBarrier(DoubleBarrier {
        option: OptionType::Call,
        strike: 50.0,
        lower: 45.0,
        upper: 56.0,
        monitoring: Monitoring::Continuous,
        rebate: 1.0,
    });
    for precision in [Precision::F64, Precision::F32] {
        let req = PricingRequest {
            precision,
            ..Default::default()
        };
        for (id, p) in [
            ("in", single(Knock::In)),
            ("out", single(Knock::Out)),
            ("double", double.clone()),
        ] {
            let t = trade(id, heston.clone(), p, 1.0, 100, 20_000);
            let r = price_one(&t, &req);
            assert!(
                r.pv.value.is_finite() && r.pv.stderr.is_finite(),
                "{id} {precision:?}: {r:?}"
            );
        }
    }
}
