// Messages between the benchmark parent and a contestant process (bench/e2e_worker.ts over Node
// IPC, bench/torch/torch_bench.py over JSON lines on stdio). One contestant per process, so that
// its peak RSS is its own and a crashing or leaking backend cannot take the run down.
export type ContestantSpec =
  | { kind: 'ours'; backend: string }
  | { kind: 'onnx-node'; threads: number; model: string }
  | { kind: 'onnx-web'; threads: number; model: string }
  | { kind: 'torch'; threads: number };

export interface InitRequest {
  type: 'init';
  spec: ContestantSpec;
  arch: string;
  /** Tensor file with the weights every contestant uses (ours load it; torch loads it; ONNX has them baked in). */
  weights: string;
  /** Tensor file: `input` (3, H, W) and the expected `loc`, `conf`, `landms`. */
  check: string;
  tolerance: { abs: number; rel: number };
}

export interface RunRequest {
  type: 'run';
  height: number;
  width: number;
  /** Raw float32 (3, H, W), the network input every contestant runs. */
  input: string;
  /** The same image as a JPEG, for our decode + preprocess stages. */
  jpeg?: string;
}

export interface StopRequest {
  type: 'stop';
}

export type Request = InitRequest | RunRequest | StopRequest;

export interface InitReply {
  type: 'init';
  skipped?: string;
  check?: { ok: boolean; compared: string; maxAbsError: number; message?: string };
  /** Stages this contestant cannot time, and why. */
  missingStages?: string;
  /**
   * Forward ms on the check input, to predict the first resolution's: a second call when the
   * first (which compiles kernels) took under CHECK_REPEAT_MS, else the first (an overestimate).
   */
  checkForwardMs?: number;
}

/** Below this, the check's forward pass is run a second time to time it without compilation. */
export const CHECK_REPEAT_MS = 20_000;

/** Milliseconds per stage of one run; a missing stage is one this contestant does not have. */
export interface RunReply {
  type: 'run';
  /**
   * Each stage's ms; forwardAgain: the same forward run once more right after the timed one (the
   * input written again first, untimed), before the postprocess: its threads still awake, as in a
   * stream of frames. Not a stage of the pass (not in its total).
   */
  ms: Partial<Record<'decode' | 'preprocess' | 'forward' | 'postprocess' | 'forwardAgain', number>>;
  error?: string;
}

export interface StopReply {
  type: 'stop';
  peakRssMB: number;
  liveObjects?: number;
}

export type Reply = InitReply | RunReply | StopReply;
