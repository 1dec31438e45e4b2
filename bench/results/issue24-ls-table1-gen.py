# Longstaff and Schwartz (2001), Table 1, as a dated book: American puts
# (exercise at every grid date, 50 a year), K = 40, r = 6% flat, S 36..44,
# vol 20% and 40%, T 1 and 2 years, 100,000 paths; fd.json holds the
# paper's finite-difference values. Writes m.json, b.jsonl, fd.json here.
import json, datetime
vd = datetime.date(2026, 12, 4)
fd = {(36,.2,1):4.478,(36,.2,2):4.840,(36,.4,1):7.101,(36,.4,2):8.508,
      (38,.2,1):3.250,(38,.2,2):3.745,(38,.4,1):6.148,(38,.4,2):7.670,
      (40,.2,1):2.314,(40,.2,2):2.885,(40,.4,1):5.312,(40,.4,2):6.920,
      (42,.2,1):1.617,(42,.2,2):2.212,(42,.4,1):4.582,(42,.4,2):6.248,
      (44,.2,1):1.110,(44,.2,2):1.690,(44,.4,1):3.948,(44,.4,2):5.647}
und = {}; book = []
for (S, v, T), val in fd.items():
    name = f"S{S}V{int(v * 100)}"
    und[name] = {"spot": S, "currency": "USD", "vol": {"flat": v}}
    exp = (vd + datetime.timedelta(days=365 * T)).isoformat()
    book.append({"id": f"{S}-{v}-{T}", "underlying": name,
                 "payoff": {"type": "european", "option": "put", "strike": 40},
                 "expiry": exp, "exercise": {"style": "american"},
                 "steps_per_year": 50, "paths": 100000})
m = {"valuation_date": vd.isoformat(),
     "curves": {"USD": {"dates": [(vd + datetime.timedelta(days=3650)).isoformat()], "zero_rates": [0.06]}},
     "underlyings": und}
json.dump(m, open("m.json", "w"))
open("b.jsonl", "w").write("\n".join(json.dumps(b) for b in book) + "\n")
json.dump({f"{S}-{v}-{T}": val for (S, v, T), val in fd.items()}, open("fd.json", "w"))
