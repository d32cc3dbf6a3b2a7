// A backend that computes nothing: it carries shapes through the one network definition and
// counts what a real backend would do (multiply-accumulates per op, ops per forward pass).
// The architecture doc's shape table, the benchmarks' GFLOP/s and the MAC counts all come
// from it, so they cannot drift from the forward code.
//
// It also carries each tensor's geometry along the rows (the kernels are square, so columns
// match): the theoretical receptive field (input pixels that can influence one output value)
// and the jump (input pixels between neighbouring outputs). A k x k conv or pool of stride s
// on (rf, jump) gives (rf + (k - 1) * jump, jump * s); nearest upsampling keeps rf and divides
// the jump by the scale; add and cat take the largest rf of their inputs (their windows are
// centred alike) and the finest jump.
import type { Backend } from '../backend.js';
import type { ConvBnAct, Module } from './modules.js';
import type { Slope } from '../ops/activation.js';
import { conv2dMacs, conv2dOutputShape, convLabel, convOutputSize } from '../ops/conv2d.js';
import { numel, type Tensor } from '../tensor.js';

export interface OpRecord {
  op: 'conv' | 'add' | 'interpolate' | 'cat' | 'maxpool' | 'headPermute' | 'catRows' | 'softmax';
  /** the PyTorch path of the conv module, for convs */
  path?: string;
  /** for convs, ops/conv2d.ts convLabel: 'depthwise 3x3/2', 'pointwise 1x1', 'stem 7x7/2', 'head 1x1', ... */
  kind?: string;
  input: number[];
  output: number[];
  macs: number;
}

/** Receptive field and jump of a tensor, in input pixels. */
export interface Geometry {
  rf: number;
  jump: number;
}

export class ShapeBackend implements Backend<number[]> {
  readonly name = 'shape';
  readonly ops: OpRecord[] = [];
  /** each handle's (and each tensor read back's) geometry */
  private readonly geo = new WeakMap<object, Geometry>();

  /** The receptive field and jump of a handle, or of a tensor this backend's read() returned (a tap). */
  geometry(x: number[] | Tensor): Geometry {
    const g = this.geo.get(x);
    if (g === undefined) throw new Error('shape backend: no geometry for this value (not a handle or a read of this backend)');
    return g;
  }

  private with(y: number[], g: Geometry): number[] {
    this.geo.set(y, g);
    return y;
  }

  /** A handle's geometry; a shape array the caller made itself (not uploaded) is taken as the network input. */
  private geoOf(x: number[]): Geometry {
    return this.geo.get(x) ?? { rf: 1, jump: 1 };
  }

  private merged(xs: number[][]): Geometry {
    const gs = xs.map((x) => this.geoOf(x));
    return { rf: Math.max(...gs.map((g) => g.rf)), jump: Math.min(...gs.map((g) => g.jump)) };
  }

  private window(x: number[], kernel: number, stride: number): Geometry {
    const { rf, jump } = this.geoOf(x);
    return { rf: rf + (kernel - 1) * jump, jump: jump * stride };
  }

  async prepare(_model: Module): Promise<void> {}
  upload(x: Tensor): number[] {
    return this.with([...x.shape], { rf: 1, jump: 1 });
  }
  async read(x: number[]): Promise<Tensor> {
    const t = { shape: [...x], data: new Float32Array(0) };
    this.geo.set(t, this.geoOf(x));
    return t;
  }
  shape(x: number[]): readonly number[] {
    return x;
  }
  release(): void {}

  convBnAct(x: number[], layer: ConvBnAct): number[] {
    const c = layer.conv;
    const y = conv2dOutputShape(x, c.weight.shape, { stride: c.stride, padding: c.padding, groups: c.groups });
    this.ops.push({ op: 'conv', path: c.path, kind: convLabel(c.weight.shape, c, c.bias !== null), input: x, output: y, macs: conv2dMacs(y, c.weight.shape) });
    return this.with(y, this.window(x, c.kernel_size, c.stride));
  }
  add(a: number[], b: number[], _slope: Slope): number[] {
    return this.with(this.record('add', a, [...a]), this.merged([a, b]));
  }
  interpolateNearest(x: number[], h: number, w: number): number[] {
    const { rf, jump } = this.geoOf(x);
    return this.with(this.record('interpolate', x, [x[0]!, h, w]), { rf, jump: (jump * x[1]!) / h });
  }
  cat(xs: number[][], _slope: Slope): number[] {
    return this.with(this.record('cat', xs[0]!, [xs.reduce((s, x) => s + x[0]!, 0), ...xs[0]!.slice(1)]), this.merged(xs));
  }
  maxPool2d(x: number[], kernel: number, stride: number, padding: number): number[] {
    const y = this.record('maxpool', x, [x[0]!, convOutputSize(x[1]!, kernel, stride, padding), convOutputSize(x[2]!, kernel, stride, padding)]);
    return this.with(y, this.window(x, kernel, stride));
  }
  headPermute(x: number[], k: number): number[] {
    return this.with(this.record('headPermute', x, [numel(x) / k, k]), this.geoOf(x));
  }
  catRows(xs: number[][]): number[] {
    return this.with(this.record('catRows', xs[0]!, [xs.reduce((s, x) => s + x[0]!, 0), xs[0]![1]!]), this.merged(xs));
  }
  softmax(x: number[]): number[] {
    return this.with(this.record('softmax', x, [...x]), this.geoOf(x));
  }
  dispose(): void {}

  private record(op: OpRecord['op'], input: number[], output: number[]): number[] {
    this.ops.push({ op, input, output, macs: 0 });
    return output;
  }
}
