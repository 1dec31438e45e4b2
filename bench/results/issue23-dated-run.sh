#!/bin/bash
# Issue 23 on the 2-core build machine. before = f5719ff (the dated pricer
# as first landed: the local-variance grid read per path, two rows and a
# square root a step), after = HEAD (one row of vol x sqrt(dt) per step,
# interpolated once per trade). Alternated: before, after, 3 rounds.
# W8: an Asian (weekly fixings, 252 steps a year, 1 year) and a European
# (for the flat twin, an Asian with one fixing at expiry, so both go
# through the dated pricer) under local volatility on a 20 x 15 surface
# against a flat vol, f64, 200,000 paths. W1-W4: the inline CPU engine,
# untouched by the dated pricer (Trade has one more field).
B=/tmp/before-target/release/riskpool
A=/work/main/target/release/riskpool
cd /tmp/bench
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); after = $(cd /work/main && git rev-parse --short HEAD)"
for rep in 1 2 3; do
  for which in before after; do
    R=$B; [ $which = after ] && R=$A
    for w in asian-gbm asian-lv euro-gbm euro-lv; do
      rm -f out-$w.csv
      $R price --market w8-market.json --input w8-$w.jsonl --output out-$w.csv --precision f64 2>&1 | grep -o "priced .* in [0-9.]* s" | sed "s/^/$which rep$rep $w: /"
    done
  done
done
for which in before after before after; do
  R=$B; [ $which = after ] && R=$A
  echo "$which W1-W4:"; $R bench --engine cpu --threads 1 --scale 0.5 --repeat 2 2>&1 | grep -E "^W[1-4]|path-steps"
done
for b in book-p2 book; do
  for m in book-market-flat book-market; do
    rm -rf out-book.csv out-book.csv.*
    /usr/bin/time -f "after, $b on $m: wall %e s, max RSS %M KiB" $A price --market $m.json --input $b.jsonl --output out-book.csv --precision f64 2>&1 | grep -E "priced|wall|error"
  done
done
