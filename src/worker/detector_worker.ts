// The detector worker: a module Web Worker that owns one detector, so that a page's forward
// passes never block its main thread. worker_detector.ts (the page's side) starts it as
//
//   new Worker(new URL('./detector_worker.js', import.meta.url), { type: 'module' })
//
// and speaks protocol.ts to it: load (weights + backend), detect (an image in, faces out),
// probe (which backends run in this worker), dispose. Images arrive as ImageBitmap or VideoFrame
// (transferred: this side closes them once read), ImageData / pixels, or encoded bytes.
import { loadDetector } from '../browser.js';
import { probeBackends } from '../backends/availability.js';
import { RetinaFaceError } from '../errors.js';
import { domSourceKind } from '../image/dom_source.js';
import type { RetinaFaceDetector } from '../detector.js';
import type { ErrorData, Reply, Request } from './protocol.js';

interface WorkerScope {
  postMessage(message: Reply): void;
  addEventListener(type: 'message', listener: (e: { data: Request }) => void): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

let detector: RetinaFaceDetector | null = null;
let closed = false;
/** One request at a time, in arrival order. */
let queue: Promise<void> = Promise.resolve();

function errorData(e: unknown): ErrorData {
  if (e instanceof RetinaFaceError) return { name: e.name, message: e.message, code: e.code, ...(e.file === undefined ? {} : { file: e.file }) };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** Frees a transferred frame once it has been read (an ImageBitmap or VideoFrame holds GPU memory). */
function closeTransferred(image: unknown): void {
  const kind = domSourceKind(image);
  if (kind === 'ImageBitmap' || kind === 'VideoFrame') (image as { close(): void }).close();
}

async function handle(req: Request): Promise<void> {
  const reply = (result: Extract<Reply, { ok: true }>['result']) => scope.postMessage({ id: req.id, ok: true, result });
  try {
    if (closed) throw new RetinaFaceError('the detector was disposed', { code: 'EDISPOSED' });
    switch (req.op) {
      case 'load': {
        detector?.dispose();
        detector = null;
        const d = await loadDetector(req.weights, { ...req.options, onProgress: (progress) => scope.postMessage({ id: req.id, progress }) });
        detector = d;
        const { tensors: _, ...weights } = d.weights;
        const threads = (d.backend as { threads?: unknown }).threads;
        reply({ arch: d.arch, backendName: d.backendName, backendWhy: d.backendWhy, threads: typeof threads === 'number' ? threads : 0, weights });
        return;
      }
      case 'detect': {
        try {
          if (detector === null) throw new RetinaFaceError('no detector loaded in this worker', { code: 'ESTATE' });
          // The raw outputs stay here: read into the detector's reused arrays, not sent back.
          reply(await detector.detectDetailed(req.image, { ...req.options, raw: false }, req.name));
        } finally {
          closeTransferred(req.image);
        }
        return;
      }
      case 'probe':
        reply(await probeBackends());
        return;
      case 'dispose':
        detector?.dispose();
        detector = null;
        closed = true;
        reply(null);
        scope.close();
        return;
    }
  } catch (e) {
    scope.postMessage({ id: req.id, ok: false, error: errorData(e) });
  }
}

scope.addEventListener('message', (e) => {
  queue = queue.then(() => handle(e.data));
});
