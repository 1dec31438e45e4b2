#!/bin/bash
# Issue 24: W5L (heston_multi on 10 assets, 1,260 steps over 5 years, a
# Bermudan rainbow min put exercisable weekly, 100,000 paths, delta, gamma
# and vega per asset and rho) on the CPU engine, one pass (the default)
# and bumps, one round each; seconds and peak memory (GNU time's maximum
# resident set), and each Greek's mean standard error.
R=${R:-/tmp/alt-target/release/riskpool}
SCALE=${SCALE:-1}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u); $($R --version 2>/dev/null)"
for m in pathwise bump; do
  /usr/bin/time -f "$m: peak resident set %M KiB, wall %e s" $R bench --engine cpu --workloads W5L --scale "$SCALE" --repeat 1 --greeks-method $m --json
done 2>&1
