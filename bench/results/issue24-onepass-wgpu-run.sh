#!/bin/bash
# Issue 24 (one-pass Greeks on the GPU engines): the book of 44 one-asset trades on gbm and
# heston (european, asian, lookback, continuous barrier, digital), 64 steps,
# 10,000 paths, every Greek, priced by `riskpool price --engine wgpu` (lavapipe) with
# --greeks-method bump and pathwise, alternated, 3 rounds, f32 (WGSL has no f64).
# Each line: method, precision, engine seconds, and the mean over the
# book's trades of each Greek's standard error relative to bump's (from the
# last round's files).
R=${R:-/tmp/alt-target/release/riskpool}
D=$(mktemp -d)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u); $($R --version 2>/dev/null)"
python3 - "$D/book.jsonl" <<'PY'
import json, sys
models = [
    {"type": "gbm", "spot": 100, "rate": 0.03, "dividend": 0.01, "vol": 0.25},
    {"type": "heston", "spot": 100, "rate": 0.03, "v0": 0.04, "kappa": 1.5, "theta": 0.05, "xi": 0.5, "rho": -0.7},
]
payoffs = [
    {"type": "european", "option": "call", "strike": 105},
    {"type": "european", "option": "put", "strike": 95},
    {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"},
    {"type": "lookback", "option": "call", "strike_type": "floating"},
    {"type": "barrier", "option": "call", "strike": 100, "barrier": 85, "direction": "down", "knock": "out", "monitoring": "continuous"},
    {"type": "digital", "option": "call", "strike": 100, "cash": 10},
]
with open(sys.argv[1], "w") as f:
    n = 0
    for rep in range(4):
        for m in models:
            for p in payoffs:
                if p["type"] == "digital" and m["type"] != "gbm":
                    continue
                f.write(json.dumps({"id": f"t{n}", "model": m, "payoff": p, "maturity": 1, "steps": 64, "paths": 10000}) + "\n")
                n += 1
PY
for prec in f32; do
  for rep in 1 2 3; do
    for m in bump pathwise; do
      rm -f "$D/$m-$prec.jsonl"*
      $R price --engine wgpu --input "$D/book.jsonl" --output "$D/$m-$prec.jsonl" --greeks delta,gamma,vega,rho --greeks-method $m --precision $prec 2>/dev/null
      python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f'$m $prec rep$rep: engine_seconds {s[\"engine_seconds\"]:.3f}')" "$D/$m-$prec.jsonl.summary.json"
    done
  done
  python3 - "$D/bump-$prec.jsonl" "$D/pathwise-$prec.jsonl" "$prec" <<'PY'
import json, sys
b = [json.loads(l) for l in open(sys.argv[1])]
p = [json.loads(l) for l in open(sys.argv[2])]
for g in ["delta", "gamma", "vega", "rho"]:
    r = [x[g + "_stderr"] / y[g + "_stderr"] for x, y in zip(b, p) if y[g + "_stderr"]]
    digital = [x[g + "_stderr"] / y[g + "_stderr"] for x, y, t in zip(b, p, p) if y[g + "_stderr"] and t[g + "_method"] == "likelihood_ratio"]
    print(f"{sys.argv[3]} {g}: bump SE / one-pass SE, mean over {len(r)} trades {sum(r)/len(r):.2f}" + (f"; digitals ({g} by likelihood ratio) {sum(digital)/len(digital):.1f}" if digital else ""))
PY
done
rm -rf "$D"
