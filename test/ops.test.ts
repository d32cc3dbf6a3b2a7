// Tier 1: every naive CPU op against hand-computed values. The fast variants against the naive
// loops, over the harness's grid of shapes: test/backend_ops.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addNaive } from '../src/ops/add.cpu.js';
import { batchNorm2dNaive } from '../src/ops/batch_norm2d.cpu.js';
import { catNaive } from '../src/ops/cat.cpu.js';
import { conv2dNaive } from '../src/ops/conv2d.cpu.js';
import { convOutputSize } from '../src/ops/conv2d.js';
import { headPermuteNaive } from '../src/ops/head_permute.cpu.js';
import { interpolateNearestNaive } from '../src/ops/interpolate_nearest.cpu.js';
import { nearestSourceIndex } from '../src/ops/interpolate_nearest.js';
import { leakyReluNaive } from '../src/ops/leaky_relu.cpu.js';
import { maxPool2dNaive } from '../src/ops/max_pool2d.cpu.js';
import { softmaxNaive } from '../src/ops/softmax.cpu.js';
import { leakyReluNaive as relu } from '../src/ops/leaky_relu.cpu.js';
import type { Tensor } from '../src/tensor.js';
import { assertClose, type Tolerance } from './helpers/compare.js';

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

test.run();
