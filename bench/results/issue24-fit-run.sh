#!/bin/bash
# Issue 24 (the fit, bit for bit): W6 before and after hoisting the
# discount factors out of the fit's path loop (one per date pair), reusing
# the in-the-money list, and applying each Householder vector in place
# (no copy of its column). Alternated, 3 rounds, one thread and two.
B=${B:-/tmp/alt-target/release/riskpool}
A=${A:-/tmp/exp-target/release/riskpool}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); after = $(cd /work/main && git rev-parse --short HEAD)+fit"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    for t in 1 2; do
      echo "$which rep$rep threads=$t: $($R bench --engine cpu --workloads W6 --repeat 2 --threads $t 2>&1 | grep '^W6')"
    done
  done
done
