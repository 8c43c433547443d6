#!/usr/bin/env python3
"""The Winograd transform matrices of include/ctnn/backends/cpu/winograd.hpp (F(2, R)) and
winograd4.hpp (F(4, R)), from the Cook-Toom construction, checked exactly with rationals.

    y = AT [ (G g) * (BT d) ]   for   y_i = sum_k g_k d_(i+k),  i < m,  k < R

F(2, 3) uses the points 0, 1, -1, inf; F(2, 5) 0, 1, -1, -2, 1/2, inf; F(4, 3) 0, +-3/2, +-2/3, inf;
F(4, 5) 0, +-1, +-2, +-1/2, inf. For F(2, 3) the header keeps Lavin and Gray's published
matrices (the same transform up to the signs of the last point's row and column); this script
checks both. Run: python3 tools/winograd_matrices.py

With --fp32 (needs numpy: /usr/bin/python3 with python3-torch) it also measures, in fp32 against
float64, the error of 16 channels' 2D output tiles summed over 32 input channels (the forward and dX) and of a
dW summed over a sample's 49 tiles, relative to the result's largest magnitude, for these points
and for the points the headers would take first (F(2, 5) and F(4, 3) on 0, +-1, +-2: 2x and 3.5x
less accurate).
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


POINTS = {(2, 3): [0, 1, -1], (2, 5): [0, 1, -1, -2, F(1, 2)], (4, 3): [0, F(3, 2), F(-3, 2), F(2, 3), F(-2, 3)],
          (4, 5): [0, 1, -1, 2, -2, F(1, 2), F(-1, 2)]}


def fp32_errors(m, r, points, trials=20, channels=32, tiles=49):
    import numpy as np
    AT, G, BT = [np.array([[float(x) for x in row] for row in M]) for M in cook_toom(m, r, points)]
    a = m + r - 1
    at, g32, bt = AT.astype(np.float32), G.astype(np.float32), BT.astype(np.float32)
    rng = np.random.default_rng(1)
    fwd = dw = 0.0
    for _ in range(trials):
        d = rng.uniform(-1, 1, (channels, a, a)).astype(np.float32)
        w = rng.uniform(-1, 1, (16, channels, r, r)).astype(np.float32)  # 16 output channels
        exact = np.array([[np.einsum("ockl,ckl->o", w.astype(np.float64), d[:, i:i + r, j:j + r]) for j in range(m)]
                          for i in range(m)])
        u = np.einsum("xk,ockl,yl->ocxy", g32, w, g32).astype(np.float32)
        v = np.einsum("xk,ckl,yl->cxy", bt, d, bt).astype(np.float32)
        y = np.einsum("ix,oxy,jy->ijo", at, np.sum(u * v, axis=1, dtype=np.float32), at).astype(np.float32)
        fwd = max(fwd, np.abs(y - exact).max() / np.abs(exact).max())
        if m == 2:  # dW = G^T [ sum_t (A dy_t A^T) .* (BT x_t B) ] G over the tiles, summed in order
            x = rng.uniform(-1, 1, (tiles, a, a)).astype(np.float32)
            dy = rng.uniform(-1, 1, (tiles, 2, 2)).astype(np.float32)
            exact = np.array([[np.sum(x[:, i:i + 2, j:j + 2].astype(np.float64) * dy) for j in range(r)] for i in range(r)])
            acc = np.zeros((a, a), np.float32)
            for t in range(tiles):
                acc += (bt @ x[t] @ bt.T) * (at.T @ dy[t] @ at)
            got = (g32.T @ acc @ g32).astype(np.float32)
            dw = max(dw, np.abs(got - exact).max() / np.abs(exact).max())
    return fwd, dw


if __name__ == "__main__":
    import sys
    ok = True
    for (m, r), pts in POINTS.items():
        AT, G, BT = cook_toom(m, r, pts)
        good = check(AT, G, BT, m, r)
        ok &= good
        print(f"F({m}, {r}) on {', '.join(str(p) for p in pts)}, inf: {'exact' if good else 'WRONG'}")
        show("AT", AT), show("G", G), show("BT", BT)
    # the header's F(2, 3) matrices (Lavin and Gray)
    lg = ([[1, 1, 1, 0], [0, 1, -1, -1]], [[1, 0, 0], [F(1, 2)] * 3, [F(1, 2), F(-1, 2), F(1, 2)], [0, 0, 1]],
          [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    good = check(*[[[F(x) for x in row] for row in M] for M in lg], 2, 3)
    ok &= good
    print(f"F(2, 3) as in the header (Lavin and Gray): {'exact' if good else 'WRONG'}")
    if "--fp32" in sys.argv:
        cases = list(POINTS.items()) + [((2, 5), [0, 1, -1, 2, -2]), ((4, 3), [0, 1, -1, 2, -2])]
        for (m, r), pts in cases:
            fwd, dw = fp32_errors(m, r, pts)
            extra = f", dW (49 tiles) {dw:.1e}" if m == 2 else ""
            print(f"fp32 F({m}, {r}) on {', '.join(str(p) for p in pts)}: forward (32 channels) {fwd:.1e}{extra}")
    raise SystemExit(0 if ok else 1)
