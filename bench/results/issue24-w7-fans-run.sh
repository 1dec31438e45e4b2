#!/bin/bash
# Issue 24 (scenario fans): W7 and W7S at scale 0.2 (200 trades x 250
# scenarios) on the CPU engine, before (11231e7, the tree before fans: a
# trade's scenarios in passes of five, grouped eight passes at a time) and
# after (the scenarios that move only spots and rates in one fan a trade
# on one base path; vol moves still in passes). The second line of each
# workload is one run per scenario. Alternated, 3 rounds.
B=${B:-/tmp/before-target/release/riskpool}
A=${A:-/tmp/after-riskpool}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); $(date -u)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    $R bench --engine cpu --workloads W7,W7S --scale 0.2 --repeat 1 2>&1 | grep -E '^W[0-9]' | sed "s/^/$which rep$rep: /"
  done
done
