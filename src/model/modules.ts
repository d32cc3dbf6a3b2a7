// The module tree, named as PyTorch names it. Walking an object's properties yields its
// children by attribute name (as nn.Module registers them), so namedParameters() produces the
// checkpoint's state-dict keys and loading is generic (the idea of tinygrad's nn).
import { numel, type Tensor } from '../tensor.js';
import type { Slope } from '../ops/activation.js';

/** A learnable tensor or buffer: its shape is fixed by the architecture, its data by the weights. */
export class Param implements Tensor {
  data: Float32Array = new Float32Array(0);
  constructor(readonly shape: number[]) {}
  get loaded(): boolean {
    return this.data.length === numel(this.shape) && numel(this.shape) > 0;
  }
}

export abstract class Module {
  /** The PyTorch module path (`body.stage1.0`), set once by assignPaths() on the root. */
  path = '';

  /** Children in registration order: every property holding a Module, by property name. */
  children(): [string, Module][] {
    return Object.entries(this).filter((e): e is [string, Module] => e[1] instanceof Module);
  }

  /** This module's own parameters and buffers, by PyTorch attribute name. */
  params(): [string, Param][] {
    return Object.entries(this).filter((e): e is [string, Param] => e[1] instanceof Param);
  }
}

/** nn.Sequential / nn.ModuleList: children named '0', '1', ... */
export class Sequential<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(...items: M[]) {
    super();
    this.items = items;
  }
  override children(): [string, Module][] {
    return this.items.map((m, i) => [String(i), m]);
  }
  at(i: number): M {
    return this.items[i]!;
  }
}

/** nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups, bias). */
export class Conv2d extends Module {
  readonly weight: Param;
  readonly bias: Param | null;
  constructor(
    readonly in_channels: number,
    readonly out_channels: number,
    readonly kernel_size: number,
    readonly stride = 1,
    readonly padding = 0,
    readonly groups = 1,
    bias = false,
  ) {
    super();
    this.weight = new Param([out_channels, in_channels / groups, kernel_size, kernel_size]);
    this.bias = bias ? new Param([out_channels]) : null;
  }
}

/** nn.BatchNorm2d(num_features), used in eval mode (running statistics, eps 1e-5). */
export class BatchNorm2d extends Module {
  readonly weight: Param;
  readonly bias: Param;
  readonly running_mean: Param;
  readonly running_var: Param;
  constructor(readonly num_features: number) {
    super();
    this.weight = new Param([num_features]);
    this.bias = new Param([num_features]);
    this.running_mean = new Param([num_features]);
    this.running_var = new Param([num_features]);
  }
}

/** nn.LeakyReLU(negative_slope) or nn.ReLU (slope 0). No parameters. */
export class LeakyReLU extends Module {
  constructor(readonly negative_slope: number) {
    super();
  }
}

/**
 * The unit every backend runs as one step: a convolution, an optional BN, an optional activation
 * (LeakyReLU with this slope, 0 = ReLU, null = none). The modules build theirs once, at
 * construction, from their own children: the model states which batch norm follows which conv,
 * and backends lower exactly these units (src/backends/lowering.ts).
 */
export class ConvBnAct {
  constructor(readonly conv: Conv2d, readonly bn: BatchNorm2d | null, readonly slope: Slope) {}
  get path(): string {
    return this.conv.path;
  }
}

/**
 * Every ConvBnAct the modules hold, in registration order: each module's properties that are a
 * unit, a list of units or a record of units (Bottleneck's), then its children's.
 */
export function convUnits(root: Module): ConvBnAct[] {
  const units: ConvBnAct[] = [];
  const take = (v: unknown) => { if (v instanceof ConvBnAct) units.push(v); };
  for (const [, m] of namedModules(root)) {
    for (const v of Object.values(m)) {
      if (v instanceof Module || v === null || typeof v !== 'object') continue;
      if (v instanceof ConvBnAct) take(v);
      else if (Array.isArray(v)) v.forEach(take);
      else if (Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach(take);
    }
  }
  return units;
}

export function assignPaths(root: Module, prefix = ''): void {
  root.path = prefix;
  for (const [name, child] of root.children()) assignPaths(child, prefix === '' ? name : `${prefix}.${name}`);
}

export function* namedModules(root: Module, prefix = ''): Generator<[string, Module]> {
  yield [prefix, root];
  for (const [name, child] of root.children()) yield* namedModules(child, prefix === '' ? name : `${prefix}.${name}`);
}

export function* namedParameters(root: Module): Generator<[string, Param]> {
  for (const [path, m] of namedModules(root)) {
    for (const [name, p] of m.params()) yield [path === '' ? name : `${path}.${name}`, p];
  }
}

/** The state-dict names and shapes the architecture expects, in registration order. */
export function parameterShapes(root: Module): Map<string, number[]> {
  return new Map([...namedParameters(root)].map(([k, p]) => [k, p.shape]));
}

/** Binds checked tensors to the parameters by name (model/retinaface.ts checks them first, as load_state_dict(strict=True)). */
export function bindStateDict(root: Module, tensors: Map<string, Tensor>): void {
  for (const [k, p] of namedParameters(root)) {
    const t = tensors.get(k);
    if (t === undefined) throw new Error(`bindStateDict: ${k} is missing (check the state dict first)`);
    p.data = t.data;
  }
}
