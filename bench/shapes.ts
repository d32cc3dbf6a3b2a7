// The network's real layer shapes at a given input size, without weights: the project's
// ShapeBackend runs the one network definition (src/model) and every call is recorded.
// So the benchmarked shapes are exactly the ones a forward pass executes, for both archs.
import { ShapeBackend } from '../src/model/shape_backend.js';
import { ARCHS, type Arch } from '../src/model/config.js';
import { traceForward } from '../src/model/trace.js';
import type { ConvBnAct } from '../src/model/modules.js';
import { RetinaFace } from '../src/model/retinaface.js';
import type { Slope } from '../src/ops/activation.js';
import type { ConvSpec } from '../src/harness/cases.js';
import type { Resolution } from './config.js';

/** A conv's group in the reports: ops/conv2d.ts convLabel ('depthwise 3x3/2', 'pointwise 1x1', 'stem 7x7/2', 'head 1x1', ...). */
export type ConvKind = string;

/** One conv of the network: its hyper-parameters (the harness's ConvSpec) where the trace met it. */
export interface ConvCall extends ConvSpec {
  op: 'conv';
  path: string;
  kind: ConvKind;
  inShape: [number, number, number];
  outShape: [number, number, number];
  /** The input's stride relative to the network input (1, 2, 4, 8, 16, 32). */
  level: number;
  macs: number;
}

export interface OtherCall {
  op: 'add' | 'interpolate' | 'cat' | 'maxPool' | 'headPermute' | 'catRows' | 'softmax';
  inShapes: number[][];
  outShape: number[];
}

export type Call = ConvCall | OtherCall;

/** A feature map's stride: 2^k nearest to input / map height (odd sizes round up at each stride 2: 624 -> 20, not 19.5). */
export function pyramidLevel(inputHeight: number, mapHeight: number): number {
  return 2 ** Math.round(Math.log2(inputHeight / mapHeight));
}

/**
 * The project's ShapeBackend (src/model/shape_backend.ts: shapes and MACs from the ops' own shape
 * functions), observed call by call: what the benchmark needs beyond its records is the layer
 * itself (batch norm, slope, bias) and every input of a concatenation.
 */
class TracingBackend extends ShapeBackend {
  readonly calls: Call[] = [];
  constructor(private readonly inputHeight: number) {
    super();
  }
  override convBnAct(x: number[], layer: ConvBnAct): number[] {
    const out = super.convBnAct(x, layer);
    const { conv, bn, slope } = layer;
    const bias = conv.bias !== null;
    this.calls.push({
      op: 'conv', path: conv.path,
      kind: this.ops.at(-1)!.kind!,
      cIn: conv.in_channels, cOut: conv.out_channels, kernel: conv.kernel_size, stride: conv.stride,
      padding: conv.padding, groups: conv.groups, bias, batchNorm: bn !== null, slope,
      inShape: [...x] as [number, number, number], outShape: out as [number, number, number],
      level: pyramidLevel(this.inputHeight, x[1]!), macs: this.ops.at(-1)!.macs,
    });
    return out;
  }
  private other(op: OtherCall['op'], inShapes: number[][], out: number[]): number[] {
    this.calls.push({ op, inShapes: inShapes.map((s) => [...s]), outShape: [...out] });
    return out;
  }
  override add(a: number[], b: number[], slope: Slope): number[] { return this.other('add', [a, b], super.add(a, b, slope)); }
  override interpolateNearest(x: number[], h: number, w: number): number[] { return this.other('interpolate', [x], super.interpolateNearest(x, h, w)); }
  override cat(xs: number[][], slope: Slope): number[] { return this.other('cat', xs, super.cat(xs, slope)); }
  override maxPool2d(x: number[], k: number, st: number, p: number): number[] { return this.other('maxPool', [x], super.maxPool2d(x, k, st, p)); }
  override headPermute(x: number[], k: number): number[] { return this.other('headPermute', [x], super.headPermute(x, k)); }
  override catRows(xs: number[][]): number[] { return this.other('catRows', xs, super.catRows(xs)); }
  override softmax(x: number[]): number[] { return this.other('softmax', [x], super.softmax(x)); }
}

/** Every backend call of one forward pass of `arch` at this input size, in execution order. */
export function traceNetwork(arch: Arch, res: Resolution): Call[] {
  const be = new TracingBackend(res.height);
  traceForward(new RetinaFace(arch), res.height, res.width, false, be);
  return be.calls;
}

export const convCalls = (calls: readonly Call[]): ConvCall[] => calls.filter((c): c is ConvCall => c.op === 'conv');

/** Convolution MACs of one forward pass (what GFLOP/s figures of whole networks are counted from). */
export function networkMacs(arch: Arch, res: Resolution): number {
  return convCalls(traceNetwork(arch, res)).reduce((s, c) => s + c.macs, 0);
}

/**
 * A benchmark row: one convolution shape at one pyramid level. The same row exists at every
 * resolution (its spatial size scales with the input), so rows x resolutions is a table.
 */
export interface ConvShape extends ConvSpec {
  id: string;
  kind: ConvKind;
  level: number;
  inShape: [number, number, number];
  macs: number;
  archs: Arch[];
  /** Every layer with this shape, e.g. body.layer3.1.conv2 ... body.layer3.5.conv2. */
  paths: string[];
}

export function convShapeId(c: Pick<ConvCall, 'kind' | 'cIn' | 'cOut' | 'level'>): string {
  return `${c.kind} ${c.cIn}->${c.cOut} @1/${c.level}`;
}

/** The distinct convolution shapes of the given archs at this resolution (first occurrence order). */
export function distinctConvShapes(res: Resolution, archs: readonly Arch[] = ARCHS): ConvShape[] {
  const byId = new Map<string, ConvShape>();
  for (const arch of archs) {
    for (const c of convCalls(traceNetwork(arch, res))) {
      const id = convShapeId(c);
      const seen = byId.get(id);
      if (seen !== undefined) {
        if (!seen.archs.includes(arch)) seen.archs.push(arch);
        seen.paths.push(`${arch}:${c.path}`);
        continue;
      }
      byId.set(id, {
        id, kind: c.kind, cIn: c.cIn, cOut: c.cOut, kernel: c.kernel, stride: c.stride, padding: c.padding,
        groups: c.groups, bias: c.bias, batchNorm: c.batchNorm, slope: c.slope, level: c.level,
        inShape: c.inShape, macs: c.macs, archs: [arch], paths: [`${arch}:${c.path}`],
      });
    }
  }
  return [...byId.values()];
}
