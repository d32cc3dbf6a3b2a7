// Tier 1: every CPU op against hand-computed values, and every fast CPU variant against the
// naive loop on seeded inputs over a grid of shapes (odd sizes, stride 2, 1 to 2048 channels).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addNaive } from '../src/ops/add.cpu.js';
import { batchNorm2dNaive, foldBatchNorm } from '../src/ops/batch_norm2d.cpu.js';
import { catNaive } from '../src/ops/cat.cpu.js';
import { conv2dNaive } from '../src/ops/conv2d.cpu.js';
import { convOutputSize } from '../src/ops/conv2d.js';
import { conv2dGemm, depthwiseConv3x3, packConvWeights } from '../src/ops/conv2d_fast.cpu.js';
import { headPermuteNaive } from '../src/ops/head_permute.cpu.js';
import { interpolateNearestNaive } from '../src/ops/interpolate_nearest.cpu.js';
import { nearestSourceIndex } from '../src/ops/interpolate_nearest.js';
import { leakyReluNaive } from '../src/ops/leaky_relu.cpu.js';
import { maxPool2dNaive } from '../src/ops/max_pool2d.cpu.js';
import { softmaxNaive } from '../src/ops/softmax.cpu.js';
import { leakyReluNaive as relu } from '../src/ops/leaky_relu.cpu.js';
import type { Tensor } from '../src/tensor.js';
import { assertClose, type Tolerance } from './helpers/compare.js';
import { randomTensor } from '../src/harness/random.js';

/**
 * Fast CPU variants against the naive loops: both accumulate in float64 and round once to
 * float32, so they differ by the float32 rounding of the folded weights (relative 6e-8 each)
 * summed in another order over up to 2048 x 9 terms of magnitude <= 1: far below 1e-5.
 */
const TWIN: Tolerance = { abs: 1e-5, rel: 1e-5 };
/** Hand-computed values are small integers or short decimals, exact in float32 up to one rounding. */
const EXACT: Tolerance = { abs: 1e-6, rel: 1e-6 };

const t = (shape: number[], values: number[]): Tensor => ({ shape, data: Float32Array.from(values) });
const noPad = { stride: 1, padding: 0, groups: 1 };

test('conv2d: 3x3 of ones over 1..9, padding 1, stride 1 and 2', () => {
  const x = t([1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = t([1, 1, 3, 3], Array(9).fill(1));
  assertClose('stride 1', conv2dNaive(x, w, null, { stride: 1, padding: 1, groups: 1 }),
    t([1, 3, 3], [12, 21, 16, 27, 45, 33, 24, 39, 28]), EXACT);
  assertClose('stride 2', conv2dNaive(x, w, t([1], [0.5]), { stride: 2, padding: 1, groups: 1 }),
    t([1, 2, 2], [12.5, 16.5, 24.5, 28.5]), EXACT);
});

test('conv2d: groups = channels (depthwise) keeps channels apart; 1x1 mixes them', () => {
  const x = t([2, 1, 2], [1, 2, 3, 4]);
  const dw = t([2, 1, 1, 1], [10, -1]);
  assertClose('depthwise', conv2dNaive(x, dw, null, { stride: 1, padding: 0, groups: 2 }), t([2, 1, 2], [10, 20, -3, -4]), EXACT);
  const pw = t([1, 2, 1, 1], [1, 2]);
  assertClose('pointwise', conv2dNaive(x, pw, t([1], [1]), noPad), t([1, 1, 2], [8, 11]), EXACT);
});

test('conv2d output sizes: stride-2 3x3 pad 1 and 7x7 pad 3 give ceil(n / 2), 3x3/2 pooling likewise', () => {
  for (const n of [1, 2, 3, 333, 517, 640, 1150, 2048]) {
    assert.is(convOutputSize(n, 3, 2, 1), Math.ceil(n / 2), `3x3/2 n=${n}`);
    assert.is(convOutputSize(n, 7, 2, 3), Math.ceil(n / 2), `7x7/2 n=${n}`);
    assert.is(convOutputSize(n, 1, 2, 0), Math.ceil(n / 2), `1x1/2 n=${n}`);
  }
});

test('batch norm, leaky relu, add, cat, softmax, head permute: hand-computed', () => {
  const x = t([2, 1, 2], [1, 3, -2, 0]);
  const bn = { weight: t([2], [2, 1]), bias: t([2], [1, 0]), running_mean: t([2], [1, -2]), running_var: t([2], [4 - 1e-5, 1 - 1e-5]) };
  assertClose('bn', batchNorm2dNaive(x, bn), t([2, 1, 2], [1, 3, 0, 2]), { abs: 1e-6, rel: 1e-6 });
  assertClose('leaky', leakyReluNaive(t([4], [-2, -0.5, 0, 3]), 0.1), t([4], [-0.2, -0.05, 0, 3]), EXACT);
  assertClose('relu', relu(t([3], [-2, 0, 3]), 0), t([3], [0, 0, 3]), EXACT);
  assertClose('add', addNaive(t([2], [1, 2]), t([2], [10, 20])), t([2], [11, 22]), EXACT);
  assertClose('cat', catNaive([t([1, 2], [1, 2]), t([2, 2], [3, 4, 5, 6])]), t([3, 2], [1, 2, 3, 4, 5, 6]), EXACT);
  assertClose('softmax', softmaxNaive(t([2, 2], [0, Math.log(3), 5, 5])), t([2, 2], [0.25, 0.75, 0.5, 0.5]), EXACT);
  // (A*k = 4, H = 1, W = 2) with k = 2: row (w * 2 + a) = [x[2a][0][w], x[2a + 1][0][w]].
  assertClose('head permute', headPermuteNaive(t([4, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8]), 2),
    t([4, 2], [1, 3, 5, 7, 2, 4, 6, 8]), EXACT);
});

test('nearest upsampling: identity, exact 2x, and non-integer ratios (FPN at odd sizes)', () => {
  const idx = (i: number, o: number) => Array.from({ length: o }, (_, d) => nearestSourceIndex(d, i, o));
  assert.equal(idx(3, 3), [0, 1, 2]);
  assert.equal(idx(2, 4), [0, 0, 1, 1]);
  assert.equal(idx(3, 5), [0, 0, 1, 1, 2]); // scale 0.6: floor(0, .6, 1.2, 1.8, 2.4)
  assert.equal(idx(11, 21).slice(-3), [9, 9, 10]); // 333 rows: stride-32 map 11 -> stride-16 map 21
  const x = t([1, 2, 2], [1, 2, 3, 4]);
  assertClose('2x2 -> 3x3', interpolateNearestNaive(x, 3, 3), t([1, 3, 3], [1, 1, 2, 1, 1, 2, 3, 3, 4]), EXACT);
});

test('max pool 3x3 stride 2 padding 1 at odd sizes (ResNet stem)', () => {
  const x = t([1, 3, 5], [1, 9, 2, 3, 4, 5, 6, 7, 8, 0, -1, -2, -3, -4, 10]);
  // output 2x3; windows rows [-1..1] and [1..3], cols [-1..1], [1..3], [3..5]
  assertClose('pool', maxPool2dNaive(x, 3, 2, 1), t([1, 2, 3], [9, 9, 8, 6, 8, 10]), EXACT);
  const neg = t([1, 1, 1], [-5]);
  assertClose('padding never wins', maxPool2dNaive(neg, 3, 2, 1), t([1, 1, 1], [-5]), EXACT);
});

// The twin grid: shapes of both architectures plus edge cases. [C_in, C_out, k, stride, H, W].
const DENSE: [number, number, number, number, number, number][] = [
  [3, 8, 3, 2, 33, 17], // mobile0.25 stem, odd size
  [3, 64, 7, 2, 35, 29], // resnet50 stem
  [64, 64, 3, 1, 20, 13], // FPN merge / SSH
  [256, 128, 3, 1, 7, 5], // resnet50 SSH conv3X3
  [128, 128, 3, 2, 9, 11], // Bottleneck conv2 with stride 2
  [8, 16, 1, 1, 5, 3], // conv_dw pointwise
  [2048, 256, 1, 1, 3, 5], // FPN output3 of resnet50: 2048 channels
  [256, 512, 1, 2, 9, 7], // Bottleneck downsample, stride 2
  [64, 20, 1, 1, 6, 7], // LandmarkHead
  [5, 7, 3, 1, 1, 1], // 1x1 image, channels not a multiple of 4
  [1, 1, 3, 2, 2, 3],
];

test('conv2dGemm (BN folded, bias and LeakyReLU fused) equals naive conv -> bn -> leaky', () => {
  DENSE.forEach(([cin, cout, k, stride, h, w], i) => {
    const seed = 100 + i;
    const x = randomTensor([cin, h, w], seed);
    const wt = randomTensor([cout, cin, k, k], seed + 1, -1 / Math.sqrt(cin * k * k), 1 / Math.sqrt(cin * k * k));
    const bn = {
      weight: randomTensor([cout], seed + 2, 0.5, 1.5), bias: randomTensor([cout], seed + 3),
      running_mean: randomTensor([cout], seed + 4, -0.5, 0.5), running_var: randomTensor([cout], seed + 5, 0.5, 1.5),
    };
    const attrs = { stride, padding: (k - 1) / 2, groups: 1 };
    for (const slope of [0.1, 0, null]) {
      let ref = batchNorm2dNaive(conv2dNaive(x, wt, null, attrs), bn);
      if (slope !== null) ref = leakyReluNaive(ref, slope);
      const f = foldBatchNorm(wt, null, bn);
      const got = conv2dGemm(x, packConvWeights(f.w, f.b, attrs), slope);
      assertClose(`gemm [${cin}->${cout} k${k} s${stride} ${h}x${w}] slope ${slope} seed ${seed}`, got, ref, TWIN);
    }
  });
});

test('depthwiseConv3x3 equals the naive grouped convolution (stride 1 and 2, 1x1 to odd sizes)', () => {
  const cases: [number, number, number, number][] = [[8, 1, 1, 1], [8, 2, 2, 2], [16, 1, 3, 5], [33, 2, 17, 33], [128, 2, 9, 8], [3, 1, 1, 7]];
  cases.forEach(([c, stride, h, w], i) => {
    const seed = 200 + i;
    const x = randomTensor([c, h, w], seed);
    const wt = randomTensor([c, 1, 3, 3], seed + 1);
    const b = randomTensor([c], seed + 2);
    const attrs = { stride, padding: 1, groups: c };
    const ref = leakyReluNaive(conv2dNaive(x, wt, b, attrs), 0.1);
    assertClose(`depthwise [${c} s${stride} ${h}x${w}] seed ${seed}`, depthwiseConv3x3(x, wt, b, stride, 0.1), ref, TWIN);
  });
});

test.run();
