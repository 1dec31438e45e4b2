#!/usr/bin/env python3
"""The CUDA engine's chip-limit estimate: how many path-steps per second a
GPU could issue at most, from instructions per path-step.

  chip_limit.py ptx FILE.ptx [--kernel NAME] [--steps-per-iteration N]
      Static: the PTX of the step loop of one kernel (the innermost loop
      holding the Philox rounds): its instructions in all, those before its
      first branch (Philox and the normal transform, run by every path-step
      group), and the Philox multiplies. PTX is not SASS, so this is a guide.

  chip_limit.py sass FILE.sass [--kernel NAME] [--steps-per-iteration N]
      Static, closer to the chip: the same loop in SASS, from
      `nvdisasm -c` of a cubin that ptxas made from riskpool's PTX (no GPU
      needed). Also counts its special-function (MUFU) instructions and
      Philox's 32x32->64 multiplies (the instructions holding its multipliers).

  chip_limit.py limit --sms N --clock-mhz F --inst-per-path-step X
      Issue bound: each SM sub-partition issues one warp instruction a
      cycle (4 per SM on Volta to Hopper), so the chip issues
      SMs x 4 x 32 thread-instructions a cycle; divided by the
      thread-instructions one path-step needs.

  chip_limit.py ncu --csv NCU.csv --path-steps P --sms N --clock-mhz F
      Dynamic: Nsight Compute's smsp__inst_executed.sum (warp
      instructions) summed over the kernels of one run of P path-steps.
"""
import argparse
import csv
import re
import sys


def loops(ptx_text, kernel):
    m = re.search(r"\.entry %s\((.*?)\n\}\n" % re.escape(kernel), ptx_text, re.S)
    if not m:
        sys.exit("chip_limit: no kernel %s in the PTX" % kernel)
    labels, code = {}, []
    for line in (l.strip() for l in m.group(0).split("\n")):
        if re.match(r"^\$L__BB\d+_\d+:$", line):
            labels[line[:-1]] = len(code)
        elif line and not line.startswith(("//", ".", "{", "}")):
            code.append(line)
    found = []
    for i, line in enumerate(code):
        b = re.search(r"\bbra(?:\.uni)?\s+(\$L__BB\d+_\d+);", line)
        if b and b.group(1) in labels and labels[b.group(1)] <= i:
            found.append((labels[b.group(1)], i))
    loops.labels = labels
    return code, found


def ptx(args):
    code, found = loops(open(args.file).read(), args.kernel)
    muls = lambda a, b: sum("mul.hi.u32" in l for l in code[a : b + 1])
    step = [(a, b) for a, b in found if muls(a, b) >= 20]
    if not step:
        sys.exit("chip_limit: no loop with Philox rounds in %s" % args.kernel)
    a, b = min(step, key=lambda ab: ab[1] - ab[0])
    # The spine: instructions no forward branch inside the loop jumps over,
    # so every iteration runs them whatever the trade's flags.
    labels = dict(loops.labels)
    guarded = set()
    for i in range(a, b):
        t = re.search(r"\bbra(?:\.uni)?\s+(\$L__BB\d+_\d+);", code[i])
        if t and i < labels.get(t.group(1), -1) <= b:
            guarded.update(range(i + 1, labels[t.group(1)]))
    spine = (b - a + 1) - len(guarded)
    body = b - a + 1
    print("kernel %s: %d PTX instructions" % (args.kernel, len(code)))
    print(
        "step loop: %d instructions in all, %d on its spine (never branched over),"
        " %d Philox mul.hi, %d steps an iteration" % (body, spine, muls(a, b), args.steps_per_iteration)
    )
    print(
        "PTX instructions per path-step: at most %.0f, at least %.0f"
        % (body / args.steps_per_iteration, spine / args.steps_per_iteration)
    )


SASS_LINE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
SASS_BRA = re.compile(r"\bBRA(?:\.\w+)*\s+`\((\.L_x_\d+)\)")


def sass(args):
    text = open(args.file).read()
    m = re.search(r"\.text\.%s:\n(.*?)(?=\n\s*\.section|\n\.text\.|\Z)" % re.escape(args.kernel), text, re.S)
    if not m:
        sys.exit("chip_limit: no kernel %s in the SASS" % args.kernel)
    labels, code = {}, []
    for line in m.group(1).split("\n"):
        lab = re.match(r"^(\.L_x_\d+):", line.strip())
        if lab:
            labels[lab.group(1)] = len(code)
            continue
        ins = SASS_LINE.match(line)
        if ins:
            code.append(ins.group(2))
    # Philox's multiplies: any instruction with one of its multipliers
    # (0xD2511F53, 0xCD9E8D57, as SASS writes them), whichever form ptxas
    # chose (IMAD.WIDE.U32, IMAD.HI.U32 with IMAD, or UIMAD for words that
    # are the same across the warp).
    philox = lambda a, b: sum(bool(re.search(r"0x2daee0ad|0x326172a9|0xd2511f53|0xcd9e8d57", c, re.I)) for c in code[a : b + 1])
    loops_found = []
    for i, c in enumerate(code):
        t = SASS_BRA.search(c)
        if t and t.group(1) in labels and labels[t.group(1)] <= i:
            loops_found.append((labels[t.group(1)], i))
    # Ten rounds of two multiplies; a few may be hoisted out of the loop.
    step = [(a, b) for a, b in loops_found if philox(a, b) >= 16]
    if not step:
        sys.exit("chip_limit: no loop with Philox multiplies in %s" % args.kernel)
    a, b = min(step, key=lambda ab: ab[1] - ab[0])
    guarded = set()
    for i in range(a, b):
        t = SASS_BRA.search(code[i])
        if t and code[i].startswith("@") and i < labels.get(t.group(1), -1) <= b:
            guarded.update(range(i + 1, labels[t.group(1)]))
    body = code[a : b + 1]
    spine = [c for i, c in enumerate(body, a) if i not in guarded]
    # What a path-step runs in the common case: the loop less the regions a
    # branch skips that call a slow path (a square root or division of a
    # subnormal or special input).
    # For each such call, the smallest skipped region around it.
    regions = []
    for i in range(a, b):
        t = SASS_BRA.search(code[i])
        if t and code[i].startswith("@") and i < labels.get(t.group(1), -1) <= b:
            regions.append(range(i + 1, labels[t.group(1)]))
    slow = set()
    for j in range(a, b + 1):
        if "CALL" in code[j] and "slowpath" in code[j]:
            around = [r for r in regions if j in r]
            if around:
                slow.update(min(around, key=len))
    typical = len(body) - len(slow)
    mufu = lambda cs: sum(c.lstrip("@!P0123456789 ").startswith("MUFU") for c in cs)
    n = args.steps_per_iteration
    print("kernel %s: %d SASS instructions" % (args.kernel, len(code)))
    print(
        "step loop: %d instructions in all, %d on its spine; %d Philox multiplies, %d MUFU (%d on the spine); %d steps an iteration"
        % (len(body), len(spine), philox(a, b), mufu(body), mufu(spine), n)
    )
    print(
        "SASS instructions per path-step: at most %.1f, at least %.1f; MUFU per path-step: %.1f to %.1f"
        % (len(body) / n, len(spine) / n, mufu(spine) / n, mufu(body) / n)
    )
    print(
        "SASS instructions per path-step, all but the slow paths (%d instructions): %.1f"
        % (len(slow), typical / n)
    )


def issue_limit(sms, clock_mhz, inst):
    return sms * 4 * 32 * clock_mhz * 1e6 / inst


def limit(args):
    print(
        "issue bound: %d SMs x 4 x 32 lanes x %.0f MHz / %.1f instructions = %.3e path-steps/s"
        % (args.sms, args.clock_mhz, args.inst_per_path_step, issue_limit(args.sms, args.clock_mhz, args.inst_per_path_step))
    )


def ncu(args):
    warp_inst = 0.0
    with open(args.csv) as f:
        rows = [l for l in f if l.startswith('"')]
    for row in csv.DictReader(rows):
        if row.get("Metric Name") == "smsp__inst_executed.sum":
            warp_inst += float(row["Metric Value"].replace(",", ""))
    if warp_inst == 0:
        sys.exit("chip_limit: no smsp__inst_executed.sum in %s" % args.csv)
    inst = warp_inst * 32 / args.path_steps
    print("measured: %.4e warp instructions for %.4e path-steps = %.1f thread-instructions a path-step" % (warp_inst, args.path_steps, inst))
    print("issue bound: %.3e path-steps/s" % issue_limit(args.sms, args.clock_mhz, inst))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ptx")
    a.add_argument("file")
    a.add_argument("--kernel", default="price_sv_fx_fx_warrant_f32")
    a.add_argument("--steps-per-iteration", type=int, default=2, help="4 / normals a step: 2 for sv_fx and heston, 4 for gbm")
    a.set_defaults(run=ptx)
    s_ = sub.add_parser("sass")
    s_.add_argument("file")
    s_.add_argument("--kernel", default="price_sv_fx_fx_warrant_f32")
    s_.add_argument("--steps-per-iteration", type=int, default=2)
    s_.set_defaults(run=sass)
    b = sub.add_parser("limit")
    b.add_argument("--sms", type=int, required=True)
    b.add_argument("--clock-mhz", type=float, required=True)
    b.add_argument("--inst-per-path-step", type=float, required=True)
    b.set_defaults(run=limit)
    c = sub.add_parser("ncu")
    c.add_argument("--csv", required=True)
    c.add_argument("--path-steps", type=float, required=True)
    c.add_argument("--sms", type=int, required=True)
    c.add_argument("--clock-mhz", type=float, required=True)
    c.set_defaults(run=ncu)
    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
