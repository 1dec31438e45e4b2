"""Writes SciPy's Sobol direction numbers in Joe and Kuo's file format.

usage: python joe-kuo-from-scipy.py > new-joe-kuo-6.21201
(needs SciPy; see README.md beside this file)
"""
import os
import sys

import numpy as np
import scipy.stats

npz = os.path.join(os.path.dirname(scipy.stats.__file__), "_sobol_direction_numbers.npz")
z = np.load(npz)
poly, vinit = z["poly"], z["vinit"]
out = ["d s a m_i"]
for i in range(1, len(poly)):
    s = int(poly[i]).bit_length() - 1
    a = (int(poly[i]) >> 1) & ((1 << (s - 1)) - 1)
    m = [int(x) for x in vinit[i][:s]]
    assert all(x % 2 == 1 and x < (1 << (k + 1)) for k, x in enumerate(m)), i
    assert all(x == 0 for x in vinit[i][s:]), i
    out.append(f"{i + 1} {s} {a} " + " ".join(map(str, m)))
sys.stdout.write("\n".join(out) + "\n")
