#!/bin/bash
# Issue 24 (one-pass Greeks): W5 (heston_multi, 5 assets, American min
# put, delta/gamma/vega per asset and rho) and W2 (azfinsim deltavega) on
# the CPU engine with --greeks-method bump and pathwise, alternated, 3
# rounds; each line is `riskpool bench --json` (seconds, and each Greek's
# mean standard error).
R=${R:-/tmp/alt-target/release/riskpool}
SCALE=${SCALE:-0.25}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u)"
for rep in 1 2 3; do
  for m in bump pathwise; do
    $R bench --engine cpu --workloads W5,W2 --scale $SCALE --repeat 1 --json --greeks-method $m | sed "s/^/rep$rep: /"
  done
done
