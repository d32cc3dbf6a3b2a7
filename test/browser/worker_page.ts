// The detector worker (issue 23, item 4), driven from a page as a user would: the prebuilt
// bundle's loadWorkerDetector (dist/browser/retinaface.js, its worker dist/browser/detector_worker.js
// beside it), images of every kind handed over, errors crossing back, and the main thread's own
// timer ticking while the worker runs a forward pass. Exposes window.workerPage for
// test/browser_worker.test.ts.
import type * as Lib from '../../src/browser.js';
import type { Face } from '../../src/detect/postprocess.js';

const BUNDLE = '/dist/browser/retinaface.js';
const lib = async () => (await import(BUNDLE as string)) as typeof Lib;

export interface InputResult {
  kind: string;
  faces: Face[];
  /** what the caller's object looks like afterwards: 'kept' (copied) or 'handed over' (detached) */
  after: string;
  error?: string;
}

export interface RunResult {
  backend: string;
  why: string;
  threads: number;
  arch: string;
  progressCalls: number;
  results: InputResult[];
}

async function run(weightsUrl: string, pngUrl: string, backend: Lib.BackendSpec | undefined): Promise<RunResult> {
  const { loadWorkerDetector } = await lib();
  const png = new Uint8Array(await (await fetch(pngUrl)).arrayBuffer());
  let progressCalls = 0;
  const detector = await loadWorkerDetector(weightsUrl, { ...(backend === undefined ? {} : { backend }), onProgress: () => { progressCalls++; } });
  const blob = new Blob([png], { type: 'image/png' });
  const img = new Image();
  img.src = URL.createObjectURL(blob);
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(img, 0, 0);
  const cases: [string, () => Promise<{ input: unknown; opts?: Lib.WorkerDetectCallOptions; after: () => string }>][] = [
    ['PNG bytes, copied', async () => {
      const bytes = png.slice();
      return { input: bytes, after: () => (bytes.byteLength === png.byteLength ? 'kept' : 'handed over') };
    }],
    ['PNG bytes, transfer: true', async () => {
      const bytes = png.slice();
      return { input: bytes, opts: { transfer: true }, after: () => (bytes.byteLength === png.byteLength ? 'kept' : 'handed over') };
    }],
    ['ImageBitmap', async () => {
      const bitmap = await createImageBitmap(blob);
      return { input: bitmap, after: () => (bitmap.width === img.naturalWidth ? 'kept' : 'handed over') };
    }],
    ['ImageData', async () => {
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
      return { input: data, after: () => (data.data.byteLength > 0 ? 'kept' : 'handed over') };
    }],
    ['HTMLCanvasElement', async () => ({ input: canvas, after: () => (canvas.width === img.naturalWidth ? 'kept' : 'handed over') })],
    ['HTMLImageElement', async () => ({ input: img, after: () => (img.naturalWidth > 0 ? 'kept' : 'handed over') })],
  ];
  const results: InputResult[] = [];
  try {
    for (const [kind, make] of cases) {
      const c = await make();
      try {
        const faces = await detector.detect(c.input as Lib.ImageInput, { visThreshold: 0, ...c.opts });
        results.push({ kind, faces, after: c.after() });
      } catch (e) {
        results.push({ kind, faces: [], after: c.after(), error: String((e as Error).message) });
      }
    }
    return { backend: detector.backendName, why: detector.backendWhy, threads: detector.threads, arch: detector.arch, progressCalls, results };
  } finally {
    detector.dispose();
  }
}

/**
 * One forward pass in the worker while this thread keeps a zero-delay timer going: how many
 * times it ran and its longest gap. A forward pass on this thread would hold the timer for its
 * whole length.
 */
async function responsive(weightsUrl: string, imageUrl: string): Promise<{ forwardMs: number; waitedMs: number; ticks: number; maxGapMs: number; faces: number }> {
  const { loadWorkerDetector } = await lib();
  const bytes = new Uint8Array(await (await fetch(imageUrl)).arrayBuffer());
  const detector = await loadWorkerDetector(weightsUrl, { backend: 'cpu' });
  try {
    await detector.detect(bytes); // warm-up: kernels and buffers at this size
    let ticks = 0;
    let maxGapMs = 0;
    let last = performance.now();
    let ticking = true;
    const tick = () => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      ticks++;
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const t0 = performance.now();
    const det = await detector.detectDetailed(bytes);
    const waitedMs = performance.now() - t0;
    ticking = false;
    return { forwardMs: det.timings.forward, waitedMs, ticks, maxGapMs, faces: det.faces.length };
  } finally {
    detector.dispose();
  }
}

/** What a page gets when things go wrong: one error each, with its code and message. */
async function refusals(weightsUrl: string): Promise<string[]> {
  const { loadWorkerDetector, RetinaFaceError } = await lib();
  const line = (label: string, e: unknown) =>
    `${label}: ${e instanceof RetinaFaceError ? `${e.code} ${e.message}` : `NOT a RetinaFaceError: ${String(e)}`}`;
  const out: string[] = [];
  out.push(line('missing weights', await loadWorkerDetector('/no/such/weights.safetensors').then(() => null, (e: unknown) => e)));
  out.push(line('missing worker script', await loadWorkerDetector(weightsUrl, { workerUrl: '/no/such/worker.js' }).then(() => null, (e: unknown) => e)));
  const d = await loadWorkerDetector(weightsUrl, { backend: 'cpu' });
  const corrupt = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  out.push(line('corrupt PNG', await d.detect(corrupt).then(() => null, (e: unknown) => e)));
  out.push(line('a string', await d.detect('photo.jpg' as unknown as Lib.ImageInput).then(() => null, (e: unknown) => e)));
  // refused on the page, before an ImageBitmap is handed over (a transferred one is closed here)
  const bitmap = await createImageBitmap(new ImageData(4, 3));
  const refused = await d.detectDetailed(bitmap, { raw: true } as unknown as Lib.WorkerDetectCallOptions).then(() => null, (e: unknown) => e);
  out.push(`${line('raw outputs asked of a worker', refused)}; the bitmap still ${bitmap.width}x${bitmap.height}`);
  // detect() takes no raw option, as Detector.detect() does not
  const rawToDetect = await d.detect(bitmap, { raw: false } as unknown as Omit<Lib.WorkerDetectCallOptions, 'raw'>).then(() => null, (e: unknown) => e);
  out.push(`${line('raw given to detect()', rawToDetect)}; the bitmap still ${bitmap.width}x${bitmap.height}`);
  d.dispose();
  out.push(line('after dispose', await d.detect(corrupt).then(() => null, (e: unknown) => e)));
  return out;
}

/** One detection of the PNG's bytes on `backend` in the worker (for the gpu.js modes, whose kernels are slow to compile). */
async function single(weightsUrl: string, pngUrl: string, backend: Lib.BackendSpec): Promise<{ backend: string; faces: Face[] }> {
  const { loadWorkerDetector } = await lib();
  const png = new Uint8Array(await (await fetch(pngUrl)).arrayBuffer());
  const detector = await loadWorkerDetector(weightsUrl, { backend });
  try {
    return { backend: detector.backendName, faces: await detector.detect(png, { visThreshold: 0 }) };
  } finally {
    detector.dispose();
  }
}

async function probe(): Promise<Lib.BackendAvailability[]> {
  return (await lib()).probeWorkerBackends();
}

(globalThis as unknown as { workerPage: object }).workerPage = { run, single, responsive, refusals, probe };
