// Running the network on a prepared backend: the input uploaded (written in place where the
// backend allows), one forward pass through the scheduler (trace.ts, schedule.ts: each tensor
// freed after its last use), the three outputs and any observed module outputs read back.
import type { Backend } from '../backend.js';
import { numel, tensor, type Tensor } from '../tensor.js';
import { Forward, type TapSelection } from './forward.js';
import type { RetinaFace } from './retinaface.js';
import { Scheduled } from './schedule.js';
import { planFor } from './trace.js';

export interface NetworkOutput {
  loc: Tensor;
  conf: Tensor;
  landms: Tensor;
  /** The observed module outputs, by PyTorch path. */
  taps: Map<string, Tensor>;
}

/** The network input (3, H, W) as a writer: fills `dst` (zeroed or not) with the values. */
export interface InputWriter {
  shape: readonly [3, number, number];
  write(dst: Float32Array): void;
}

/** Puts the input on the backend: written into the backend's own storage where it hands out a view (inputView), else through a Tensor. */
export function uploadInput<T>(be: Backend<T>, input: InputWriter): T {
  if (be.inputView !== undefined) {
    const { data, handle } = be.inputView(input.shape);
    try {
      input.write(data);
    } catch (e) {
      be.release(handle);
      throw e;
    }
    return handle;
  }
  const t = tensor([...input.shape]);
  input.write(t.data);
  return be.upload(t);
}

/** One forward pass on a prepared backend: input (3, H, W) BGR minus the means. */
export async function runNetwork<T>(be: Backend<T>, model: RetinaFace, input: Tensor, taps?: TapSelection): Promise<NetworkOutput> {
  return runUploaded(be, model, be.upload(input), taps);
}

/**
 * Arrays a caller reuses from run to run for the three outputs: given an output's name and length,
 * one of that length that the caller no longer needs (the run overwrites it).
 */
export type OutputArrays = (name: 'loc' | 'conf' | 'landms', length: number) => Float32Array;

/** OutputArrays that keep one array per output, replaced when its length changes; clear() lets them go. */
export function keptOutputArrays(): { into: OutputArrays; clear(): void } {
  const kept = new Map<string, Float32Array>();
  const into: OutputArrays = (name, length) => {
    let a = kept.get(name);
    if (a?.length !== length) kept.set(name, a = new Float32Array(length));
    return a;
  };
  return { into, clear: () => kept.clear() };
}

/** A pass over the network, up to its three outputs, still on the backend (startPass). */
export interface Pass<T> {
  out: Record<'loc' | 'conf' | 'landms', T>;
  /** the observed module outputs, by PyTorch path */
  taps: Map<string, Promise<Tensor>>;
  /** Releases the outputs (after an error, whatever is still live): the pass is over. */
  end(): void;
}

/**
 * A pass over the network on an input already on the backend, which it owns from here, up to its
 * three outputs: runUploaded reads them back; bench/outputs.ts times that read. The walk is the
 * model's forward through a Scheduled backend (each value freed after its last use); given no tap
 * selection at all, a backend with pass() may replay a recorded walk instead (cpu-simd).
 */
export function startPass<T>(be: Backend<T>, model: RetinaFace, x: T, taps?: TapSelection): Pass<T> {
  // Made by the walk only: a replayed pass needs no scheduler and no Forward.
  const walked: { run?: Scheduled<T>; f?: Forward<T> } = {};
  const walk = (): [T, T, T] => {
    const run = walked.run = new Scheduled(be);
    run.adopt(x);
    const [, h, w] = be.shape(x) as [number, number, number];
    run.follow(planFor(model, h, w));
    const f = walked.f = new Forward(run, taps);
    const o = model.forward(f, x);
    return [o.loc, o.conf, o.landms];
  };
  try {
    const [loc, conf, landms] = taps === undefined && be.pass !== undefined ? be.pass(model, x, walk) : walk();
    const out = { loc, conf, landms };
    const { run, f } = walked;
    // A replayed pass has no Scheduled values: its outputs are released here.
    return { out, taps: f?.taps ?? new Map(), end: run !== undefined ? () => run.end() : () => { for (const t of [loc, conf, landms]) be.release(t); } };
  } catch (e) {
    walked.run?.end();
    throw e;
  }
}

/**
 * runNetwork on an input already on the backend (uploadInput); the pass owns and releases it.
 * With `into` (and a backend that can readInto), the outputs are read into the caller's arrays
 * instead of fresh ones: fresh memory costs its first touch once the arrays outgrow what the
 * allocator keeps (`node dist/bench/outputs.js`: 2048x1150's three outputs 3.3 ms fresh, 0.4 ms
 * kept), and the result's tensors then share those arrays.
 */
export async function runUploaded<T>(be: Backend<T>, model: RetinaFace, x: T, taps?: TapSelection, into?: OutputArrays): Promise<NetworkOutput> {
  const pass = startPass(be, model, x, taps);
  const { out } = pass;
  try {
    const read = async (name: 'loc' | 'conf' | 'landms', t: T): Promise<Tensor> => {
      if (into === undefined || be.readInto === undefined) return be.read(t);
      const shape = [...be.shape(t)];
      const data = into(name, numel(shape));
      await be.readInto(t, data);
      return { shape, data };
    };
    const [loc, conf, landms] = await Promise.all([read('loc', out.loc), read('conf', out.conf), read('landms', out.landms)]);
    const observed = new Map<string, Tensor>();
    for (const [k, v] of pass.taps) observed.set(k, await v);
    return { loc, conf, landms, taps: observed };
  } finally {
    pass.end();
  }
}

