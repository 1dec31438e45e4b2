#!/bin/bash
# Issue 24 (a trade's scenario passes share the normals and the base path):
# W7 and W7S (W7 without its vol moves) at scale 0.2 (200 trades x 250
# scenarios), before (the same tree with the grouping switched off: every
# pass draws its normals and evolves its base) and after (a trade's passes
# run in groups of 8 on the CPU, each block's normals drawn and its base
# family evolved once for the group). The second W7 line of each is one
# run per scenario. Alternated, 3 rounds.
B=${B:-/tmp/exp-target/release/riskpool}
A=${A:-/tmp/alt-target/release/riskpool}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    $R bench --engine cpu --workloads W7,W7S --scale 0.2 --repeat 1 2>&1 | grep -E '^W[0-9]' | sed "s/^/$which rep$rep: /"
  done
done
