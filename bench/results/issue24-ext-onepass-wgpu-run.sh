#!/bin/bash
# Issue 24 (one-pass Greeks for several assets and early exercise on the GPU
# engines): a book of 8 trades (gbm_multi and heston_multi on 3 assets:
# basket call, rainbow min put; one-asset American puts on gbm and heston;
# an American basket put and a Bermudan max call on gbm_multi), 64 steps,
# 4,000 paths, every Greek, priced by `riskpool price --engine wgpu`
# (lavapipe, f32) with --greeks-method bump and pathwise, alternated, 3
# rounds. Each line: method, engine seconds; then per Greek the mean over
# the trades of bump's standard error over one pass's (last round's files).
R=${R:-/tmp/alt-target/release/riskpool}
D=$(mktemp -d)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u); $($R --version 2>/dev/null)"
python3 - "$D/book.jsonl" <<'PY'
import json, sys
corr = [[1, 0.4, 0.4], [0.4, 1, 0.4], [0.4, 0.4, 1]]
gbm3 = {"type": "gbm_multi", "rate": 0.05, "correlation": corr,
        "assets": [{"spot": 100, "vol": 0.2}, {"spot": 105, "vol": 0.25, "dividend": 0.01}, {"spot": 110, "vol": 0.3, "dividend": 0.02}]}
hes3 = {"type": "heston_multi", "rate": 0.03, "correlation": corr,
        "assets": [{"spot": 100 - 4 * i, "dividend": 0.01, "v0": 0.04 + 0.01 * i, "kappa": 1.5, "theta": 0.05, "xi": 0.4, "rho": -0.6} for i in range(3)]}
basket = {"type": "basket", "option": "call", "strike": 100, "weights": [0.3, 0.3, 0.4]}
basket_put = dict(basket, option="put")
rainbow = {"type": "rainbow", "option": "put", "strike": 100, "kind": "min"}
rainbow_max = {"type": "rainbow", "option": "call", "strike": 100, "kind": "max"}
put = {"type": "european", "option": "put", "strike": 100}
gbm = {"type": "gbm", "spot": 100, "rate": 0.05, "vol": 0.2}
hes = {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.05, "xi": 0.5, "rho": -0.7}
am = {"style": "american"}
berm = {"style": "bermudan", "steps": [16, 32, 48, 64]}
trades = [
    (gbm3, basket, None), (gbm3, rainbow, None), (hes3, basket, None), (hes3, rainbow, None),
    (gbm, put, am), (hes, put, am), (gbm3, basket_put, am), (gbm3, rainbow_max, berm),
]
with open(sys.argv[1], "w") as f:
    for i, (m, p, e) in enumerate(trades):
        t = {"id": f"t{i}", "model": m, "payoff": p, "maturity": 1, "steps": 64, "paths": 4000}
        if e:
            t["exercise"] = e
        f.write(json.dumps(t) + "\n")
PY
for rep in 1 2 3; do
  for m in bump pathwise; do
    rm -f "$D/$m.jsonl"*
    $R price --engine wgpu --input "$D/book.jsonl" --output "$D/$m.jsonl" --greeks delta,gamma,vega,rho --greeks-method $m 2>"$D/err" || cat "$D/err"
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f'$m rep$rep: engine_seconds {s[\"engine_seconds\"]:.3f}')" "$D/$m.jsonl.summary.json"
  done
done
python3 - "$D/bump.jsonl" "$D/pathwise.jsonl" <<'PY'
import json, sys
b = [json.loads(l) for l in open(sys.argv[1])]
p = [json.loads(l) for l in open(sys.argv[2])]
# A several-asset row's Greeks are lists (per asset): each asset counts.
flat = lambda v: v if isinstance(v, list) else [v]
for g in ["delta", "gamma", "vega", "rho"]:
    r = [u / w for x, y in zip(b, p) for u, w in zip(flat(x[g + "_stderr"]), flat(y[g + "_stderr"])) if w]
    methods = sorted({m for y in p for m in flat(y[g + "_method"])})
    print(f"{g}: bump SE / one-pass SE, mean over {len(r)} trade-assets {sum(r)/len(r):.2f} (methods {', '.join(methods)})")
PY
rm -rf "$D"
