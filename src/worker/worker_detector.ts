// Detection off the main thread: a detector that lives in a module Web Worker
// (detector_worker.ts), driven from the page through the same calls as RetinaFaceDetector.
//
//   import { loadWorkerDetector } from 'retinaface-ts/browser';
//   const detector = await loadWorkerDetector('retinaface-mobile0.25.safetensors');
//   const faces = await detector.detect(await createImageBitmap(video)); // the bitmap is handed over
//   detector.dispose(); // ends the worker
//
// Images: an ImageBitmap or VideoFrame is transferred (the worker reads and closes it; the
// caller's handle is then detached); an <img>, <video>, <canvas> or OffscreenCanvas is first
// made an ImageBitmap here (cheap: no pixels are read on this thread); ImageData, pixels and
// encoded bytes are copied, or handed over with { transfer: true }. A relative weights URL is
// resolved against the page, not the worker script.
import type { BackendAvailability } from '../backends/availability.js';
import type { DetectCallOptions, ImageInput } from '../detector.js';
import { domSourceKind } from '../image/dom_source.js';
import type { Face } from '../detect/postprocess.js';
import { RetinaFaceError } from '../errors.js';
import type { Arch } from '../model/config.js';
import type { FetchedWeights, WeightsProgress, WeightsSource } from '../weights/fetch.js';
import type { ErrorData, LoadedInfo, Reply, Request, WorkerDetection, WorkerLoadOptions, WorkerWeights } from './protocol.js';

export type { WorkerDetection } from './protocol.js';

/** The few members of the DOM's Worker this file uses (the Node typings carry no DOM library). */
interface WorkerLike {
  postMessage(message: Request, transfer: unknown[]): void;
  addEventListener(type: 'message', listener: (e: { data: Reply }) => void): void;
  addEventListener(type: 'error', listener: (e: { message?: string; preventDefault(): void }) => void): void;
  addEventListener(type: 'messageerror', listener: () => void): void;
  terminate(): void;
}
type WorkerCtor = new (url: URL | string, opts: { type: 'module'; name?: string }) => WorkerLike;

export interface WorkerDetectorOptions extends WorkerLoadOptions {
  /** Called as the weights arrive (URL sources), on this thread. */
  onProgress?: (p: WeightsProgress) => void;
  /**
   * The worker script, when a bundler or server moved it: default detector_worker.js beside
   * this module (dist/browser/detector_worker.js in the prebuilt bundle).
   */
  workerUrl?: string | URL;
}

/** detect()'s options, less onTile (a function cannot be posted to the worker). */
export interface WorkerDetectCallOptions extends Omit<DetectCallOptions, 'onTile'> {
  /**
   * Hand the pixel or byte buffer of an ImageData, pixels or bytes over to the worker instead of
   * copying it (the caller's buffer is detached afterwards). ImageBitmaps and VideoFrames are
   * always handed over.
   */
  transfer?: boolean;
  /**
   * A worker hands back no raw outputs: they stay in the worker, read into the arrays its detector
   * reuses (detectDetailed's raw: false). false or left out; true is refused (EOPTION).
   */
  raw?: false;
}

const WORKER_ERROR = 'EWORKER';

function errorFrom(d: ErrorData): Error {
  if (d.name !== 'RetinaFaceError') {
    const e = new Error(d.message);
    e.name = d.name;
    return e;
  }
  const e = new RetinaFaceError(d.message, { code: d.code ?? 'EINVAL' });
  // The message already starts with the file; keep the field for callers that read it.
  if (d.file !== undefined) (e as { file: string | undefined }).file = d.file;
  return e;
}

/** Starts the module worker: `new Worker(new URL(...), { type: 'module' })` as bundlers recognise it. */
function startWorker(workerUrl: string | URL | undefined): WorkerLike {
  const W = (globalThis as { Worker?: WorkerCtor }).Worker;
  if (W === undefined) throw new RetinaFaceError('this runtime has no Web Worker (use loadDetector on this thread instead)', { code: WORKER_ERROR });
  return workerUrl !== undefined
    ? new W(workerUrl, { type: 'module', name: 'retinaface' })
    : new W(new URL('./detector_worker.js', import.meta.url), { type: 'module', name: 'retinaface' });
}

/** One worker and its pending requests. */
class Channel {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: (p: WeightsProgress) => void }>();
  private failure: Error | null = null;

  constructor(readonly worker: WorkerLike) {
    worker.addEventListener('message', (e) => {
      const m = e.data;
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      if ('progress' in m) {
        p.onProgress?.(m.progress);
        return;
      }
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(errorFrom(m.error));
    });
    // A worker that fails to start (script missing, a CSP refusing workers or its WebAssembly)
    // or dies: every request in flight, and every later one, fails with one line.
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      this.fail(new RetinaFaceError(`the detector worker failed: ${e.message ?? 'its script did not load (check workerUrl, and the page\'s Content-Security-Policy worker-src)'}`, { code: WORKER_ERROR }));
    });
    worker.addEventListener('messageerror', () => this.fail(new RetinaFaceError('a message from the detector worker could not be read', { code: WORKER_ERROR })));
  }

  fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.worker.terminate();
  }

  request<T>(req: DistributiveOmit<Request, 'id'>, transfer: unknown[] = [], onProgress?: (p: WeightsProgress) => void): Promise<T> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(onProgress === undefined ? {} : { onProgress }) });
      try {
        this.worker.postMessage({ ...req, id } as Request, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(new RetinaFaceError(`cannot send this to the detector worker: ${(e as Error).message}`, { code: 'EINPUT' }));
      }
    });
  }
}
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Weights as the worker can take them: a URL made absolute against the page. */
function workerWeights(w: WeightsSource): WorkerWeights {
  if (typeof w === 'string' || w instanceof URL) {
    const base = (globalThis as { document?: { baseURI?: string }; location?: { href?: string } }).document?.baseURI
      ?? (globalThis as { location?: { href?: string } }).location?.href;
    try {
      return new URL(String(w), base).href;
    } catch {
      throw new RetinaFaceError(`not a URL: ${String(w)}`, { code: 'EOPTION' });
    }
  }
  return w;
}

/** The image as it crosses to the worker, and what to hand over rather than copy. */
async function workerImage(image: ImageInput, transfer: boolean): Promise<[ImageInput, unknown[]]> {
  const kind = domSourceKind(image);
  if (kind === 'ImageBitmap' || kind === 'VideoFrame') return [image, [image]];
  if (kind !== null) {
    const make = (globalThis as { createImageBitmap?: (src: unknown) => Promise<unknown> }).createImageBitmap;
    if (make === undefined) throw new RetinaFaceError(`a ${kind} cannot be sent to a worker here (no createImageBitmap)`, { code: 'EINPUT' });
    let bitmap: unknown;
    try {
      bitmap = await make(image);
    } catch (e) {
      throw new RetinaFaceError(`the ${kind} has no pixels to read yet (${(e as Error).message})`, { code: 'EIMAGE' });
    }
    return [bitmap as ImageInput, [bitmap]];
  }
  if (!transfer) return [image, []];
  if (image instanceof ArrayBuffer) return [image, [image]];
  const data = ArrayBuffer.isView(image) ? image : (image as { data?: unknown }).data;
  return [image, ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer ? [data.buffer] : []];
}

/** A detector in a Web Worker: load with loadWorkerDetector. */
export class WorkerDetector {
  private disposed = false;

  constructor(private readonly channel: Channel, private readonly info: LoadedInfo) {}

  get arch(): Arch {
    return this.info.arch;
  }

  /** The backend that runs in the worker, e.g. 'cpu-simd' (never 'auto'). */
  get backendName(): string {
    return this.info.backendName;
  }

  /** Why that backend: 'requested', or what 'auto' chose and why. */
  get backendWhy(): string {
    return this.info.backendWhy;
  }

  /** cpu-simd's threads inside the worker (0 for other backends). */
  get threads(): number {
    return this.info.threads;
  }

  /** The weights file's description (arch, metadata, size, what was checked). */
  get weights(): Omit<FetchedWeights, 'tensors'> {
    return this.info.weights;
  }

  /**
   * The faces with score >= visThreshold (default 0.6), best first, in the image's pixels. Like
   * Detector.detect(), it takes no `raw` option (EOPTION): that is detectDetailed()'s.
   */
  async detect(image: ImageInput, opts: Omit<WorkerDetectCallOptions, 'raw'> = {}): Promise<Face[]> {
    if (!this.disposed && 'raw' in opts) throw new RetinaFaceError('unknown option raw', { code: 'EOPTION' });
    return (await this.detectDetailed(image, opts)).faces;
  }

  /** faces, candidates, sizes and the time of each stage, measured in the worker. */
  async detectDetailed(image: ImageInput, opts: WorkerDetectCallOptions = {}, name = '<image>'): Promise<WorkerDetection> {
    if (this.disposed) throw new RetinaFaceError('the detector was disposed', { code: 'EDISPOSED' });
    const { transfer = false, raw, ...options } = opts;
    if ('onTile' in options) throw new RetinaFaceError('invalid option onTile: a worker detector cannot call back per tile (functions do not cross to the worker)', { code: 'EOPTION' });
    if (raw !== undefined && raw !== false) throw new RetinaFaceError(`invalid option raw: ${String(raw)} (a worker detector hands back no raw outputs)`, { code: 'EOPTION' });
    const [sent, handOver] = await workerImage(image, transfer);
    return this.channel.request<WorkerDetection>({ op: 'detect', image: sent, options, name }, handOver);
  }

  /** Frees the worker's detector and ends the worker; later calls reject with EDISPOSED. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // The worker disposes its backend (cpu-simd's threads, gpu.js's context), then closes itself.
    void this.channel.request({ op: 'dispose' }).catch(() => undefined).finally(() => this.channel.worker.terminate());
  }
}

/**
 * A detector in a new module Web Worker, its weights loaded there from `weights` (a URL, bytes,
 * or a Blob/File: see fetchWeights) onto `backend` (default 'auto'). Rejects with the worker's
 * own RetinaFaceError (bad weights, a backend that does not run there), or code EWORKER when the
 * worker itself cannot start.
 */
export async function loadWorkerDetector(weights: WeightsSource, opts: WorkerDetectorOptions = {}): Promise<WorkerDetector> {
  const { onProgress, workerUrl, ...options } = opts;
  const channel = new Channel(startWorker(workerUrl));
  try {
    const info = await channel.request<LoadedInfo>({ op: 'load', weights: workerWeights(weights), options }, [], onProgress);
    return new WorkerDetector(channel, info);
  } catch (e) {
    channel.worker.terminate();
    throw e;
  }
}

/** Which backends run inside a detector worker (what a page should offer), from a short-lived worker. */
export async function probeWorkerBackends(opts: { workerUrl?: string | URL } = {}): Promise<BackendAvailability[]> {
  const channel = new Channel(startWorker(opts.workerUrl));
  try {
    return await channel.request<BackendAvailability[]>({ op: 'probe' });
  } finally {
    channel.worker.terminate();
  }
}
