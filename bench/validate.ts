// Every benchmark case is checked against the naive CPU loops before it is timed. For a
// convolution the naive reference runs on a subset of output channels (all spatial positions,
// borders included): an output channel depends only on its own weights (and, depthwise, on its
// own input channel), so the subset's result is exactly those channels of the full naive result,
// at a cost the 4096x2300 shapes can afford.
import { batchNorm2dNaive } from '../src/ops/batch_norm2d.cpu.js';
import { conv2dNaive } from '../src/ops/conv2d.cpu.js';
import { leakyReluNaive } from '../src/ops/leaky_relu.cpu.js';
import { formatShape, shapeEquals, tensor, type Tensor } from '../src/tensor.js';
import type { BatchNorm2d, Conv2d } from '../src/model/modules.js';
import type { Slope } from '../src/ops/activation.js';

export interface Tolerance {
  abs: number;
  rel: number;
}

export interface Check {
  ok: boolean;
  /** How much of the output was compared, e.g. 'channels 0, 21, 42, 63 of 64'. */
  compared: string;
  maxAbsError: number;
  /** On failure: the name, the index, both values and the error. */
  message?: string;
}

/** Compares a[i] with e[i] for |a - e| <= abs + rel |e|; `at(i)` names an index for the message. */
export function compareValues(
  name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance,
  at: (i: number) => string = (i) => `[${i}]`, compared = 'all values',
): Check {
  if (actual.length !== expected.length) {
    return { ok: false, compared, maxAbsError: Infinity, message: `${name}: ${actual.length} values, expected ${expected.length}` };
  }
  let maxAbs = 0, worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    const d = Math.abs(a - e);
    const excess = Number.isNaN(d) ? Infinity : d - tol.abs - tol.rel * Math.abs(e);
    if (Number.isNaN(d) || d > maxAbs) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (excess > 0 && (worst < 0 || excess > worstExcess)) { worst = i; worstExcess = excess; }
  }
  if (worst < 0) return { ok: true, compared, maxAbsError: maxAbs };
  const a = actual[worst]!, e = expected[worst]!;
  return {
    ok: false, compared, maxAbsError: maxAbs,
    message: `${name}: out of tolerance (abs ${tol.abs}, rel ${tol.rel}) at ${at(worst)}: got ${a}, expected ${e}, error ${Math.abs(a - e)}`,
  };
}

export function compareTensors(name: string, actual: Tensor, expected: Tensor, tol: Tolerance): Check {
  if (!shapeEquals(actual.shape, expected.shape)) {
    return { ok: false, compared: 'shape', maxAbsError: Infinity, message: `${name}: shape ${formatShape(actual.shape)}, expected ${formatShape(expected.shape)}` };
  }
  return compareValues(name, actual.data, expected.data, tol, (i) => `index ${i} ${formatShape(unravel(i, expected.shape))}`);
}

export function unravel(index: number, shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]!);
    index = Math.floor(index / shape[d]!);
  }
  return out;
}

/** About n channel indices spread over [0, c), never fewer than the first and the last. */
export function spreadChannels(c: number, n: number): number[] {
  const k = Math.max(Math.min(c, 2), Math.min(c, Math.floor(n)));
  if (k === 1) return [0];
  return [...new Set(Array.from({ length: k }, (_, i) => Math.round((i * (c - 1)) / (k - 1))))];
}

function pick(t: { data: Float32Array }, rows: readonly number[], rowSize: number, shape: number[]): Tensor {
  const out = tensor(shape);
  rows.forEach((r, j) => out.data.set(t.data.subarray(r * rowSize, (r + 1) * rowSize), j * rowSize));
  return out;
}

export interface ConvUnit {
  conv: Conv2d;
  bn: BatchNorm2d | null;
  slope: Slope;
}

/** The naive result on a spread of output channels: computed once per case, compared on every backend. */
export interface ConvReference {
  chans: number[];
  cOut: number;
  ref: Tensor;
}

/**
 * The naive loops' conv + BN + activation of x on as many output channels as `budgetMacs` pays
 * for. Dense (groups 1) and depthwise (groups = C_in = C_out) convolutions, the two the network has.
 */
export function convReference(name: string, x: Tensor, unit: ConvUnit, budgetMacs: number): ConvReference {
  const { conv, bn, slope } = unit;
  const size = (n: number) => Math.floor((n + 2 * conv.padding - conv.kernel_size) / conv.stride) + 1;
  const perChannel = size(x.shape[1]!) * size(x.shape[2]!) * (conv.in_channels / conv.groups) * conv.kernel_size * conv.kernel_size;
  const chans = spreadChannels(conv.out_channels, budgetMacs / perChannel);
  const depthwise = conv.groups > 1;
  if (depthwise && !(conv.groups === conv.in_channels && conv.groups === conv.out_channels)) {
    throw new Error(`${name}: grouped convolution with groups ${conv.groups} is neither dense nor depthwise`);
  }
  const n = chans.length;
  const w = pick(conv.weight, chans, conv.weight.data.length / conv.out_channels, [n, ...conv.weight.shape.slice(1)]);
  const b = conv.bias === null ? null : pick(conv.bias, chans, 1, [n]);
  const xs = depthwise ? pick(x, chans, x.shape[1]! * x.shape[2]!, [n, x.shape[1]!, x.shape[2]!]) : x;
  let ref = conv2dNaive(xs, w, b, { stride: conv.stride, padding: conv.padding, groups: depthwise ? n : 1 });
  if (bn !== null) {
    ref = batchNorm2dNaive(ref, {
      weight: pick(bn.weight, chans, 1, [n]), bias: pick(bn.bias, chans, 1, [n]),
      running_mean: pick(bn.running_mean, chans, 1, [n]), running_var: pick(bn.running_var, chans, 1, [n]),
    });
  }
  if (slope !== null) ref = leakyReluNaive(ref, slope);
  return { chans, cOut: conv.out_channels, ref };
}

/** Compares a backend's full output with the reference's channels; the message names (oc, oh, ow). */
export function compareConv(name: string, actual: Tensor, reference: ConvReference, tol: Tolerance): Check {
  const { chans, cOut: expectedC, ref } = reference;
  const [cOut, hOut, wOut] = actual.shape as [number, number, number];
  if (cOut !== expectedC) {
    return { ok: false, compared: 'shape', maxAbsError: Infinity, message: `${name}: ${cOut} output channels, expected ${expectedC}` };
  }
  if (ref.shape[1] !== hOut || ref.shape[2] !== wOut) {
    return { ok: false, compared: 'shape', maxAbsError: Infinity, message: `${name}: output ${formatShape(actual.shape)}, expected (${cOut}, ${ref.shape[1]}, ${ref.shape[2]})` };
  }
  const n = chans.length;
  const got = pick(actual, chans, hOut * wOut, [n, hOut, wOut]);
  const compared = n === cOut ? `all ${cOut} channels` : `channels ${chans.length <= 6 ? chans.join(', ') : `${chans.slice(0, 3).join(', ')}, ..., ${chans.at(-1)}`} (${n}) of ${cOut}`;
  return compareValues(name, got.data, ref.data, tol, (i) => {
    const [j, oh, ow] = unravel(i, [n, hOut, wOut]);
    return `(oc ${chans[j!]}, oh ${oh}, ow ${ow})`;
  }, compared);
}

/** Checks `actual` (a backend's conv + BN + activation of x) against the naive loops (see convReference). */
export function checkConv(name: string, x: Tensor, unit: ConvUnit, actual: Tensor, tol: Tolerance, budgetMacs: number): Check {
  return compareConv(name, actual, convReference(name, x, unit, budgetMacs), tol);
}
