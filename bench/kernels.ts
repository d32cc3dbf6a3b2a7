// Kernel suites: every distinct convolution shape of both archs (shapes.ts), the FPN's
// upsample + add, SSH's concat + ReLU, the class softmax, and the CPU-only prior generation,
// box decoding and NMS, at each resolution on every backend. The cases are the harness's
// (src/harness/cases.ts: the same constructors as the tests' grid, at the network's shapes), each
// checked against the naive CPU loops with the backend's tolerance (src/harness/tolerances.ts)
// before it is timed; a failed check is reported and not timed. A large convolution's reference
// covers a spread of its output channels (src/harness/conv_reference.ts).
import { performance } from 'node:perf_hooks';
import type { Backend } from '../src/backend.js';
import { numel, type Tensor } from '../src/tensor.js';
import { catCase, catRowsCase, convCase, upsampleAddCase, type OpCase } from '../src/harness/cases.js';
import type { Check } from '../src/harness/compare.js';
import { randomTensor } from '../src/harness/random.js';
import { TOLERANCES } from '../src/harness/tolerances.js';
import { optionalModule, Unavailable, type Opened } from './backends.js';
import { BENNY_BELOW_MS, SEED, resolutionName, type Budget, type Resolution } from './config.js';
import { recordCheck, type KernelResult } from './results.js';
import { distinctConvShapes, pyramidLevel, traceNetwork, type ConvShape } from './shapes.js';
import { gbps, gflops, steadySampler, summarize, timeCall, type Engine } from './stats.js';

/** A memory-bound case of the bench: the harness's case, the table row it fills and the op it is reported under. */
export interface BenchOpCase {
  id: string;
  op: KernelResult['op'];
  case: OpCase;
}

/** The convolution of a layer shape at this resolution, as the harness builds it (the reference on `validationMacs` worth of channels). */
export function convShapeCase(shape: ConvShape, seed: number, validationMacs: number): OpCase {
  const [, h, w] = shape.inShape;
  return convCase(shape, h, w, seed, validationMacs);
}

/** FPN upsample + add, SSH concat + ReLU and the class softmax, at this resolution, from the traced network. */
export function opCases(res: Resolution): BenchOpCase[] {
  const cases: BenchOpCase[] = [];
  const seen = new Set<string>();
  let seed = SEED + 7;
  for (const arch of ['mobile0.25', 'resnet50'] as const) {
    const calls = traceNetwork(arch, res);
    calls.forEach((c, i) => {
      if (c.op === 'interpolate') {
        const add = calls[i + 1]!;
        if (add.op !== 'add') return;
        const [lat, top] = [add.inShapes[0]!, c.inShapes[0]!];
        const key = `upsample+add ${top[0]}ch ${top[1]}x${top[2]} -> ${lat[1]}x${lat[2]}`;
        if (seen.has(key)) return;
        seen.add(key);
        cases.push({ id: `upsample+add ${top[0]}ch @1/${pyramidLevel(res.height, lat[1]!)}`, op: 'upsample+add', case: upsampleAddCase(lat, top, seed) });
        seed += 2;
      } else if (c.op === 'cat' && c.inShapes.length === 3) {
        const id = `cat+relu ${c.inShapes.map((s) => s[0]).join('+')}ch @1/${pyramidLevel(res.height, c.outShape[1]!)}`;
        if (seen.has(id)) return;
        seen.add(id);
        cases.push({ id, op: 'cat', case: catCase(c.inShapes, 0, seed) });
        seed += 3;
      } else if (c.op === 'softmax') {
        // Backends upload (C, H, W) maps only, so the (A, 2) rows come from a class head's output at
        // stride 8 (2 anchors x 2 classes per cell), permuted as in the network, then softmaxed.
        const id = 'head permute + softmax (A, 2) @1/8';
        if (seen.has(id)) return;
        seen.add(id);
        const level = calls.flatMap((k) => (k.op === 'headPermute' && k.inShapes[0]![0] === 4 ? [k.inShapes[0]!] : [])).sort((a, b) => numel(b) - numel(a))[0]!;
        cases.push({ id, op: 'softmax', case: catRowsCase([level], 2, true, seed++) });
      }
    });
  }
  return cases;
}

const bytesOf = (...shapes: number[][]) => 4 * shapes.reduce((sum, sh) => sum + numel(sh), 0);

/** Per backend and per work unit ('macs' or 'bytes'): units per ms seen so far, to skip what would run too long. */
class Throughput {
  private rates = new Map<string, number[]>();
  add(key: string, units: number, ms: number): void {
    if (ms < 0.5) return; // too short to predict anything
    const list = this.rates.get(key) ?? [];
    list.push(units / ms);
    this.rates.set(key, list);
  }
  /** Predicted ms for this much work, or undefined before any observation. */
  predict(key: string, units: number): number | undefined {
    const list = this.rates.get(key);
    if (list === undefined || list.length === 0) return undefined;
    const sorted = [...list].sort((a, b) => a - b);
    return units / sorted[sorted.length >> 1]!;
  }
}

export interface KernelOptions {
  budget: Budget;
  only: (caseId: string) => boolean;
  deadline: number;
  log: (line: string) => void;
  /** Steady-state sampler: benny (benchmark.js) or one call per sample. */
  engine: Engine;
}

interface Timed {
  check: Check;
  firstMs: number;
  steadyMs: number[];
}

/** First call (prepare + upload excluded, op + read back included), check, then steady samples. */
async function timeOnBackend<T>(
  be: Backend<T>, inputs: readonly Tensor[], run: (xs: T[]) => T, check: (y: Tensor) => Check, budget: Budget, est: number | undefined, engine: Engine,
): Promise<Timed> {
  const xs = inputs.map((x) => be.upload(x));
  try {
    const once = async () => { const y = run(xs); const t = await be.read(y); be.release(y); return t; };
    const first = await timeCall(once);
    const c = check(first.value);
    if (!c.ok) return { check: c, firstMs: first.ms, steadyMs: [] };
    const per = Math.max(est ?? first.ms, 1e-3);
    const plan = { minSamples: budget.minSamples, maxSamples: budget.maxSamples, budgetMs: budget.caseSeconds * 1000 };
    if (per * budget.minSamples > budget.caseSeconds * 1000 * 4) plan.minSamples = 1;
    // benny averages many calls per sample, which sub-millisecond calls need; a longer call is timed
    // one call per sample, where benny's repetitions would only spend the budget.
    const sampler = first.ms < BENNY_BELOW_MS ? steadySampler(engine) : steadySampler('plain');
    return { check: c, firstMs: first.ms, steadyMs: await sampler(once, plan) };
  } finally {
    xs.forEach((x) => be.release(x));
  }
}

/** The case's result, or 'error: <first line>' when the backend threw (reported as a skipped cell; the run goes on). */
async function failed<R>(f: () => Promise<R>): Promise<R | string> {
  try {
    return await f();
  } catch (e) {
    return `error: ${String((e as Error).message ?? e).split('\n')[0]}`;
  }
}

/**
 * The shapes in an order that visits every kind (stem, depthwise, pointwise, dense 3x3, head)
 * before the second of any, so that a resolution whose time share runs out still has each kind
 * measured; within a kind the network's order is kept.
 */
export function byKindRoundRobin(shapes: readonly ConvShape[]): ConvShape[] {
  const kinds = new Map<string, ConvShape[]>();
  for (const s of shapes) kinds.set(s.kind, [...(kinds.get(s.kind) ?? []), s]);
  const out: ConvShape[] = [];
  for (let i = 0; out.length < shapes.length; i++) for (const list of kinds.values()) if (i < list.length) out.push(list[i]!);
  return out;
}

export async function runKernelSuite(opened: Opened[], opts: KernelOptions): Promise<KernelResult[]> {
  const { budget, log } = opts;
  const results: KernelResult[] = [];
  const speed = new Throughput();
  const live = opened.filter((o) => o.backend !== undefined);
  for (const [i, res] of budget.resolutions.entries()) {
    const rname = resolutionName(res);
    // Each resolution gets an equal share of the time left, so that the large ones are not starved.
    const resDeadline = performance.now() + (opts.deadline - performance.now()) / (budget.resolutions.length - i);
    const skipFor = (be: string, units: number, key: string): string | undefined => {
      if (performance.now() > resDeadline) return 'this resolution\'s share of the kernel section deadline reached';
      const est = speed.predict(`${be}:${key}`, units);
      if (est !== undefined && est > budget.maxCallSeconds * 1000) {
        return `predicted ${(est / 1000).toFixed(1)} s per call from this backend's measured rate > cap ${budget.maxCallSeconds} s`;
      }
      return undefined;
    };

    let seed = SEED + 1000;
    for (const shape of byKindRoundRobin(distinctConvShapes(res))) {
      seed++;
      if (!opts.only(shape.id)) continue;
      // The naive reference is computed once per case, on the first backend that checks it.
      const c = convShapeCase(shape, seed, budget.validationMacs);
      for (const o of live) {
        const name = o.entry.name;
        const base: KernelResult = { id: shape.id, op: 'conv', resolution: rname, backend: name, inShape: shape.inShape, macs: shape.macs };
        const skipped = skipFor(name, shape.macs, 'macs');
        if (skipped !== undefined) { results.push({ ...base, skipped }); continue; }
        const be = o.backend!;
        base.prepareMs = (await timeCall(() => be.prepare(c.model!))).ms;
        const t = await failed(() => timeOnBackend(be, c.inputs, (hs) => c.run(be, hs),
          (y) => c.check(`${shape.id} ${rname} on ${name}`, y, TOLERANCES[o.entry.tolerance]),
          budget, speed.predict(`${name}:macs`, shape.macs), opts.engine));
        if (typeof t === 'string') { results.push({ ...base, skipped: t }); log(line(results.at(-1)!)); continue; }
        results.push(record(base, t, (ms) => ({ gflops: gflops(shape.macs, ms) })));
        if (t.steadyMs.length > 0) speed.add(`${name}:macs`, shape.macs, results.at(-1)!.timing!.medianMs);
        else speed.add(`${name}:macs`, shape.macs, t.firstMs);
        log(line(results.at(-1)!));
      }
    }

    for (const { id, op, case: c } of opCases(res)) {
      if (!opts.only(id)) continue;
      for (const o of live) {
        const name = o.entry.name;
        const base: KernelResult = { id, op, resolution: rname, backend: name, inShape: c.inputs[0]!.shape, bytes: c.bytes };
        const skipped = skipFor(name, c.bytes, 'bytes');
        if (skipped !== undefined) { results.push({ ...base, skipped }); continue; }
        const be = o.backend!;
        const t = await failed(() => timeOnBackend(be, c.inputs, (hs) => c.run(be, hs),
          (y) => c.check(`${id} ${rname} on ${name}`, y, TOLERANCES[o.entry.tolerance]), budget, undefined, opts.engine));
        if (typeof t === 'string') { results.push({ ...base, skipped: t }); log(line(results.at(-1)!)); continue; }
        results.push(record(base, t, (ms) => ({ gbps: gbps(c.bytes, ms) })));
        speed.add(`${name}:bytes`, c.bytes, t.steadyMs.length > 0 ? results.at(-1)!.timing!.medianMs : t.firstMs);
        log(line(results.at(-1)!));
      }
    }

    results.push(...await detectCases(res, budget, { ...opts, deadline: Math.max(resDeadline, performance.now() + 5000) }));
  }
  return results;
}

function record(base: KernelResult, t: Timed, rate: (ms: number) => Partial<KernelResult>): KernelResult {
  const check = recordCheck(t.check);
  if (!check.ok) return { ...base, check, skipped: `failed validation: ${check.message}` };
  const timing = summarize(t.firstMs, t.steadyMs);
  return { ...base, check, timing, ...rate(t.steadyMs.length > 0 ? timing.medianMs : t.firstMs) };
}

export function line(r: KernelResult): string {
  const head = `${r.resolution.padEnd(9)} ${r.backend.padEnd(16)} ${r.id.padEnd(34)}`;
  if (r.skipped !== undefined) return `${head} skipped: ${r.skipped}`;
  const t = r.timing!;
  const rate = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '';
  const prep = r.prepareMs !== undefined ? `prepare ${r.prepareMs.toFixed(2)} ms, ` : '';
  return `${head} ${prep}first ${t.firstMs.toFixed(2)} ms, median ${t.medianMs.toFixed(3)} ms (n ${t.samples}, spread ${(100 * t.spread).toFixed(0)} %) ${rate}`;
}

type PriorsFn = (h: number, w: number) => Float32Array;
type DecodeFn = (loc: Tensor, priors: Float32Array, size: { height: number; width: number }) => Float32Array;
type NmsFn = (boxes: Float32Array, scores: Float32Array, thresh: number) => number[];

/**
 * The CPU-only post-processing (src/detect): priors, decode, NMS. They are the reference
 * themselves (no other backend runs them), so there is nothing to check them against here;
 * test/detect checks them against the PyTorch pipeline. priorBoxes caches per size: its first
 * call is the generation, the steady state a cache hit.
 */
async function detectCases(res: Resolution, budget: Budget, opts: KernelOptions): Promise<KernelResult[]> {
  const rname = resolutionName(res);
  const base = (id: string, op: KernelResult['op'], inShape: number[]): KernelResult => ({ id, op, resolution: rname, backend: 'cpu (src/detect)', inShape });
  const wanted = [['priors', 'priors (A, 4)'], ['decode', 'decode boxes (A, 4)'], ['nms', 'nms top 5000, IoU 0.4']] as const;
  let priors: PriorsFn, decode: DecodeFn, nms: NmsFn;
  try {
    priors = fn<PriorsFn>(await optionalModule('detect/priors'), 'priorBoxes');
    decode = fn<DecodeFn>(await optionalModule('detect/decode'), 'decodeBoxes');
    nms = fn<NmsFn>(await optionalModule('detect/nms'), 'nms');
  } catch (e) {
    const why = e instanceof Unavailable ? e.message : String(e);
    return wanted.filter(([, id]) => opts.only(id)).map(([op, id]) => ({ ...base(id, op, [res.height, res.width]), skipped: why }));
  }
  const plan = { minSamples: budget.minSamples, maxSamples: budget.maxSamples, budgetMs: budget.caseSeconds * 1000 };
  const out: KernelResult[] = [];
  const anchors = priors(res.height, res.width).length / 4;
  const loc = randomTensor([anchors, 4], SEED + 3, -1, 1);
  const p = priors(res.height, res.width);
  const jobs: [KernelResult['op'], string, number[], () => unknown, number][] = [
    ['priors', wanted[0][1], [res.height, res.width], () => priors(res.height, res.width), bytesOf([anchors, 4])],
    ['decode', wanted[1][1], [anchors, 4], () => decode(loc, p, res), bytesOf([anchors, 4], [anchors, 4], [anchors, 4])],
  ];
  const n = Math.min(5000, anchors);
  const boxes = decode(loc, p, res).slice(0, 4 * n);
  const scores = randomTensor([n], SEED + 4, 0, 1).data;
  jobs.push(['nms', wanted[2][1], [n, 4], () => nms(boxes, scores, 0.4), bytesOf([n, 5])]);
  for (const [op, id, inShape, run, bytes] of jobs) {
    if (!opts.only(id)) continue;
    if (performance.now() > opts.deadline) { out.push({ ...base(id, op, inShape), skipped: 'kernel section deadline reached' }); continue; }
    const first = await timeCall(run);
    const steady = await steadySampler(opts.engine)(run, plan);
    const timing = summarize(first.ms, steady);
    out.push({ ...base(id, op, inShape), bytes, timing, gbps: gbps(bytes, timing.medianMs), check: { ok: true, compared: 'reference (CPU only)', maxAbsError: 0 } });
    opts.log(line(out.at(-1)!));
  }
  return out;
}

function fn<T>(mod: Record<string, unknown>, name: string): T {
  if (typeof mod[name] !== 'function') throw new Unavailable(`src/detect exports no ${name}`);
  return mod[name] as T;
}
