// Timing: the first call (compile, upload, allocation) kept apart from the steady state, whose
// median and spread are reported. Nothing here asserts a duration; tests check the arithmetic.
import { performance } from 'node:perf_hooks';

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

/** Steady-state samples of fn (the first call must already have run). */
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
 * Steady-state samples through benny (benchmark.js underneath): each sample is the mean of as
 * many calls as benchmark.js needs for a clean reading, so sub-millisecond kernels get a
 * resolution our one-call-per-sample loop cannot give. benny announces every suite on
 * console.log; that one line per case is silenced here, the harness prints its own.
 */
export async function sampleWithBenny(fn: () => unknown, plan: SamplePlan): Promise<number[]> {
  const benny = await import('benny');
  const log = console.log;
  console.log = () => {};
  try {
    const summary = await benny.suite('case',
      benny.add('case', () => async () => { await fn(); }),
      benny.configure({ cases: { minSamples: plan.minSamples, maxTime: plan.budgetMs / 1000, delay: 0, initCount: 1 } }));
    return summary.results[0]!.details.sampleResults.map((s) => s * 1000);
  } finally {
    console.log = log;
  }
}

export type Engine = 'benny' | 'plain';
export const steadySampler = (engine: Engine) => (engine === 'benny' ? sampleWithBenny : sampleSteady);
