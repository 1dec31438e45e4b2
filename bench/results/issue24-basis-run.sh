#!/bin/bash
# Issue 24 (the basis): W6 before (quadratic basis, d579528) and after (one
# asset: 1, u..u^4, intrinsic: 571772d for the first run; the second run
# adds the QR's reductions in eight partial sums, the continuation value
# summed without writing the terms, no libc copy of a run-time length).
# Alternated, 3 rounds, one thread and two.
B=${B:-/tmp/exp-target/release/riskpool}
A=${A:-/tmp/alt-target/release/riskpool}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    for t in 1 2; do
      echo "$which rep$rep threads=$t: $($R bench --engine cpu --workloads W6 --repeat 2 --threads $t 2>&1 | grep '^W6')"
    done
  done
done
