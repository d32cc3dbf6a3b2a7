// The messages between a page and its detector worker (detector_worker.ts runs in the worker,
// worker_detector.ts is the page's side). Every request carries an id; the worker answers each
// with exactly one reply of that id (ok or error), after any progress messages for it. The
// worker handles requests one at a time, in the order they arrive.
import type { BackendAvailability } from '../backends/availability.js';
import type { DetectCallOptions, DetectionSummary, ImageInput } from '../detector.js';
import type { Arch } from '../model/config.js';
import type { BackendSpec } from '../backend.js';
import type { FetchedWeights, WeightsProgress } from '../weights/fetch.js';

/** What a worker's detector is loaded with (the page's LoadDetectorOptions that can cross a thread). */
export interface WorkerLoadOptions {
  arch?: Arch;
  backend?: BackendSpec;
  threads?: number;
  sha256?: string;
  maxBytes?: number;
}

/** The weights as the worker can receive them: an absolute URL (resolved by the page), bytes, or a Blob/File. */
export type WorkerWeights = string | ArrayBuffer | Uint8Array | Blob;

export type Request =
  | { id: number; op: 'load'; weights: WorkerWeights; options: WorkerLoadOptions }
  | { id: number; op: 'detect'; image: ImageInput; options: DetectCallOptions; name: string }
  | { id: number; op: 'probe' }
  | { id: number; op: 'dispose' };

/** What the page learns about the detector the worker loaded. */
export interface LoadedInfo {
  arch: Arch;
  /** the backend that runs, e.g. 'cpu-simd' (never 'auto') */
  backendName: string;
  backendWhy: string;
  /** cpu-simd's worker threads (0 for other backends) */
  threads: number;
  /** the weights file's description, without its tensors (they live in the worker) */
  weights: Omit<FetchedWeights, 'tensors'>;
}

/** A detection as it crosses back: everything but the network's raw outputs. */
export type WorkerDetection = DetectionSummary;

/** A RetinaFaceError (or any error) flattened for postMessage. */
export interface ErrorData {
  name: string;
  message: string;
  code?: string;
  file?: string;
}

export type Reply =
  | { id: number; progress: WeightsProgress }
  | { id: number; ok: true; result: LoadedInfo | WorkerDetection | BackendAvailability[] | null }
  | { id: number; ok: false; error: ErrorData };
