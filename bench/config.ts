// Every constant of the benchmark harness in one place: the resolution grid, the time budgets of
// --quick and --full, the end-to-end tolerance and the external reference figures.
export interface Resolution {
  width: number;
  height: number;
}

export const resolutionName = (r: Resolution): string => `${r.width}x${r.height}`;
export const megapixels = (r: Resolution): number => (r.width * r.height) / 1e6;

/** The grid: 640x640 is the reference's training size (16800 anchors); 2048x1150 the seed's headline. */
export const RESOLUTIONS: readonly Resolution[] = [
  { width: 320, height: 320 },
  { width: 640, height: 640 },
  { width: 1024, height: 624 },
  { width: 1920, height: 1080 },
  { width: 2048, height: 1150 },
  { width: 4096, height: 2300 },
];

/** The sizes the project's targets are stated at: timed first end to end, and the report's headline. */
export const HEADLINE_RESOLUTIONS = ['640x640', '2048x1150'] as const;

/**
 * The peers the headline divides by. End to end they are never capped at a headline resolution
 * (the slowest, onnxruntime-web on 1 thread, took 19-24 s per ResNet-50 forward at 2048x1150 here: a
 * prediction from a smaller size, or a noisy one, must not drop a cell the headline needs).
 */
export const HEADLINE_PEERS = ['onnxruntime-web-1t', 'onnxruntime-web-2t', 'onnxruntime-node-1t', 'onnxruntime-node-2t'] as const;

export type Mode = 'quick' | 'full';

/**
 * How long a mode may spend. A case on a backend runs its first call, then steady calls until
 * maxSamples or until caseSeconds have passed with at least minSamples; it is skipped (with the
 * reason in the JSON) when the backend's measured throughput predicts one call over maxCallSeconds;
 * a section stops starting cases at its deadline (an end-to-end case past it still gets its
 * first call and one steady round), so that --full fits in 30 minutes (20 + 800 + 800 s; a
 * started case may overrun its share, measured at about 50 s per section: with 840 + 840 a run
 * took 1821 s, with these 1684 s) and --quick about 2 on an idle machine, even though the slowest backends cannot
 * run the largest shapes. The kernel section splits its time equally over the resolutions, the
 * end-to-end section over the archs, so none is starved.
 */
export interface Budget {
  resolutions: readonly Resolution[];
  minSamples: number;
  maxSamples: number;
  caseSeconds: number;
  maxCallSeconds: number;
  /** Naive reference MACs per validation (a subset of output channels, see src/harness/conv_reference.ts). */
  validationMacs: number;
  sectionSeconds: { probe: number; kernels: number; e2e: number };
  /** Interleaved rounds per end-to-end case (each contestant runs once per round). */
  rounds: number;
  /** An end-to-end contestant is skipped at a resolution where its predicted forward exceeds this. */
  e2eMaxCallSeconds: number;
  /**
   * Untimed passes per end-to-end contestant after its first call, before the timed rounds: up to
   * `passes`, back to back, for at most `seconds`, from the time the timed rounds leave four times
   * over (e2e.ts planRounds: none where a round is long, as resnet50's). What one resolution spends
   * on it, a later arch no longer gets. Over a process's first calls V8 compiles its hot JavaScript
   * with TurboFan on background threads (ours: the forward's scheduling and the kernels' glue;
   * jpeg-js's decode; the postprocess): `node dist/bench/background.js --passes 120 --pause 3
   * --window 30` counted 121 ms of other threads' CPU in the first 30 forwards at 640x640 on 2
   * threads, on this 2-core VM the core the forward's second thread needs. Every contestant gets
   * the same warm-up; its first call is reported apart (first forward).
   */
  warmup: { passes: number; seconds: number };
}

export const BUDGETS: Record<Mode, Budget> = {
  quick: {
    resolutions: [RESOLUTIONS[0]!],
    minSamples: 3,
    maxSamples: 7,
    caseSeconds: 0.15,
    maxCallSeconds: 0.5,
    validationMacs: 2e7,
    sectionSeconds: { probe: 3, kernels: 30, e2e: 45 },
    rounds: 3,
    e2eMaxCallSeconds: 4,
    warmup: { passes: 3, seconds: 2 },
  },
  full: {
    resolutions: RESOLUTIONS,
    minSamples: 3,
    maxSamples: 9,
    caseSeconds: 0.25,
    maxCallSeconds: 1.5,
    validationMacs: 5e7,
    sectionSeconds: { probe: 20, kernels: 800, e2e: 800 },
    rounds: 11,
    e2eMaxCallSeconds: 40,
    warmup: { passes: 30, seconds: 5 },
  },
};

/**
 * Kernel cases whose first call is under this many ms are sampled by benny (many calls averaged per
 * sample: a 20 us kernel needs that); longer ones one call per sample, as precise at that length
 * and without benny's repetitions, which would spend most of the kernel section's budget.
 */
export const BENNY_BELOW_MS = 2;

/**
 * Where benny is not at hand (the kernel page), a steady sample of such a call is the mean of as
 * many calls as last this long (stats.ts sampleBatched): 200 ticks of a cross-origin isolated
 * page's 5 us clock.
 */
export const BATCH_MIN_MS = 1;

/** Thread counts the multi-threaded contestants run with (ours are single-threaded unless named). */
export const PEER_THREADS: readonly number[] = [1, 2];

/**
 * End-to-end check against PyTorch (or the naive CPU backend): the errors of 50 layers compound,
 * 2e-3 on loc/landms offsets and on softmax scores (O(1) values), still far below a wrong layer's
 * error. The kernel checks use the harness's table, once per backend (src/harness/tolerances.ts).
 */
export const E2E_TOLERANCE = { abs: 2e-3, rel: 2e-3 } as const;

/** The small input every end-to-end contestant is checked on before it is timed (odd sizes on purpose). */
export const CHECK_SIZE: Resolution = { width: 160, height: 123 };

/**
 * Pause (ms) before each timed call of a contestant. onnxruntime's intra-op threads (node and
 * web) keep spinning for tens of ms after a run, on the cores the next contestant needs:
 * `node dist/bench/peer-ab.js --threads 2 --pairs 15 --spin` (2026-12-04, this 2-core VM) timed cpu-simd's 2-thread forward
 * at 640x640 at 22.7 ms alone, 56.9 / 45.8 ms 0 / 10 ms after an onnxruntime-node
 * 2-thread run, 37.2 ms 30 ms after, 27.7 ms 100 ms after. Every contestant gets the same pause.
 */
export const SETTLE_MS = 150;

/** Seed of the random weights and inputs (weights only set activation ranges, not the cost). */
export const SEED = 20240607;

/**
 * An external reference quoted by the project's seed, not measured here: other hardware (an
 * Apple M2 GPU), another runtime (the ailia SDK). Printed as such beside our tables.
 */
export const EXTERNAL_REFERENCE = {
  label: 'ailia SDK on an Apple M2 GPU (external reference quoted by the project seed, not measured here)',
  resolution: { width: 2048, height: 1150 },
  figuresMs: [58.5, 712],
} as const;
