#!/bin/bash
# Issue 23, W8 on the GPU engines' WGSL: the dated kernel (dated.wgsl, f32)
# on Mesa's lavapipe (Vulkan on the CPU, both cores), local volatility on
# a 20 x 15 surface against a flat vol, beside the CPU engine's dated
# pricer (f64) on the same inputs; alternated, 3 rounds. Inputs from
# issue23-dated-gen.py (200,000 paths, 252 steps a year, one year; the
# Asian with 52 weekly fixings, the flat European as an Asian with one
# fixing at expiry so that both go through the dated kernels).
R=${R:-/tmp/alt-target/release/riskpool}
cd /tmp/bench
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); build = $(cd /work/main && git rev-parse --short HEAD)"
for rep in 1 2 3; do
  for engine in wgpu cpu; do
    for w in asian-gbm asian-lv euro-gbm euro-lv; do
      rm -f out-$w.csv out-$w.csv.*
      $R price --market w8-market.json --input w8-$w.jsonl --output out-$w.csv --engine $engine 2>&1 | grep -o "priced .* in [0-9.]* s" | sed "s/^/$engine rep$rep $w: /"
      [ $rep = 1 ] && cut -d, -f1-4 out-$w.csv | tail -1 | sed "s/^/  $engine $w: /"
    done
  done
done
