"""Rounding error of Winograd F(2x2, 3x3) and F(4x4, 3x3) for several interpolation points (docs/profile.md).

    /usr/bin/python3 bench/winograd_points.py [C_IN]
    /usr/bin/python3 bench/winograd_points.py --runs

--runs: the products' sums as cpu-simd's gemm forms them (one float32 multiply-add at a time, in
order over C_in) against gemmBlocked's (runs of 32 from zero, the runs' sums added in turn), for
F(2x2) and cpu-simd's F(4x4) points at C_in 64, 256 and 512, in both builds' rounding.

Builds each transform by Toom-Cook from its points (plus infinity) in exact fractions, checks the
1-D identity, then runs one layer the way cpu-simd does: weights transformed in float64 and rounded
once (prepare), the input and output transforms and the products in float32, against the same
layer in float64. Inputs are post-ReLU-like (|N(0, 2)| clipped at 0), weights He-scaled; C_in
input channels (default 256, ResNet-50's FPN), 16 output channels, 64 tiles; the worst of two seeds.
"""
import sys
from fractions import Fraction as F

import numpy as np


def toom_cook(points, m, r=3):
    """A^T (m x n), G (n x r), B^T (n x n) with y = A^T ((G g) * (B^T d)), n = m + r - 1."""
    n = m + r - 1
    assert len(points) == n - 1

    def polymul(a, b):
        out = [F(0)] * (len(a) + len(b) - 1)
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                out[i + j] += x * y
        return out

    at = [[p ** k for p in points] + [F(1) if k == m - 1 else F(0)] for k in range(m)]
    scale = [np.prod([points[i] - points[j] for j in range(n - 1) if j != i]) for i in range(n - 1)]
    g = [[points[i] ** k / scale[i] for k in range(r)] for i in range(n - 1)] + [[F(1) if k == r - 1 else F(0) for k in range(r)]]
    bt = []
    for i in range(n - 1):
        poly = [F(1)]
        for j in range(n - 1):
            if j != i:
                poly = polymul(poly, [-points[j], F(1)])
        bt.append(poly + [F(0)] * (n - len(poly)))
    poly = [F(1)]
    for j in range(n - 1):
        poly = polymul(poly, [-points[j], F(1)])
    bt.append(poly)
    return (np.array(at, dtype=object).astype(np.float64), np.array(g, dtype=object).astype(np.float64),
            np.array(bt, dtype=object).astype(np.float64))


def identity_error(at, g, bt, m, r=3):
    rng = np.random.default_rng(0)
    w, d = rng.standard_normal(r), rng.standard_normal(m + r - 1)
    y = at @ ((g @ w) * (bt @ d))
    ref = np.array([sum(d[i + k] * w[k] for k in range(r)) for i in range(m)])
    return np.max(np.abs(y - ref))


def layer(at, g, bt, m, cin, seed, cout=16, tiles=64):
    """One layer's transformed weights U and input V in float32 (the weights from float64, as cpu-simd's prepare) and its float64 output."""
    n = m + 2
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((cin, tiles, n, n)) * 2.0, 0)
    w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
    u64 = np.einsum('ak,oikl,bl->oiab', g, w, g)
    y64 = np.einsum('ka,otab,lb->otkl', at, np.einsum('oiab,itab->otab', u64, np.einsum('ak,itkl,bl->itab', bt, x, bt)), at)
    f = np.float32
    bt32 = bt.astype(f)
    v = np.einsum('ital,bl->itab', np.einsum('ak,itkl->ital', bt32, x.astype(f)).astype(f), bt32).astype(f)
    return u64.astype(f), v, y64


def output_error(at, mm, y64):
    """The output transform of M in float32, against float64: max |error|, max |y|."""
    f = np.float32
    at32 = at.astype(f)
    y = np.einsum('otkb,lb->otkl', np.einsum('ka,otab->otkb', at32, mm).astype(f), at32).astype(f)
    return np.abs(y - y64).max(), np.abs(y64).max()


def layer_error(at, g, bt, m, cin, seed):
    u, v, y64 = layer(at, g, bt, m, cin, seed)
    return output_error(at, np.einsum('oiab,itab->otab', u, v).astype(np.float32), y64)

SETS = [
    ('F(2x2) 0, 1, -1', 2, [F(0), F(1), F(-1)]),
    ('F(4x4) 0, 1, -1, 2, -2 (Lavin)', 4, [F(0), F(1), F(-1), F(2), F(-2)]),
    ('F(4x4) 0, 1, -1, 1/2, -1/2', 4, [F(0), F(1), F(-1), F(1, 2), F(-1, 2)]),
    ('F(4x4) 0, 1, -1, 1/2, -2', 4, [F(0), F(1), F(-1), F(1, 2), F(-2)]),
    ('F(4x4) 0, 1, -1, 2, -1/2', 4, [F(0), F(1), F(-1), F(2), F(-1, 2)]),
    ('F(4x4) 0, 1, -1, 3/2, -1/2', 4, [F(0), F(1), F(-1), F(3, 2), F(-1, 2)]),
]

def sequential_error(at, g, bt, m, cin, seed, run, fused=True):
    """layer_error with M summed one float32 multiply-add at a time, by runs of `run` products: fused
    (relaxed_madd: the product exact in float64, one rounding) or not (mul + add: the product rounded too)."""
    u, v, y64 = layer(at, g, bt, m, cin, seed)
    f, d = np.float32, np.float64
    total = None
    for k0 in range(0, cin, run):
        acc = np.zeros((u.shape[0],) + v.shape[1:], f)
        for ic in range(k0, min(cin, k0 + run)):
            product = u[:, ic, None].astype(d) * v[None, ic].astype(d)
            acc = (acc.astype(d) + (product if fused else product.astype(f).astype(d))).astype(f)
        total = acc if total is None else (total + acc).astype(f)
    return output_error(at, total, y64)[0]


def runs_table():
    print('max |error| of one layer against float64 (worst of 2 seeds), products summed straight / by runs of 32')
    for fused, build in ((True, 'relaxed_madd build'), (False, 'mul + add build')):
        for name, m, pts in [SETS[0], SETS[3]]:
            at, g, bt = toom_cook(pts, m)
            for cin in (64, 256, 512):
                straight = max(sequential_error(at, g, bt, m, cin, s, cin, fused) for s in (7, 8))
                runs = max(sequential_error(at, g, bt, m, cin, s, 32, fused) for s in (7, 8))
                print(f'  {build:18s} {name:26s} C_in {cin:3d}  straight {straight:.2e}  runs of 32 {runs:.2e}')


if __name__ == '__main__':
    if sys.argv[1:] == ['--runs']:
        runs_table()
        sys.exit(0)
    cin = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    print(f'C_in {cin}: max |error| of one layer against float64 (worst of 2 seeds), max |output|')
    for name, m, pts in SETS:
        at, g, bt = toom_cook(pts, m)
        errs = [layer_error(at, g, bt, m, cin, seed) for seed in (7, 8)]
        print(f'  {name:34s} identity {identity_error(at, g, bt, m):.0e}  error {max(e for e, _ in errs):.2e}  |y| <= {max(y for _, y in errs):.1f}')
