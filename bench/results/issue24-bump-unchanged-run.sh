#!/bin/bash
# Issue 24 (one-pass Greeks): the default, bumped path's speed before
# (c01269d, before one-pass Greeks) and after (cd05abe): W2 (azfinsim
# deltavega), W3 (gbm Asian) and W5 (heston_multi American, every Greek)
# on the CPU engine, alternated, 3 rounds.
B=${B:-/tmp/old-target/release/riskpool}
A=${A:-/tmp/alt-target/release/riskpool}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    $R bench --engine cpu --workloads W2,W3,W5 --scale 0.25 --repeat 1 2>&1 | grep -E '^W[0-9]' | sed "s/^/$which rep$rep: /"
  done
done
