// The gpu.js twin grid: every gpu.js kernel, run through the GpuJsBackend (both variants), against
// the naive CPU loop on seeded inputs, over one list of shapes shared by every mode (Node test
// test/gpu_ops.test.ts and the Chromium page test/browser/page.ts run this same function). Pure:
// no Node built-ins, no test framework; it returns one result per check and the caller asserts.
import type { Backend } from '../../src/backend.js';
import { BatchNorm2d, Conv2d, ConvBnAct, Module } from '../../src/model/modules.js';
import type { Slope } from '../../src/ops/activation.js';
import { addNaive } from '../../src/ops/add.cpu.js';
import { batchNorm2dNaive } from '../../src/ops/batch_norm2d.cpu.js';
import { catNaive } from '../../src/ops/cat.cpu.js';
import { conv2dNaive } from '../../src/ops/conv2d.cpu.js';
import { headPermuteNaive } from '../../src/ops/head_permute.cpu.js';
import { interpolateNearestNaive } from '../../src/ops/interpolate_nearest.cpu.js';
import { leakyReluNaive } from '../../src/ops/leaky_relu.cpu.js';
import { maxPool2dNaive } from '../../src/ops/max_pool2d.cpu.js';
import { softmaxNaive } from '../../src/ops/softmax.cpu.js';
import type { Tensor } from '../../src/tensor.js';
import { randomTensor } from '../../src/harness/random.js';

export interface TwinResult {
  name: string;
  /** largest |gpu - naive| */
  maxAbs: number;
  /** largest (|gpu - naive| - abs - rel |naive|): > 0 fails */
  excess: number;
  worst: string;
}

export interface TwinTolerance {
  abs: number;
  rel: number;
}

/** [C_in, C_out, k, stride, groups ('dw' = depthwise), H, W] */
type ConvCase = [number, number, number, number, 1 | 'dw', number, number];

/**
 * Convolutions of both architectures plus edge cases: odd sizes, stride 2, 1 to 2048 channels,
 * a map wider than a GL texture side (8200 > 8192) for the GL/WebGPU modes. `small` keeps the
 * gpu.js 'cpu' mode (plain JavaScript, slow) to shapes that run in seconds.
 */
export function convCases(small: boolean): ConvCase[] {
  const cases: ConvCase[] = [
    [3, 8, 3, 2, 1, 33, 17], // mobile0.25 stem, odd size
    [3, 64, 7, 2, 1, 35, 29], // resnet50 stem 7x7
    [64, 64, 3, 1, 1, 20, 13], // FPN merge / SSH
    [128, 128, 3, 2, 1, 9, 11], // Bottleneck conv2 with stride 2
    [8, 16, 1, 1, 1, 5, 3], // conv_dw pointwise
    [2048, 256, 1, 1, 1, 3, 5], // FPN output3 of resnet50: 2048 channels
    [256, 512, 1, 2, 1, 9, 7], // Bottleneck downsample, stride 2
    [64, 20, 1, 1, 1, 6, 7], // LandmarkHead
    [5, 7, 3, 1, 1, 1, 1], // 1x1 image
    [1, 1, 3, 2, 1, 2, 3],
    [8, 8, 3, 1, 'dw', 17, 33], // conv_dw depthwise
    [33, 33, 3, 2, 'dw', 9, 8], // depthwise stride 2, odd channels
    [256, 256, 3, 1, 'dw', 5, 4],
  ];
  if (!small) cases.push([256, 64, 3, 1, 1, 21, 13], [2, 2, 3, 1, 'dw', 2, 8200], [2, 3, 1, 1, 1, 3, 8200]);
  return cases;
}

/** A case's conv units as a model holds them: what a backend's prepare() lowers. */
class UnitCase extends Module {
  constructor(readonly units: ConvBnAct[]) {
    super();
  }
}

function bnParams(c: number, seed: number): BatchNorm2d {
  const bn = new BatchNorm2d(c);
  bn.weight.data = randomTensor([c], seed, 0.5, 1.5).data;
  bn.bias.data = randomTensor([c], seed + 1).data;
  bn.running_mean.data = randomTensor([c], seed + 2, -0.5, 0.5).data;
  bn.running_var.data = randomTensor([c], seed + 3, 0.5, 1.5).data;
  return bn;
}

function compare(name: string, got: Tensor, want: Tensor, tol: TwinTolerance): TwinResult {
  if (got.shape.join() !== want.shape.join()) {
    return { name, maxAbs: Infinity, excess: Infinity, worst: `shape (${got.shape}) != (${want.shape})` };
  }
  let maxAbs = 0, excess = -Infinity, worst = '';
  for (let i = 0; i < want.data.length; i++) {
    const a = got.data[i]!, e = want.data[i]!;
    const d = Math.abs(a - e);
    const x = Number.isNaN(d) ? Infinity : d - tol.abs - tol.rel * Math.abs(e);
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (x > excess) { excess = x; worst = `index ${i}: got ${a}, expected ${e}`; }
  }
  return { name, maxAbs, excess, worst };
}

/** Runs the whole grid on a backend; `small` for the slow modes. */
export async function runTwins<T>(be: Backend<T>, tol: TwinTolerance, small: boolean): Promise<TwinResult[]> {
  const results: TwinResult[] = [];
  const check = async (name: string, y: T, want: Tensor) => {
    results.push(compare(`${be.name} ${name}`, await be.read(y), want, tol));
    be.release(y);
  };

  // Convolutions, each with batch norm and every activation (fused or as separate kernels).
  let seed = 1000;
  for (const [cin, cout, k, stride, g, h, w] of convCases(small)) {
    seed += 10;
    const groups = g === 'dw' ? cin : 1;
    const conv = new Conv2d(cin, cout, k, stride, (k - 1) / 2, groups, seed % 20 === 0);
    const fan = (cin / groups) * k * k;
    conv.weight.data = randomTensor(conv.weight.shape, seed + 1, -1 / Math.sqrt(fan), 1 / Math.sqrt(fan)).data;
    if (conv.bias !== null) conv.bias.data = randomTensor([cout], seed + 2).data;
    const bn = bnParams(cout, seed + 3);
    const bare = new Conv2d(cin, cout, k, stride, (k - 1) / 2, groups, true);
    bare.weight.data = conv.weight.data;
    bare.bias!.data = randomTensor([cout], seed + 4).data;
    const units = ([0.1, 0, null] as Slope[]).map((slope) => new ConvBnAct(conv, bn, slope));
    const biased = new ConvBnAct(bare, null, null);
    await be.prepare(new UnitCase([...units, biased]));
    const xT = randomTensor([cin, h, w], seed);
    const x = be.upload(xT);
    const attrs = { stride, padding: (k - 1) / 2, groups };
    const convOut = conv2dNaive(xT, conv.weight, conv.bias, attrs);
    const bnOut = batchNorm2dNaive(convOut, bn);
    const tag = `conv ${g === 'dw' ? 'depthwise' : 'dense'} [${cin}->${cout} k${k} s${stride} ${h}x${w}] seed ${seed}`;
    for (const unit of units) {
      const slope = unit.slope;
      await check(`${tag} +bn slope ${slope}`, be.convBnAct(x, unit), slope === null ? bnOut : leakyReluNaive(bnOut, slope));
    }
    await check(`${tag} +bias`, be.convBnAct(x, biased), conv2dNaive(xT, bare.weight, bare.bias, attrs));
    be.release(x);
  }

  // Elementwise and data movement, odd sizes.
  for (const [c, h, w] of [[3, 5, 7], [64, 20, 20], [17, 1, 9]] as [number, number, number][]) {
    seed += 10;
    const aT = randomTensor([c, h, w], seed), bT = randomTensor([c, h, w], seed + 1);
    const a = be.upload(aT), b = be.upload(bT);
    for (const slope of [null, 0, 0.1] as Slope[]) {
      const sum = addNaive(aT, bT);
      await check(`add (${c}, ${h}, ${w}) slope ${slope}`, be.add(a, b, slope), slope === null ? sum : leakyReluNaive(sum, slope));
    }
    for (const [ho, wo] of [[h, w], [2 * h, 2 * w], [2 * h + 1, 2 * w - 1]]) {
      await check(`interpolate (${c}, ${h}, ${w}) -> ${ho}x${wo}`, be.interpolateNearest(a, ho!, wo!), interpolateNearestNaive(aT, ho!, wo!));
    }
    const dT = randomTensor([5, h, w], seed + 2);
    const d = be.upload(dT);
    await check(`cat (${c}, ${c}, 5) x ${h}x${w} relu`, be.cat([a, b, d], 0), leakyReluNaive(catNaive([aT, bT, dT]), 0));
    await check(`cat (${c}, 5) x ${h}x${w}`, be.cat([a, d], null), catNaive([aT, dT]));
    await check(`cat of 4`, be.cat([a, d, b, d], 0.1), leakyReluNaive(catNaive([aT, dT, bT, dT]), 0.1));
    await check(`max pool 3/2/1 (${c}, ${h}, ${w})`, be.maxPool2d(a, 3, 2, 1), maxPool2dNaive(aT, 3, 2, 1));
    be.release(a);
    be.release(b);
    be.release(d);
  }

  // Heads: permute to rows, concatenate levels, softmax.
  for (const k of [2, 4, 10]) {
    seed += 10;
    const levels = [[5, 7], [3, 4], [2, 2]].map(([h, w], i) => randomTensor([2 * k, h!, w!], seed + i, -4, 4));
    const inputs = levels.map((l) => be.upload(l));
    const rows = inputs.map((x) => be.headPermute(x, k));
    const wantRows = levels.map((l) => headPermuteNaive(l, k));
    const want = catNaive(wantRows);
    await check(`head permute k=${k}`, rows[0]!, wantRows[0]!);
    const all = be.catRows(rows.slice(1));
    await check(`cat rows k=${k}`, all, catNaive(wantRows.slice(1)));
    const first = be.headPermute(inputs[0]!, k);
    const three = be.catRows([first, ...rows.slice(1)]);
    await check(`cat rows of 3, softmax k=${k}`, be.softmax(three), softmaxNaive(want));
    for (const t of [...inputs, ...rows.slice(1), first, three]) be.release(t);
  }
  return results;
}
