// The naive loops' conv + batch norm + activation on a subset of output channels, for shapes whose
// full naive result would take minutes (the benchmarks' 4096x2300): an output channel depends only on
// its own weights (and, depthwise, on its own input channel), so the subset's result is exactly those
// channels of the full naive result. All spatial positions, borders included, are compared.
import type { ConvBnAct } from '../model/modules.js';
import { batchNorm2dNaive } from '../ops/batch_norm2d.cpu.js';
import { conv2dNaive } from '../ops/conv2d.cpu.js';
import { leakyReluNaive } from '../ops/leaky_relu.cpu.js';
import { formatShape, tensor, type Tensor } from '../tensor.js';
import { compareValues, unravel, type Check, type Tolerance } from './compare.js';

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

/** The naive result on a spread of output channels: computed once per case, compared on every backend. */
export interface ConvReference {
  chans: number[];
  cOut: number;
  ref: Tensor;
}

/**
 * The naive loops' conv + BN + activation of x on as many output channels as `budgetMacs` pays for
 * (all of them for Infinity). Dense (groups 1) and depthwise (groups = C_in = C_out) convolutions, the
 * two the network has.
 */
export function convReference(name: string, x: Tensor, unit: ConvBnAct, budgetMacs = Infinity): ConvReference {
  const { conv, bn, slope } = unit;
  const size = (n: number) => Math.floor((n + 2 * conv.padding - conv.kernel_size) / conv.stride) + 1;
  const perChannel = size(x.shape[1]!) * size(x.shape[2]!) * (conv.in_channels / conv.groups) * conv.kernel_size * conv.kernel_size;
  const chans = budgetMacs === Infinity ? spreadChannels(conv.out_channels, conv.out_channels) : spreadChannels(conv.out_channels, budgetMacs / perChannel);
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

/** Compares a backend's full output with the reference's channels; the message names the flat index and (oc, oh, ow). */
export function compareConv(label: string, actual: Tensor, reference: ConvReference, tol: Tolerance): Check {
  const { chans, cOut: expectedC, ref } = reference;
  const [cOut, hOut, wOut] = actual.shape as [number, number, number];
  const expected = `(${expectedC}, ${ref.shape[1]}, ${ref.shape[2]})`;
  if (actual.shape.length !== 3 || cOut !== expectedC || ref.shape[1] !== hOut || ref.shape[2] !== wOut) {
    return { ok: false, compared: 'shape', maxAbsError: Infinity, excess: Infinity, message: `${label}: shape ${formatShape(actual.shape)}, expected ${expected}` };
  }
  const n = chans.length;
  const got = pick(actual, chans, hOut * wOut, [n, hOut, wOut]);
  const compared = n === cOut ? `all ${cOut} channels` : `channels ${n <= 6 ? chans.join(', ') : `${chans.slice(0, 3).join(', ')}, ..., ${chans.at(-1)}`} (${n}) of ${cOut}`;
  return compareValues(label, got.data, ref.data, tol, (i) => {
    const [j, oh, ow] = unravel(i, [n, hOut, wOut]) as [number, number, number];
    const oc = chans[j]!;
    return `index ${(oc * hOut + oh) * wOut + ow} (oc ${oc}, oh ${oh}, ow ${ow})`;
  }, compared);
}
