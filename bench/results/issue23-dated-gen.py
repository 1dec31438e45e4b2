import json, datetime, math
vd = datetime.date(2026, 12, 4)
def d(days): return (vd + datetime.timedelta(days=days)).isoformat()
def surface(spot):
    expiries = [d(int(round(365 * (i + 1) / 10))) for i in range(20)]  # 0.1y .. 2y
    strikes = [round(spot * (0.6 + 0.06 * j), 4) for j in range(15)]  # 60% .. 144%
    vols = [[round(0.2 + 0.08 * (1 - strikes[j] / spot) * (1 / (1 + 0.5 * (i + 1) / 10)) + 0.005 * (i + 1) / 10, 6) for j in range(15)] for i in range(20)]
    return {"expiries": expiries, "strikes": strikes, "vols": vols}
curves = {"USD": {"dates": [d(365)], "zero_rates": [0.03]}}
m = {"valuation_date": vd.isoformat(), "curves": curves,
     "underlyings": {"U": {"spot": 100, "currency": "USD", "vol": surface(100)},
                     "G": {"spot": 100, "currency": "USD", "vol": {"flat": 0.2}}}}
json.dump(m, open("w8-market.json", "w"))
weekly = [d(7 * (i + 1)) for i in range(52)]
weekly[-1] = d(365)
def trade(id, u, payoff, fix):
    t = {"id": id, "underlying": u, "payoff": payoff, "expiry": d(365), "steps_per_year": 252, "paths": 200000}
    if fix: t["fixings"] = fix
    return json.dumps(t)
asian = {"type": "asian", "option": "call", "strike": 100, "average": "arithmetic"}
open("w8-asian-lv.jsonl", "w").write(trade("a", "U", asian, weekly) + "\n")
open("w8-asian-gbm.jsonl", "w").write(trade("a", "G", asian, weekly) + "\n")
open("w8-euro-lv.jsonl", "w").write(trade("e", "U", {"type": "european", "option": "call", "strike": 100}, None) + "\n")
open("w8-euro-gbm.jsonl", "w").write(trade("e", "G", asian, [d(365)]) + "\n")
# 100k trades on 50 underlyings sharing one market.
und = {f"U{i:02d}": {"spot": 50 + i, "currency": "USD", "vol": surface(50 + i)} for i in range(50)}
json.dump({"valuation_date": vd.isoformat(), "curves": curves, "underlyings": und}, open("book-market.json", "w"))
flat = {f"U{i:02d}": {"spot": 50 + i, "currency": "USD", "vol": {"flat": 0.2}} for i in range(50)}
json.dump({"valuation_date": vd.isoformat(), "curves": curves, "underlyings": flat}, open("book-market-flat.json", "w"))
with open("book.jsonl", "w") as f:
    for n in range(100000):
        i = n % 50
        e = 91 * (1 + n % 8)
        fix = [d(e * (j + 1) // 4) for j in range(4)]
        f.write(json.dumps({"id": f"t{n}", "underlying": f"U{i:02d}", "payoff": {"type": "asian", "option": "call", "strike": 50 + i, "average": "arithmetic"}, "expiry": d(e), "fixings": fix, "steps_per_year": 12, "paths": 64}) + "\n")
