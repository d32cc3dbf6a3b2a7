// The shape of a run's JSON (bench/results/*.json, .cache/bench/*.json): machine, versions,
// thread counts and every figure, which bench/report.ts turns into docs/benchmarks.md.
import type { Check } from './validate.js';
import type { Timing } from './stats.js';

export const SCHEMA_VERSION = 1;

export interface KernelResult {
  /** Row of the kernel table, e.g. 'dense 3x3/1 64->64 @1/8' or 'softmax (A, 2)'. */
  id: string;
  op: 'conv' | 'upsample+add' | 'cat' | 'softmax' | 'priors' | 'decode' | 'nms';
  resolution: string;
  backend: string;
  /** Absent on a cell skipped before it ran (see serializeRun). */
  inShape?: number[];
  /** Multiply-accumulates (convolutions) or bytes read + written (the others). */
  macs?: number;
  bytes?: number;
  check?: Check;
  /** backend.prepare() of the case's layer: batch-norm folding, weight packing or upload. */
  prepareMs?: number;
  /** firstMs: the first op + read back (kernel compilation happens here); then the steady state. */
  timing?: Timing;
  gflops?: number;
  gbps?: number;
  skipped?: string;
}

export type Stage = 'decode' | 'preprocess' | 'forward' | 'postprocess' | 'total';
export const STAGES: readonly Stage[] = ['decode', 'preprocess', 'forward', 'postprocess', 'total'];

export interface E2EResult {
  arch: string;
  resolution: string;
  megapixels: number;
  contestant: string;
  kind: 'ours' | 'peer';
  threads: number;
  stages: Partial<Record<Stage, Timing>>;
  /** Stages this contestant does not have (a peer has no decode) or that are not on this branch. */
  missingStages?: string;
  macs: number;
  peakRssMB?: number;
  liveObjects?: number;
  check?: Check;
  skipped?: string;
}

export interface Participant {
  name: string;
  description: string;
  threads: number;
  skipped?: string;
}

export interface ProbeResult {
  scalarGflops1t: number;
  simdGflops1t: number;
  scalarGflopsAll: number;
  simdGflopsAll: number;
  threads: number;
}

export interface RunResult {
  schema: number;
  mode: 'quick' | 'full';
  started: string;
  durationS: number;
  command: string;
  machine: { cpu: string; cores: number; memoryGB: number; os: string; hostHash: string };
  versions: Record<string, string>;
  probe?: ProbeResult;
  backends: Participant[];
  peers: Participant[];
  kernels: KernelResult[];
  e2e: E2EResult[];
  notes: string[];
}

/**
 * The run as the JSON file it is written to: one line, every fraction to 5 significant digits
 * (far below the run's own noise), and a kernel cell skipped before it ran (no check) reduced to
 * its row, column, backend and reason: its shape and MACs are those of the same row's timed
 * cells. A full run has ~5000 kernel cells, most of them skipped on the slow backends.
 */
export function serializeRun(run: RunResult): string {
  const slim = {
    ...run,
    kernels: run.kernels.map((k) => (k.skipped !== undefined && k.check === undefined
      ? { id: k.id, op: k.op, resolution: k.resolution, backend: k.backend, skipped: k.skipped } : k)),
  };
  return JSON.stringify(slim, (_key, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(5)) : v)) + '\n';
}
