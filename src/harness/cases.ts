// The op cases every backend is checked on (ggml's test-backend-ops is the model): each case holds
// its seeded inputs, how a backend runs it, and its reference, the naive loops of src/ops/*.cpu.ts,
// computed once on first use and compared on every backend. opCases() is the one grid the tests run
// on every backend (test/backend_ops.test.ts in Node, test/browser/page.ts in Chromium); the
// benchmarks build their cases (the network's real layer shapes, bench/kernels.ts) with the same
// constructors and check each one before timing it. Pure: runs in Node and in the browser pages.
import type { Backend } from '../backend.js';
import { assignPaths, BatchNorm2d, Conv2d, ConvBnAct, Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { addNaive } from '../ops/add.cpu.js';
import { catNaive } from '../ops/cat.cpu.js';
import { convLabel, conv2dOutputShape } from '../ops/conv2d.js';
import { headPermuteNaive } from '../ops/head_permute.cpu.js';
import { interpolateNearestNaive } from '../ops/interpolate_nearest.cpu.js';
import { leakyReluNaive } from '../ops/leaky_relu.cpu.js';
import { maxPool2dNaive } from '../ops/max_pool2d.cpu.js';
import { softmaxNaive } from '../ops/softmax.cpu.js';
import { formatShape, numel, type Tensor } from '../tensor.js';
import { compareTensors, type Check, type Tolerance } from './compare.js';
import { compareConv, convReference, type ConvReference } from './conv_reference.js';
import { randomTensor } from './random.js';
import { fillRandomWeights } from './weights.js';

export type OpName = 'conv' | 'add' | 'upsample+add' | 'interpolateNearest' | 'cat' | 'maxPool2d' | 'headPermute' | 'catRows' | 'softmax';

export interface OpCase {
  readonly op: OpName;
  /** the op, its attributes, shapes and seed: what a failure names, e.g. 'conv dense 3x3/2 (128, 9, 11) -> (128, 5, 6) +bn slope 0.1 seed 1040' */
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** a convolution's unit, in a Module as a network holds it (what a backend's prepare() lowers); null for the other ops */
  readonly model: ConvModule | null;
  /** Runs the case on the backend's handles of `inputs`; intermediate handles are released. */
  run<T>(be: Backend<T>, xs: T[]): T;
  /** Compares a backend's output with the naive loops' (the reference is computed once, on the first call). */
  check(label: string, actual: Tensor, tol: Tolerance): Check;
  /** multiply-adds (convolutions) and bytes read + written: the benchmarks' rates */
  readonly macs: number;
  readonly bytes: number;
}

const bytesOf = (...shapes: readonly (readonly number[])[]) => 4 * shapes.reduce((s, sh) => s + numel(sh), 0);

/** A case whose reference is a whole tensor from the naive loops. */
export function tensorCase(
  op: OpName, name: string, inputs: Tensor[], run: <T>(be: Backend<T>, xs: T[]) => T, reference: () => Tensor, bytes: number,
): OpCase {
  let want: Tensor | undefined;
  return {
    op, name, inputs, model: null, run, macs: 0, bytes,
    check: (label, actual, tol) => compareTensors(label, actual, want ??= reference(), tol),
  };
}

// --- convolutions ---------------------------------------------------------------------------------

export interface ConvSpec {
  cIn: number;
  cOut: number;
  kernel: number;
  stride: number;
  padding: number;
  groups: number;
  bias: boolean;
  batchNorm: boolean;
  slope: Slope;
}

/** One convolution (+ batch norm) (+ activation) as a module tree, so that a backend's prepare() sees it as in the network. */
export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d | null;
  /** the unit a backend lowers and runs */
  readonly unit: ConvBnAct;
  constructor(readonly spec: ConvSpec) {
    super();
    this.conv = new Conv2d(spec.cIn, spec.cOut, spec.kernel, spec.stride, spec.padding, spec.groups, spec.bias);
    this.bn = spec.batchNorm ? new BatchNorm2d(spec.cOut) : null;
    this.unit = new ConvBnAct(this.conv, this.bn, spec.slope);
    assignPaths(this, 'case');
  }
}

/**
 * conv (+ bias) (+ BN) (+ LeakyReLU) of a seeded input (C_in, H, W) with seeded weights
 * (src/harness/weights.ts: He-scaled, BN near identity). The reference covers the output channels
 * that `budgetMacs` pays for (all by default; see conv_reference.ts), every spatial position.
 */
export function convCase(spec: ConvSpec, h: number, w: number, seed: number, budgetMacs = Infinity): OpCase & { model: ConvModule } {
  const model = new ConvModule(spec);
  fillRandomWeights(model, seed);
  const x = randomTensor([spec.cIn, h, w], seed + 1);
  const attrs = { stride: spec.stride, padding: spec.padding, groups: spec.groups };
  const out = conv2dOutputShape(x.shape, model.conv.weight.shape, attrs);
  const post = spec.batchNorm ? ' +bn' : '';
  const name = `conv ${convLabel(model.conv.weight.shape, attrs, spec.bias)} ${formatShape(x.shape)} -> ${formatShape(out)}` +
    `${spec.bias ? ' +bias' : ''}${post} slope ${spec.slope} seed ${seed}`;
  let reference: ConvReference | undefined;
  return {
    op: 'conv', name, inputs: [x], model,
    run: (be, [xh]) => be.convBnAct(xh!, model.unit),
    check: (label, actual, tol) => compareConv(label, actual, reference ??= convReference(name, x, model.unit, budgetMacs), tol),
    macs: numel(out) * (spec.cIn / spec.groups) * spec.kernel * spec.kernel,
    bytes: bytesOf(x.shape, model.conv.weight.shape, out),
  };
}

// --- the other ops --------------------------------------------------------------------------------

const act = (t: Tensor, slope: Slope) => (slope === null ? t : leakyReluNaive(t, slope));

export function addCase(shape: number[], slope: Slope, seed: number): OpCase {
  const a = randomTensor(shape, seed), b = randomTensor(shape, seed + 1);
  return tensorCase('add', `add ${formatShape(shape)} slope ${slope} seed ${seed}`, [a, b],
    (be, [x, y]) => be.add(x!, y!, slope), () => act(addNaive(a, b), slope), bytesOf(shape, shape, shape));
}

/** The FPN merge: nearest upsampling of the coarser map to the lateral's size, then add. */
export function upsampleAddCase(lateral: readonly number[], top: readonly number[], seed: number): OpCase {
  const a = randomTensor([...lateral], seed), b = randomTensor([...top], seed + 1);
  const [h, w] = [lateral[1]!, lateral[2]!];
  return tensorCase('upsample+add', `upsample+add ${formatShape(top)} -> ${formatShape(lateral)} seed ${seed}`, [a, b],
    (be, [x, y]) => { const up = be.interpolateNearest(y!, h, w); const s = be.add(x!, up, null); be.release(up); return s; },
    () => addNaive(a, interpolateNearestNaive(b, h, w)), bytesOf(lateral, top, lateral));
}

export function interpolateCase(shape: number[], h: number, w: number, seed: number): OpCase {
  const x = randomTensor(shape, seed);
  return tensorCase('interpolateNearest', `interpolateNearest ${formatShape(shape)} -> ${h}x${w} seed ${seed}`, [x],
    (be, [xh]) => be.interpolateNearest(xh!, h, w), () => interpolateNearestNaive(x, h, w), bytesOf(shape, [shape[0]!, h, w]));
}

export function catCase(shapes: readonly (readonly number[])[], slope: Slope, seed: number): OpCase {
  const xs = shapes.map((s, i) => randomTensor([...s], seed + i));
  const out = [shapes.reduce((c, s) => c + s[0]!, 0), shapes[0]![1]!, shapes[0]![2]!];
  return tensorCase('cat', `cat ${shapes.map(formatShape).join(' + ')} slope ${slope} seed ${seed}`, xs,
    (be, hs) => be.cat(hs, slope), () => act(catNaive(xs), slope), 2 * bytesOf(out));
}

export function maxPoolCase(shape: number[], kernel: number, stride: number, padding: number, seed: number): OpCase {
  const x = randomTensor(shape, seed);
  return tensorCase('maxPool2d', `maxPool2d ${kernel}/${stride}/${padding} ${formatShape(shape)} seed ${seed}`, [x],
    (be, [xh]) => be.maxPool2d(xh!, kernel, stride, padding), () => maxPool2dNaive(x, kernel, stride, padding), 2 * bytesOf(shape));
}

/** A head's output (A * k, H, W) permuted to rows (H * W * A, k). */
export function headPermuteCase(shape: number[], k: number, seed: number): OpCase {
  const x = randomTensor(shape, seed, -4, 4);
  return tensorCase('headPermute', `headPermute k=${k} ${formatShape(shape)} seed ${seed}`, [x],
    (be, [xh]) => be.headPermute(xh!, k), () => headPermuteNaive(x, k), 2 * bytesOf(shape));
}

/** The levels' heads permuted to rows, concatenated along anchors, and with `softmax`, the class softmax over k. */
export function catRowsCase(levels: readonly (readonly number[])[], k: number, softmax: boolean, seed: number): OpCase {
  const xs = levels.map((s, i) => randomTensor([...s], seed + i, -4, 4));
  const op = softmax ? 'softmax' : 'catRows';
  const name = `${softmax ? 'softmax of ' : ''}${levels.length > 1 ? 'catRows of ' : ''}headPermute k=${k} ${levels.map(formatShape).join(' + ')} seed ${seed}`;
  return tensorCase(op, name, xs, (be, hs) => {
    const rows = hs.map((h) => be.headPermute(h, k));
    const all = rows.length === 1 ? rows[0]! : be.catRows(rows);
    if (rows.length > 1) rows.forEach((r) => be.release(r));
    if (!softmax) return all;
    const y = be.softmax(all);
    be.release(all);
    return y;
  }, () => {
    const all = catNaive(xs.map((x) => headPermuteNaive(x, k)));
    return softmax ? softmaxNaive(all) : all;
  }, (softmax ? 4 : 2) * bytesOf(...levels));
}

// --- the grid -------------------------------------------------------------------------------------

/** [C_in, C_out, k, stride, groups ('dw': depthwise), H, W] */
type ConvRow = [number, number, number, number, 1 | 'dw', number, number];

/**
 * Convolutions of both architectures plus edges: odd sizes, 1x1 images, stride 2, 1 to 2048
 * channels, channel counts not a multiple of 4, rows longer than a SIMD micro-tile.
 */
const CONV_ROWS: ConvRow[] = [
  [3, 8, 3, 2, 1, 33, 17], // mobile0.25 stem, odd size
  [3, 64, 7, 2, 1, 35, 29], // resnet50 stem 7x7
  [64, 64, 3, 1, 1, 20, 13], // FPN merge / SSH
  [64, 32, 3, 1, 1, 9, 23], // SSH conv3X3
  [16, 16, 3, 1, 1, 11, 7], // SSH conv5X5_2 of mobile0.25
  [256, 128, 3, 1, 1, 7, 5], // resnet50 SSH conv3X3
  [128, 128, 3, 2, 1, 9, 11], // Bottleneck conv2 with stride 2
  [6, 3, 3, 1, 1, 4, 50], // a row longer than one micro-tile, 3 output channels
  [5, 7, 3, 1, 1, 1, 1], // 1x1 image, channels not a multiple of 4
  [1, 1, 3, 2, 1, 2, 3], // one channel
  [8, 16, 1, 1, 1, 5, 3], // conv_dw pointwise
  [64, 64, 1, 1, 1, 40, 41], // pointwise over several GEMM tiles
  [2048, 256, 1, 1, 1, 3, 5], // FPN output3 of resnet50: 2048 channels
  [256, 512, 1, 2, 1, 9, 7], // Bottleneck downsample, pointwise stride 2
  [64, 20, 1, 1, 1, 6, 7], // LandmarkHead
  [64, 4, 1, 1, 1, 1, 1], // ClassHead on a 1x1 map
  [8, 8, 3, 1, 'dw', 17, 33], // conv_dw depthwise
  [8, 8, 3, 1, 'dw', 1, 1], // depthwise of a 1x1 image
  [16, 16, 3, 1, 'dw', 3, 5],
  [3, 3, 3, 1, 'dw', 1, 7],
  [5, 5, 3, 1, 'dw', 13, 4],
  [4, 4, 3, 1, 'dw', 37, 6], // several bands of output rows
  [33, 33, 3, 2, 'dw', 9, 8], // depthwise stride 2, odd channels
  [33, 33, 3, 2, 'dw', 17, 33],
  [8, 8, 3, 2, 'dw', 2, 2],
  [8, 8, 3, 2, 'dw', 33, 17],
  [128, 128, 3, 2, 'dw', 9, 8],
  [7, 7, 3, 2, 'dw', 6, 9],
  [2, 2, 3, 2, 'dw', 1, 1],
  [256, 256, 3, 1, 'dw', 5, 4],
];

/** Only where `small` is false: the slow JavaScript modes (gpu.js cpu and webasm) skip them. */
const LARGE_CONV_ROWS: ConvRow[] = [
  [256, 64, 3, 1, 1, 21, 13],
  [16, 128, 1, 1, 1, 100, 83], // 1x1 on a map of several tiles
  [2, 2, 3, 1, 'dw', 2, 8200], // a map wider than a GL texture side (8200 > 8192)
  [2, 3, 1, 1, 1, 3, 8200],
];

export interface GridOptions {
  /** keep to the shapes the slow JavaScript modes run in seconds */
  small: boolean;
}

/**
 * The one grid: every conv shape with batch norm and each activation (LeakyReLU 0.1, ReLU, none)
 * and once with a bias and no batch norm (the heads); add (+ activations), the FPN's upsample +
 * add, nearest upsampling (identity, 2x, odd up-sizes), cat (+ activations, 2 to 4 inputs), max
 * pooling, the heads' permute, concatenation of levels and softmax; odd sizes throughout.
 */
export function opCases(opts: GridOptions): OpCase[] {
  const cases: OpCase[] = [];
  let seed = 1000;
  for (const [cIn, cOut, k, stride, g, h, w] of opts.small ? CONV_ROWS : [...CONV_ROWS, ...LARGE_CONV_ROWS]) {
    const groups = g === 'dw' ? cIn : 1;
    const base = { cIn, cOut, kernel: k, stride, padding: (k - 1) / 2, groups };
    for (const slope of [0.1, 0, null] as Slope[]) {
      cases.push(convCase({ ...base, bias: false, batchNorm: true, slope }, h, w, seed += 10));
    }
    cases.push(convCase({ ...base, bias: true, batchNorm: false, slope: null }, h, w, seed += 10));
  }

  seed = 5000; // the same seeds with and without the large convolutions: the small grid is a subset
  for (const [c, h, w] of [[3, 5, 7], [64, 20, 20], [17, 1, 9]] as [number, number, number][]) {
    for (const slope of [null, 0, 0.1] as Slope[]) cases.push(addCase([c, h, w], slope, seed += 10));
    for (const [ho, wo] of [[h, w], [2 * h, 2 * w], [2 * h + 1, 2 * w - 1]] as [number, number][]) {
      cases.push(interpolateCase([c, h, w], ho, wo, seed += 10));
    }
    cases.push(catCase([[c, h, w], [c, h, w], [5, h, w]], 0, seed += 10));
    cases.push(catCase([[c, h, w], [5, h, w]], null, seed += 10));
    cases.push(catCase([[c, h, w], [5, h, w], [c, h, w], [5, h, w]], 0.1, seed += 10));
    cases.push(maxPoolCase([c, h, w], 3, 2, 1, seed += 10));
  }
  // FPN merges at odd input sizes: 333 rows give maps of 42, 21 and 11 rows (non-integer ratios).
  cases.push(upsampleAddCase([8, 21, 13], [8, 11, 7], seed += 10), upsampleAddCase([16, 42, 26], [16, 21, 13], seed += 10));

  for (const k of [2, 4, 10]) {
    const levels: [number, number, number][] = [[2 * k, 5, 7], [2 * k, 3, 4], [2 * k, 2, 2]];
    cases.push(headPermuteCase(levels[0]!, k, seed += 10));
    cases.push(catRowsCase(levels.slice(1), k, false, seed += 10));
    cases.push(catRowsCase(levels, k, true, seed += 10));
  }
  return cases;
}
