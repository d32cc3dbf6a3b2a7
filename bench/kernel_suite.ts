// The kernel suite's one definition, run by the Node bench (bench/kernels.ts, bench/run.ts) and by
// the in-browser kernel page (docs/kernels/): the case list (every distinct convolution shape of
// both archs, from the network's own trace, bench/shapes.ts; the FPN's upsample + add, SSH's
// concat + ReLU, the class softmax) and check-then-time on each backend. The cases are the
// harness's (src/harness/cases.ts: the same constructors as the tests' grid, at the network's
// shapes), each checked against the naive CPU loops with the backend's tolerance
// (src/harness/tolerances.ts) before it is timed; a failed check is reported and not timed. A
// large convolution's reference covers a spread of its output channels
// (src/harness/conv_reference.ts). No node: modules here (a page bundles this file): what differs
// between Node and a page (benny's sampler, the CPU post-processing cases) comes in as options.
import type { Backend } from '../src/backend.js';
import { Module } from '../src/model/modules.js';
import { catCase, catRowsCase, convCase, upsampleAddCase, type OpCase } from '../src/harness/cases.js';
import type { Check } from '../src/harness/compare.js';
import { TOLERANCES, type ToleranceKey } from '../src/harness/tolerances.js';
import { numel, type Tensor } from '../src/tensor.js';
import { BENNY_BELOW_MS, SEED, resolutionName, type Budget, type Resolution } from './config.js';
import { recordCheck, type KernelResult } from './results.js';
import { distinctConvShapes, pyramidLevel, traceNetwork, type ConvShape } from './shapes.js';
import { gbps, gflops, sampleSteady, summarize, timeCall, type Sampler } from './stats.js';

/**
 * One row of the kernel tables at one resolution. `make()` builds the harness's case (seeded
 * inputs and weights; a fresh one per call): the list itself costs only the network's trace.
 */
export interface KernelCase {
  id: string;
  op: KernelResult['op'];
  inShape: number[];
  /** A convolution's multiply-accumulates (reported as GFLOP/s); the other ops report GB/s of their case's bytes. */
  macs?: number;
  make(): OpCase;
}

/** The convolution of a layer shape at this resolution, as the harness builds it (the reference on `validationMacs` worth of channels). */
export function convShapeCase(shape: ConvShape, seed: number, validationMacs: number): OpCase {
  const [, h, w] = shape.inShape;
  return convCase(shape, h, w, seed, validationMacs);
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

/** FPN upsample + add, SSH concat + ReLU and the class softmax, at this resolution, from the traced network. */
export function opCases(res: Resolution): KernelCase[] {
  const cases: KernelCase[] = [];
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
        const s = seed;
        cases.push({ id: `upsample+add ${top[0]}ch @1/${pyramidLevel(res.height, lat[1]!)}`, op: 'upsample+add', inShape: [...lat], make: () => upsampleAddCase(lat, top, s) });
        seed += 2;
      } else if (c.op === 'cat' && c.inShapes.length === 3) {
        const id = `cat+relu ${c.inShapes.map((sh) => sh[0]).join('+')}ch @1/${pyramidLevel(res.height, c.outShape[1]!)}`;
        if (seen.has(id)) return;
        seen.add(id);
        const s = seed;
        cases.push({ id, op: 'cat', inShape: [...c.inShapes[0]!], make: () => catCase(c.inShapes, 0, s) });
        seed += 3;
      } else if (c.op === 'softmax') {
        // Backends upload (C, H, W) maps only, so the (A, 2) rows come from a class head's output at
        // stride 8 (2 anchors x 2 classes per cell), permuted as in the network, then softmaxed.
        const id = 'head permute + softmax (A, 2) @1/8';
        if (seen.has(id)) return;
        seen.add(id);
        const level = calls.flatMap((k) => (k.op === 'headPermute' && k.inShapes[0]![0] === 4 ? [k.inShapes[0]!] : [])).sort((a, b) => numel(b) - numel(a))[0]!;
        const s = seed++;
        cases.push({ id, op: 'softmax', inShape: [...level], make: () => catRowsCase([level], 2, true, s) });
      }
    });
  }
  return cases;
}

/** Every case of the suite at this resolution, in the order they run: the convolutions (by kind, round robin), then opCases. */
export function kernelCases(res: Resolution, validationMacs: number): KernelCase[] {
  let seed = SEED + 1000;
  const convs = byKindRoundRobin(distinctConvShapes(res)).map((shape): KernelCase => {
    const s = ++seed;
    return { id: shape.id, op: 'conv', inShape: shape.inShape, macs: shape.macs, make: () => convShapeCase(shape, s, validationMacs) };
  });
  return [...convs, ...opCases(res)];
}

/** A backend the suite runs on: its name in the tables, its row of the tolerance table, the backend itself. */
export interface SuiteBackend {
  name: string;
  tolerance: ToleranceKey;
  backend: Backend<unknown>;
}

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

export interface SuiteOptions {
  /** The resolutions and the per-case budget (minSamples, maxSamples, caseSeconds, maxCallSeconds, validationMacs). */
  budget: Budget;
  only: (caseId: string) => boolean;
  /** performance.now() after which no case starts: each resolution gets an equal share of the time left. */
  deadline: number;
  log: (line: string) => void;
  /**
   * Steady-state sampler of calls whose first run took under BENNY_BELOW_MS (many calls averaged
   * per sample: benny in Node, stats.ts sampleBatched in a page); longer calls are timed one call
   * per sample (sampleSteady) everywhere.
   */
  shortCalls: Sampler;
  /** Each result as it is recorded, awaited (the page draws its live tables and progress bar here). */
  onResult?: (r: KernelResult) => void | Promise<void>;
  /** When it returns true, every cell not yet run is recorded as skipped ('stopped'). */
  stopped?: () => boolean;
  /** After each resolution's cases, with that resolution's deadline: more cells (Node: the CPU post-processing). */
  after?: (res: Resolution, deadline: number) => Promise<KernelResult[]>;
}

interface Timed {
  check: Check;
  firstMs: number;
  steadyMs: number[];
}

/** First call (prepare + upload excluded, op + read back included), check, then steady samples. */
async function timeOnBackend<T>(
  be: Backend<T>, inputs: readonly Tensor[], run: (xs: T[]) => T, check: (y: Tensor) => Check, budget: Budget, est: number | undefined, shortCalls: Sampler,
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
    // Sub-millisecond calls need many calls averaged per sample; a longer call is timed one call
    // per sample, where the repetitions would only spend the budget.
    const sampler = first.ms < BENNY_BELOW_MS ? shortCalls : sampleSteady;
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

/** A model without layers: what a backend is prepared with before it runs ops that have none. */
class NoLayers extends Module {}

/** The number of cells runKernelCases records for these backends (every planned cell gives one result, timed or skipped). */
export function countCells(budget: Budget, only: (caseId: string) => boolean, backends: number): number {
  return budget.resolutions.reduce((n, res) => n + kernelCases(res, budget.validationMacs).filter((c) => only(c.id)).length * backends, 0);
}

/** Every case of kernelCases (those `only` keeps) on every backend at every resolution of the budget, each checked and then timed. */
export async function runKernelCases(backends: readonly SuiteBackend[], opts: SuiteOptions): Promise<KernelResult[]> {
  const { budget, log } = opts;
  const results: KernelResult[] = [];
  const push = async (r: KernelResult, print = true) => {
    results.push(r);
    if (print) log(line(r));
    await opts.onResult?.(r);
  };
  const speed = new Throughput();
  // The ops without layers (upsample+add, cat, softmax) run only on a prepared backend (cpu-simd
  // starts its arena and threads in prepare()); a convolution case prepares its own layer. Should
  // this fail, each case records the backend's error.
  for (const { backend } of backends) await failed(() => backend.prepare(new NoLayers()));
  for (const [i, res] of budget.resolutions.entries()) {
    const rname = resolutionName(res);
    // Each resolution gets an equal share of the time left, so that the large ones are not starved.
    const resDeadline = performance.now() + (opts.deadline - performance.now()) / (budget.resolutions.length - i);
    const skipFor = (be: string, units: number, key: string): string | undefined => {
      if (opts.stopped?.() === true) return 'stopped';
      if (performance.now() > resDeadline) return 'this resolution\'s share of the kernel section deadline reached';
      const est = speed.predict(`${be}:${key}`, units);
      if (est !== undefined && est > budget.maxCallSeconds * 1000) {
        return `predicted ${(est / 1000).toFixed(1)} s per call from this backend's measured rate > cap ${budget.maxCallSeconds} s`;
      }
      return undefined;
    };

    for (const k of kernelCases(res, budget.validationMacs)) {
      if (!opts.only(k.id)) continue;
      // One case per row: the naive reference is computed once, on the first backend that checks it.
      let c: OpCase | undefined;
      const conv = k.macs !== undefined;
      const unit = conv ? 'macs' : 'bytes';
      for (const { name, tolerance, backend: be } of backends) {
        const units = conv ? k.macs! : (c ??= k.make()).bytes;
        const base: KernelResult = { id: k.id, op: k.op, resolution: rname, backend: name, inShape: k.inShape, ...(conv ? { macs: k.macs! } : { bytes: units }) };
        const skipped = skipFor(name, units, unit);
        if (skipped !== undefined) { await push({ ...base, skipped }, false); continue; }
        const kc = c ??= k.make();
        if (conv) base.prepareMs = (await timeCall(() => be.prepare(kc.model!))).ms;
        const t = await failed(() => timeOnBackend(be, kc.inputs, (hs) => kc.run(be, hs),
          (y) => kc.check(`${k.id} ${rname} on ${name}`, y, TOLERANCES[tolerance]),
          budget, conv ? speed.predict(`${name}:macs`, units) : undefined, opts.shortCalls));
        if (typeof t === 'string') { await push({ ...base, skipped: t }); continue; }
        const r = record(base, t, (ms) => (conv ? { gflops: gflops(units, ms) } : { gbps: gbps(units, ms) }));
        speed.add(`${name}:${unit}`, units, t.steadyMs.length > 0 ? r.timing!.medianMs : t.firstMs);
        await push(r);
      }
    }

    if (opts.after !== undefined) for (const r of await opts.after(res, resDeadline)) await push(r, false);
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
