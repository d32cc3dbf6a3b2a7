// Tensor lifetimes, computed instead of written: the forward pass is traced once per input size
// on the ShapeBackend (no data) into an op list, each value's last reader is found in it, and
// every later pass at that size runs through a Scheduled backend that releases a value right
// after the op that reads it last. So the model's forward code (src/model/*) holds no release
// call and reads like net.py, while a backend still gets its storage back as early as a
// hand-written schedule would give it (cpu-simd's arena reuses the input's block for the second
// layer's output, as before).
//
// Values are numbered as the pass makes them: 0 is the input, i + 1 is the output of op i.
// The forward's outputs (loc, conf, landms) are never released by the plan: the runner reads
// them, then end() releases whatever is still live.
import type { Backend } from '../backend.js';
import type { Slope } from '../ops/activation.js';
import type { Tensor } from '../tensor.js';
import type { ConvBnAct, Module } from './modules.js';

export type OpName = 'convBnAct' | 'add' | 'interpolateNearest' | 'cat' | 'maxPool2d' | 'headPermute' | 'catRows' | 'softmax';

export interface TracedOp {
  op: OpName;
  /** the values it reads: 0 the input, i + 1 op i's output */
  reads: number[];
  /** the PyTorch path of the conv, for convBnAct */
  path?: string;
}

/** A forward pass as an op list, and after which op each value is dead. */
export interface Plan {
  ops: TracedOp[];
  /** frees[i]: the values op i reads for the last time (outputs excluded) */
  frees: number[][];
  /** the values the pass returns */
  outputs: number[];
}

/** Builds the plan from a recorded op list: a value dies after its last reader, unless returned. */
export function planFrom(ops: TracedOp[], outputs: number[]): Plan {
  const lastReader = new Map<number, number>();
  ops.forEach((o, i) => { for (const v of o.reads) lastReader.set(v, i); });
  const frees: number[][] = ops.map(() => []);
  for (const [v, i] of lastReader) if (!outputs.includes(v)) frees[i]!.push(v);
  return { ops, frees, outputs };
}

/**
 * A backend as the model's forward sees it: every op goes to `inner`, numbered; while recording
 * (plan null) the op list is kept, while replaying a plan each op is checked against it and the
 * values it read last are released. T must be a handle whose identity names one value (an
 * object or an integer id): every backend's is.
 */
export class Scheduled<T> implements Backend<T> {
  readonly name: string;
  readonly recorded: TracedOp[] = [];
  private readonly ids = new Map<T, number>();
  private readonly values: (T | undefined)[] = [];

  /** plan null: record the pass (trace.ts); else replay that plan, freeing as it says. */
  constructor(readonly inner: Backend<T>, private plan: Plan | null = null) {
    this.name = inner.name;
  }

  /** Replays `plan` from the next op on (set before the first op: the input may be adopted first). */
  follow(plan: Plan): void {
    if (this.values.length > 1) throw new Error('scheduler: a plan is followed from the first op');
    this.plan = plan;
  }

  /** The pass's input, value 0 (uploaded by the caller; the pass owns it from here). */
  adopt(x: T): T {
    if (this.values.length !== 0) throw new Error('scheduler: the input is adopted once, first');
    this.bind(x);
    return x;
  }

  /** The value number of a handle of this pass. */
  idOf(x: T): number {
    const id = this.ids.get(x);
    if (id === undefined) throw new Error(`${this.name}: a tensor that is not a live value of this forward pass was used`);
    return id;
  }

  /** Releases every value still live (the outputs, or everything after an error): the pass is over. */
  end(): void {
    for (const [x] of this.ids) this.inner.release(x);
    this.ids.clear();
    this.values.length = 0;
  }

  private bind(x: T): void {
    if (this.ids.has(x)) throw new Error(`${this.name}: an op returned a handle that is already live`);
    this.ids.set(x, this.values.length);
    this.values.push(x);
  }

  private run(op: OpName, inputs: T[], exec: () => T, path?: string): T {
    const i = this.values.length - 1;
    const reads = inputs.map((x) => this.idOf(x));
    const planned = this.plan?.ops[i];
    if (this.plan === null) this.recorded.push(path === undefined ? { op, reads } : { op, reads, path });
    else if (planned === undefined || planned.op !== op || planned.reads.join() !== reads.join()) {
      throw new Error(`${this.name}: op ${i} (${op}) differs from the traced forward pass (${planned?.op ?? 'none'})`);
    }
    const y = exec();
    this.bind(y);
    if (this.plan !== null) {
      for (const v of this.plan.frees[i]!) {
        const x = this.values[v]!;
        this.values[v] = undefined;
        this.ids.delete(x);
        this.inner.release(x);
      }
    }
    return y;
  }

  convBnAct(x: T, layer: ConvBnAct): T {
    return this.run('convBnAct', [x], () => this.inner.convBnAct(x, layer), layer.path);
  }
  add(a: T, b: T, slope: Slope): T {
    return this.run('add', [a, b], () => this.inner.add(a, b, slope));
  }
  interpolateNearest(x: T, h: number, w: number): T {
    return this.run('interpolateNearest', [x], () => this.inner.interpolateNearest(x, h, w));
  }
  cat(xs: T[], slope: Slope): T {
    return this.run('cat', xs, () => this.inner.cat(xs, slope));
  }
  maxPool2d(x: T, kernel: number, stride: number, padding: number): T {
    return this.run('maxPool2d', [x], () => this.inner.maxPool2d(x, kernel, stride, padding));
  }
  headPermute(x: T, k: number): T {
    return this.run('headPermute', [x], () => this.inner.headPermute(x, k));
  }
  catRows(xs: T[]): T {
    return this.run('catRows', xs, () => this.inner.catRows(xs));
  }
  softmax(x: T): T {
    return this.run('softmax', [x], () => this.inner.softmax(x));
  }

  /** A copy taken now (a tap): not an op, so it does not extend the value's life. */
  read(x: T): Promise<Tensor> {
    this.idOf(x);
    return this.inner.read(x);
  }
  shape(x: T): readonly number[] {
    return this.inner.shape(x);
  }
  upload(x: Tensor): T {
    return this.inner.upload(x);
  }
  release(_x: T): void {
    throw new Error(`${this.name}: the forward pass does not release tensors; the schedule does (src/model/schedule.ts)`);
  }
  prepare(model: Module): Promise<void> {
    return this.inner.prepare(model);
  }
  dispose(): void {
    this.end();
  }
}
