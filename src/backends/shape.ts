// A backend that computes nothing: it carries shapes through the one network definition and
// counts what a real backend would do (multiply-accumulates per op, ops per forward pass).
// The architecture doc's shape table, the benchmarks' GFLOP/s and the MAC counts all come
// from it, so they cannot drift from the forward code.
import type { Backend } from '../backend.js';
import type { ConvBnAct, Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { conv2dMacs, conv2dOutputShape, convOutputSize } from '../ops/conv2d.js';
import { numel, type Tensor } from '../tensor.js';

export interface OpRecord {
  op: 'conv' | 'add' | 'interpolate' | 'cat' | 'maxpool' | 'headPermute' | 'catRows' | 'softmax';
  /** the PyTorch path of the conv module, for convs */
  path?: string;
  /** 'dense3x3' | 'dense7x7' | 'pointwise' | 'depthwise3x3' ... for convs */
  kind?: string;
  input: number[];
  output: number[];
  macs: number;
}

export function convKind(layer: ConvBnAct): string {
  const c = layer.conv;
  const depthwise = c.groups > 1 && c.groups === c.in_channels;
  return `${depthwise ? 'depthwise' : c.kernel_size === 1 ? 'pointwise' : 'dense'}${c.kernel_size}x${c.kernel_size}${c.stride > 1 ? `/s${c.stride}` : ''}`;
}

export class ShapeBackend implements Backend<number[]> {
  readonly name = 'shape';
  readonly ops: OpRecord[] = [];

  async prepare(_model: Module): Promise<void> {}
  upload(x: Tensor): number[] {
    return [...x.shape];
  }
  async read(x: number[]): Promise<Tensor> {
    return { shape: [...x], data: new Float32Array(0) };
  }
  shape(x: number[]): readonly number[] {
    return x;
  }
  release(): void {}

  convBnAct(x: number[], layer: ConvBnAct): number[] {
    const c = layer.conv;
    const y = conv2dOutputShape(x, c.weight.shape, { stride: c.stride, padding: c.padding, groups: c.groups });
    this.ops.push({ op: 'conv', path: c.path, kind: convKind(layer), input: x, output: y, macs: conv2dMacs(y, c.weight.shape) });
    return y;
  }
  add(a: number[], _b: number[], _slope: Slope): number[] {
    return this.record('add', a, [...a]);
  }
  interpolateNearest(x: number[], h: number, w: number): number[] {
    return this.record('interpolate', x, [x[0]!, h, w]);
  }
  cat(xs: number[][], _slope: Slope): number[] {
    return this.record('cat', xs[0]!, [xs.reduce((s, x) => s + x[0]!, 0), ...xs[0]!.slice(1)]);
  }
  maxPool2d(x: number[], kernel: number, stride: number, padding: number): number[] {
    return this.record('maxpool', x, [x[0]!, convOutputSize(x[1]!, kernel, stride, padding), convOutputSize(x[2]!, kernel, stride, padding)]);
  }
  headPermute(x: number[], k: number): number[] {
    return this.record('headPermute', x, [numel(x) / k, k]);
  }
  catRows(xs: number[][]): number[] {
    return this.record('catRows', xs[0]!, [xs.reduce((s, x) => s + x[0]!, 0), xs[0]![1]!]);
  }
  softmax(x: number[]): number[] {
    return this.record('softmax', x, [...x]);
  }
  dispose(): void {}

  private record(op: OpRecord['op'], input: number[], output: number[]): number[] {
    this.ops.push({ op, input, output, macs: 0 });
    return output;
  }
}
