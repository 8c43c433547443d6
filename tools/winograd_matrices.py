#!/usr/bin/env python3
"""The Winograd F(2, R) transform matrices of include/ctnn/backends/cpu/winograd.hpp, from the
Cook-Toom construction, checked exactly with rationals.

    y = AT [ (G g) * (BT d) ]   for   y_i = sum_k g_k d_(i+k),  i < 2,  k < R

R = 3 uses the points 0, 1, -1, inf; R = 5 uses 0, 1, -1, 2, -2, inf. For R = 3 the header keeps
Lavin and Gray's published matrices (the same transform up to the signs of the last point's row
and column); this script checks both. Run: python3 tools/winograd_matrices.py
"""
from fractions import Fraction as F
import random


def polymul(u, v):
    w = [F(0)] * (len(u) + len(v) - 1)
    for i, x in enumerate(u):
        for j, y in enumerate(v):
            w[i + j] += x * y
    return w


def cook_toom(m, r, points):
    a = m + r - 1
    fin = [F(p) for p in points]
    assert len(fin) == a - 1
    AT = [[p ** i for p in fin] + [F(1) if i == m - 1 else F(0)] for i in range(m)]
    G = []
    for p in fin:
        n = F(1)
        for q in fin:
            if q != p:
                n *= p - q
        G.append([p ** k / n for k in range(r)])
    G.append([F(1) if k == r - 1 else F(0) for k in range(r)])
    BT = []
    for p in fin:
        num = [F(1)]
        for q in fin:
            if q != p:
                num = polymul(num, [-q, F(1)])
        BT.append(num + [F(0)] * (a - len(num)))
    whole = [F(1)]
    for q in fin:
        whole = polymul(whole, [-q, F(1)])
    BT.append(whole + [F(0)] * (a - len(whole)))
    return AT, G, BT


def check(AT, G, BT, m, r, trials=200):
    a = m + r - 1
    rnd = random.Random(1)
    for _ in range(trials):
        g = [F(rnd.randint(-9, 9)) for _ in range(r)]
        d = [F(rnd.randint(-9, 9)) for _ in range(a)]
        gg = [sum(G[x][k] * g[k] for k in range(r)) for x in range(a)]
        bd = [sum(BT[x][j] * d[j] for j in range(a)) for x in range(a)]
        y = [sum(AT[i][x] * gg[x] * bd[x] for x in range(a)) for i in range(m)]
        if y != [sum(g[k] * d[i + k] for k in range(r)) for i in range(m)]:
            return False
    return True


def show(name, M):
    print(f"  {name} = {{" + ", ".join("{" + ", ".join(str(x) for x in row) + "}" for row in M) + "}")


if __name__ == "__main__":
    ok = True
    for r, pts in ((3, [0, 1, -1]), (5, [0, 1, -1, 2, -2])):
        AT, G, BT = cook_toom(2, r, pts)
        good = check(AT, G, BT, 2, r)
        ok &= good
        print(f"F(2, {r}): {'exact' if good else 'WRONG'}")
        show("AT", AT), show("G", G), show("BT", BT)
    # the header's R = 3 matrices (Lavin and Gray)
    lg = ([[1, 1, 1, 0], [0, 1, -1, -1]], [[1, 0, 0], [F(1, 2)] * 3, [F(1, 2), F(-1, 2), F(1, 2)], [0, 0, 1]],
          [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    good = check(*[[[F(x) for x in row] for row in M] for M in lg], 2, 3)
    ok &= good
    print(f"F(2, 3) as in the header (Lavin and Gray): {'exact' if good else 'WRONG'}")
    raise SystemExit(0 if ok else 1)
