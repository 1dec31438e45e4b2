#!/bin/bash
# Issue 23: the several-underlying / early-exercise dated kernel
# (dated_multi.wgsl, f32) on lavapipe against the CPU engine's dated
# pricer, every Greek, 2,000 paths; alternated, 2 rounds. Inputs: a
# 5-underlying American rainbow min put (52 steps a year, correlation
# 0.3) and a one-underlying American put (252 steps a year), one year.
R=${R:-/tmp/alt-target/release/riskpool}
cd /tmp/multi-bench
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); build = $(cd /work/main && git rev-parse --short HEAD)"
for rep in 1 2; do
  for engine in wgpu cpu; do
    for w in am5 am1; do
      rm -f out-$w.csv out-$w.csv.*
      $R price --market m.json --input $w.jsonl --output out-$w.csv --engine $engine --greeks delta,gamma,vega,rho 2>&1 | grep -o "priced .* in [0-9.]* s" | sed "s/^/$engine rep$rep $w: /"
      [ $rep = 1 ] && cut -d, -f1-3 out-$w.csv | tail -1 | sed "s/^/  $engine $w: /"
    done
  done
done
