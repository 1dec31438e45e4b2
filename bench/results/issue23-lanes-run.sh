#!/bin/bash
# The dated pricer, one path at a time (before = 61c6d1b) against four
# paths side by side (after), alternated, 3 rounds; W8's trades as
# issue23-dated-run.sh, f64, 200,000 paths.
B=/tmp/before-target/release/riskpool
A=/work/main/target/release/riskpool
cd /tmp/bench
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    for w in asian-gbm asian-lv euro-gbm euro-lv; do
      rm -f out-$w.csv
      $R price --market w8-market.json --input w8-$w.jsonl --output out-$w.csv --precision f64 2>&1 | grep -o "priced .* in [0-9.]* s" | sed "s/^/$which rep$rep $w: /"
    done
  done
done
for which in before after; do
  R=$B; [ $which = after ] && R=$A
  rm -rf out-book.csv out-book.csv.*
  /usr/bin/time -f "$which, book on book-market: wall %e s, max RSS %M KiB" $R price --market book-market.json --input book.jsonl --output out-book.csv --precision f64 2>&1 | grep -E "priced|wall|error"
done
