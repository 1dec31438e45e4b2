#!/bin/bash
# Issue 24 (W7 with vol moves): W7 and W7S at scale 0.2 (200 trades x 250
# scenarios) on the CPU engine, before (9a33c30: a pass's outputs summed
# path by path, every sv_fx family stepping its own vol factor) and after
# (the outputs summed across the lanes first; sv_fx families whose vol
# factor is the base's step on it). The second line of each workload is
# one run per scenario. Alternated, 3 rounds.
B=${B:-/tmp/riskpool-before}
A=${A:-/tmp/riskpool-after}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    $R bench --engine cpu --workloads W7,W7S --scale 0.2 --repeat 1 2>&1 | grep -E '^W[0-9]' | sed "s/^/$which rep$rep: /"
  done
done
