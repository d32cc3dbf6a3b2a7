// benny (benchmark.js underneath) as the Node bench's sampler of short kernel calls. Apart from
// stats.ts because benny is Node only: the kernel page (docs/kernels/) bundles stats.ts and uses
// its sampleBatched instead.
import { sampleSteady, type Engine, type SamplePlan, type Sampler } from './stats.js';

/**
 * Steady-state samples through benny: each sample is the mean of as many calls as benchmark.js
 * needs for a clean reading, so sub-millisecond kernels get a resolution our one-call-per-sample
 * loop cannot give. benny announces every suite on console.log; that one line per case is
 * silenced here, the harness prints its own.
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

export const steadySampler = (engine: Engine): Sampler => (engine === 'benny' ? sampleWithBenny : sampleSteady);
