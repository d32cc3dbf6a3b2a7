// The Node bench's kernel section: the suite of kernel_suite.ts (every distinct convolution shape
// of both archs, the FPN's upsample + add, SSH's concat + ReLU, the class softmax, each checked
// against the naive CPU loops before it is timed; the kernel page in docs/kernels/ runs the same
// definition) on bench/backends.ts's backends, with benny for short calls, plus the CPU-only
// prior generation, box decoding and NMS at each resolution.
import { numel, type Tensor } from '../src/tensor.js';
import { randomTensor } from '../src/harness/random.js';
import { optionalModule, Unavailable, type Opened } from './backends.js';
import { steadySampler } from './benny.js';
import { SEED, resolutionName, type Budget, type Resolution } from './config.js';
import { line, runKernelCases } from './kernel_suite.js';
import type { KernelResult } from './results.js';
import { gbps, summarize, timeCall, type Engine } from './stats.js';

export { byKindRoundRobin, convShapeCase, kernelCases, line, opCases } from './kernel_suite.js';

const bytesOf = (...shapes: number[][]) => 4 * shapes.reduce((sum, sh) => sum + numel(sh), 0);

export interface KernelOptions {
  budget: Budget;
  only: (caseId: string) => boolean;
  deadline: number;
  log: (line: string) => void;
  /** Steady-state sampler of short calls: benny (benchmark.js) or one call per sample. */
  engine: Engine;
}

/** The suite on every backend that opened, then the CPU post-processing cases, resolution by resolution. */
export async function runKernelSuite(opened: Opened[], opts: KernelOptions): Promise<KernelResult[]> {
  const live = opened.flatMap((o) => (o.backend !== undefined ? [{ name: o.entry.name, tolerance: o.entry.tolerance, backend: o.backend }] : []));
  return runKernelCases(live, {
    ...opts,
    shortCalls: steadySampler(opts.engine),
    after: (res, resDeadline) => detectCases(res, opts.budget, { ...opts, deadline: Math.max(resDeadline, performance.now() + 5000) }),
  });
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
