// Timing: the first call (compile, upload, allocation) kept apart from the steady state, whose
// median and spread are reported. Nothing here asserts a duration; tests check the arithmetic.
// No node: modules (the kernel page bundles this file): `performance` is the global of Node and
// of pages; benny's sampler, Node only, is in benny.ts.
import { BATCH_MIN_MS } from './config.js';

export interface Timing {
  firstMs: number;
  samples: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** (p90 - p10) / median of the steady samples: 0.05 means the runs agree within 5 %. */
  spread: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function summarize(firstMs: number, steadyMs: readonly number[]): Timing {
  const med = median(steadyMs);
  return {
    firstMs,
    samples: steadyMs.length,
    medianMs: med,
    minMs: steadyMs.length > 0 ? Math.min(...steadyMs) : NaN,
    maxMs: steadyMs.length > 0 ? Math.max(...steadyMs) : NaN,
    spread: steadyMs.length > 1 ? (quantile(steadyMs, 0.9) - quantile(steadyMs, 0.1)) / med : 0,
  };
}

export interface SamplePlan {
  minSamples: number;
  maxSamples: number;
  /** Stop once this much steady time has passed and minSamples are in. */
  budgetMs: number;
}

/** Steady-state samples of fn (the first call must already have run), as ms per call. */
export type Sampler = (fn: () => unknown, plan: SamplePlan) => Promise<number[]>;

/** One call per sample. */
export async function sampleSteady(fn: () => unknown, plan: SamplePlan): Promise<number[]> {
  const out: number[] = [];
  const start = performance.now();
  while (out.length < plan.maxSamples && (out.length < plan.minSamples || performance.now() - start < plan.budgetMs)) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export async function timeCall<R>(fn: () => R | Promise<R>): Promise<{ ms: number; value: R }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** GFLOP/s from multiply-accumulates (2 FLOPs each) and milliseconds. */
export const gflops = (macs: number, ms: number): number => (2 * macs) / (ms * 1e6);
/** GB/s from bytes moved and milliseconds. */
export const gbps = (bytes: number, ms: number): number => bytes / (ms * 1e6);

/**
 * Each sample the mean of as many calls as fill BATCH_MIN_MS (doubled until they do): what a
 * sub-millisecond kernel needs where benny is not at hand (a page), as benny averages many calls
 * per sample in Node.
 */
export async function sampleBatched(fn: () => unknown, plan: SamplePlan): Promise<number[]> {
  const out: number[] = [];
  const start = performance.now();
  let calls = 1;
  while (out.length < plan.maxSamples && (out.length < plan.minSamples || performance.now() - start < plan.budgetMs)) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    const ms = performance.now() - t0;
    if (ms < BATCH_MIN_MS && calls < 1 << 16) { calls *= 2; continue; }
    out.push(ms / calls);
  }
  return out;
}

/** The steady-state sampler of the Node bench's kernel suites: benny (benchmark.js, benny.ts) or one call per sample. */
export type Engine = 'benny' | 'plain';
