// The demo page (docs/demo/index.html): a photo or the camera in, faces drawn on a canvas at the
// image's own resolution, the time of each stage and the backend that actually ran.
//
// Type-checked against the library's source (src/browser.ts); docs/demo/build.ts bundles it so
// that at run time it imports the browser bundle beside it (lib/retinaface.js), the very file a
// user's page would load. JPEGs are decoded by the library (jpeg-js), so their pixels, and then
// the faces, equal the Node build's; other formats by the browser (createImageBitmap).
//
// The camera mode tracks faces across frames (createTracker): each face keeps an id, drawn on
// its box in a colour of its own; "Smooth" shows the tracker's One Euro-smoothed boxes and
// landmarks, or the raw detections (the ids are the same either way: association uses the raw
// ones); the frames per second are shown.
//
// window.demo exposes the state for the Chromium tests (test/demo.test.ts): the last result, the
// number of forward passes, the camera's frame count, frames per second and track ids, and
// whenIdle() / camera controls.
import * as lib from '../../src/browser.js';
import type { Arch, BackendAvailability, BackendSpec, Face, Pixels, TrackedFace, Tracker, WorkerDetectCallOptions, WorkerDetection } from '../../src/browser.js';
import type { DemoAssets as Assets } from './build.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`demo: #${id} is missing from index.html`);
  return el as T;
};
const ui = {
  file: $<HTMLInputElement>('file'), sample: $<HTMLSelectElement>('sample'), detect: $<HTMLButtonElement>('detect'),
  arch: $<HTMLSelectElement>('arch'), backend: $<HTMLSelectElement>('backend'), inWorker: $<HTMLInputElement>('in-worker'), weightsFile: $<HTMLInputElement>('weights-file'),
  progress: $<HTMLProgressElement>('weights-progress'), threshold: $<HTMLInputElement>('threshold'),
  thresholdValue: $<HTMLOutputElement>('threshold-value'), cameraSize: $<HTMLSelectElement>('camera-size'),
  cameraStart: $<HTMLButtonElement>('camera-start'), cameraStop: $<HTMLButtonElement>('camera-stop'),
  smooth: $<HTMLInputElement>('smooth'), cameraFps: $<HTMLOutputElement>('camera-fps'), frameTime: $<HTMLOutputElement>('frame-time'), status: $<HTMLParagraphElement>('status'), error: $<HTMLParagraphElement>('error'),
  drop: $<HTMLDivElement>('drop'), canvas: $<HTMLCanvasElement>('canvas'), backendUsed: $<HTMLTableCellElement>('backend-used'),
  imageSize: $<HTMLTableCellElement>('image-size'), faces: $<HTMLOListElement>('faces'), faceCount: $<HTMLSpanElement>('face-count'),
  crops: $<HTMLDivElement>('crops'), cropCount: $<HTMLSpanElement>('crop-count'),
};
const ctx = ui.canvas.getContext('2d', { willReadFrequently: true })!;

// ---- state ---------------------------------------------------------------------------------
let assets: Assets = { weights: [], missing: {}, samples: [] };
/** Weights the user loaded from a file, per arch: used instead of the page's own. */
const userWeights = new Map<Arch, File>();
let detector: { key: string; d: DemoDetector } | null = null;
/** The image on the canvas (for redrawing at another threshold) and its name. */
let shown: { image: ImageData; name: string; pixels: Pixels } | null = null;
let last: WorkerDetection | null = null;
let busy: Promise<void> = Promise.resolve();
let forwards = 0;
const camera = { running: false, paused: false, frames: 0, frameMs: 0, fps: 0, loop: null as Promise<void> | null, stream: null as MediaStream | null,
  resume: null as (() => void) | null, video: null as HTMLVideoElement | null, lastStream: null as MediaStream | null,
  tracker: null as Tracker | null, tracked: [] as TrackedFace[], frameTimes: [] as number[] };
/** Frames per second over the last FPS_WINDOW frames: steady enough to read, quick to follow a change. */
const FPS_WINDOW = 10;

// ---- messages -----------------------------------------------------------------------------
function status(text: string): void {
  ui.status.textContent = text;
}
function showError(e: unknown): void {
  const message = e instanceof lib.RetinaFaceError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  ui.error.textContent = message.split('\n')[0]!;
  ui.error.hidden = false;
  status('Stopped on an error (below); the page still works: pick another photo or backend.');
}
function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

/** Runs one task at a time, in order; errors are shown, never thrown to the event handler. */
function serial(task: () => Promise<void>): Promise<void> {
  busy = busy.then(async () => {
    ui.detect.disabled = true;
    try {
      clearError();
      await task();
    } catch (e) {
      showError(e);
    } finally {
      ui.detect.disabled = false;
    }
  });
  return busy;
}

// ---- weights and detector ------------------------------------------------------------------
/**
 * What the page needs of a detector, whether it runs in a Web Worker (loadWorkerDetector, the
 * default: the page stays responsive during a forward pass) or on this thread (loadDetector).
 */
interface DemoDetector {
  arch: Arch;
  backendName: string;
  threads: number;
  inWorker: boolean;
  weights: { bytes: number; checked: string };
  detectDetailed(image: Pixels, opts: WorkerDetectCallOptions, name?: string): Promise<WorkerDetection>;
  dispose(): void;
}

async function loadDemoDetector(source: string | File, opts: { arch?: Arch; backend: BackendSpec; sha256?: string }, inWorker: boolean): Promise<DemoDetector> {
  ui.progress.hidden = false;
  ui.progress.removeAttribute('value');
  const what = opts.arch ?? 'the';
  status(`Loading ${what} weights…`);
  const onProgress = ({ loaded, total }: { loaded: number; total: number | null }) => {
    if (total !== null && total > 0) {
      ui.progress.value = Math.min(1, loaded / total);
      status(`Loading ${what} weights: ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`);
    } else {
      status(`Loading ${what} weights: ${(loaded / 1e6).toFixed(1)} MB`);
    }
  };
  try {
    if (inWorker) {
      const d = await lib.loadWorkerDetector(source, { ...opts, onProgress });
      return { arch: d.arch, backendName: d.backendName, threads: d.threads, inWorker, weights: d.weights,
        detectDetailed: (image, o, name) => d.detectDetailed(image, o, name), dispose: () => d.dispose() };
    }
    const d = await lib.loadDetector(source, { ...opts, onProgress });
    const threads = (d.backend as { threads?: unknown }).threads;
    return { arch: d.arch, backendName: d.backendName, threads: typeof threads === 'number' ? threads : 0, inWorker, weights: d.weights,
      detectDetailed: async (image, { transfer: _, ...o }, name) => d.detectDetailed(image, { ...o, raw: false }, name), dispose: () => d.dispose() };
  } finally {
    ui.progress.hidden = true;
  }
}

async function currentDetector(): Promise<DemoDetector> {
  const arch = ui.arch.value as Arch;
  const backend = ui.backend.value as BackendSpec;
  const inWorker = ui.inWorker.checked;
  const file = userWeights.get(arch);
  const entry = assets.weights.find((w) => w.arch === arch);
  const source = file ?? entry?.url;
  if (source === undefined) throw new lib.RetinaFaceError(assets.missing[arch] ?? `no ${arch} weights on this page`, { code: 'ENOWEIGHTS' });
  const key = `${file !== undefined ? `file:${file.name}:${file.size}:${file.lastModified}` : entry!.url}|${backend}|${inWorker}`;
  if (detector?.key === key) return detector.d;
  detector?.d.dispose();
  detector = null;
  const d = await loadDemoDetector(source, { arch, backend, ...(file === undefined ? { sha256: entry!.sha256 } : {}) }, inWorker);
  detector = { key, d };
  return d;
}

/** What ran: the backend's own name, its threads, and where. */
function backendDescription(d: DemoDetector): string {
  const extra = d.threads > 0 ? `, ${d.threads} thread${d.threads === 1 ? '' : 's'}` : '';
  return `${d.backendName}${extra}${d.inWorker ? ' (worker)' : ''}`;
}

// ---- images ---------------------------------------------------------------------------------
const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decoded pixels of a file's bytes (RGB from jpeg-js, RGBA from the browser), and the decode time. */
async function decode(bytes: Uint8Array, name: string): Promise<{ pixels: Pixels; ms: number }> {
  const t0 = performance.now();
  if (isJpeg(bytes)) {
    const img = lib.decodeImage(bytes, name);
    return { pixels: img, ms: performance.now() - t0 };
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)]));
  } catch {
    throw new lib.RetinaFaceError(`cannot be decoded: not a JPEG, and not an image format this browser reads (${bytes.length} bytes)`, { file: name, code: 'EFORMAT' });
  }
  const c = new OffscreenCanvas(bitmap.width, bitmap.height);
  const cx = c.getContext('2d')!;
  cx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = cx.getImageData(0, 0, c.width, c.height);
  return { pixels: { data: data.data, width: data.width, height: data.height }, ms: performance.now() - t0 };
}

/** RGB or RGBA pixels as canvas ImageData. */
function toImageData(p: Pixels): ImageData {
  const out = new ImageData(p.width, p.height);
  const n = p.width * p.height;
  const channels = p.data.length / n;
  for (let i = 0; i < n; i++) {
    out.data[4 * i] = p.data[channels * i]!;
    out.data[4 * i + 1] = p.data[channels * i + 1]!;
    out.data[4 * i + 2] = p.data[channels * i + 2]!;
    out.data[4 * i + 3] = 255;
  }
  return out;
}

async function openImage(bytes: Uint8Array, name: string): Promise<void> {
  await stopCamera();
  const { pixels, ms } = await decode(bytes, name);
  shown = { image: toImageData(pixels), name, pixels };
  last = null;
  ui.canvas.width = pixels.width;
  ui.canvas.height = pixels.height;
  ctx.putImageData(shown.image, 0, 0);
  ui.imageSize.textContent = `${pixels.width}x${pixels.height}`;
  await detectShown(ms);
}

async function detectShown(decodeMs = 0): Promise<void> {
  if (shown === null) {
    status('Pick or drop a photo, or choose a sample.');
    return;
  }
  const d = await currentDetector();
  status(`Detecting on ${backendDescription(d)}…`);
  const det = await d.detectDetailed(shown.pixels, {}, shown.name);
  forwards++;
  det.timings.decode += decodeMs;
  det.timings.total += decodeMs;
  last = det;
  ui.backendUsed.textContent = backendDescription(d);
  for (const td of document.querySelectorAll<HTMLTableCellElement>('#timings td[data-stage]')) {
    const ms = det.timings[td.dataset.stage as keyof typeof det.timings];
    td.textContent = `${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
  }
  render();
  status(`${shown.name}: ${visible().length} faces at score ≥ ${threshold().toFixed(2)} (${det.candidates.length} after NMS), ${backendDescription(d)}.`);
}

// ---- drawing ----------------------------------------------------------------------------------
const threshold = () => Number(ui.threshold.value);
// The slider filters the reference's full list (candidates), so it can go below the 0.6 default.
const visible = (): Face[] => (last?.candidates ?? []).filter((f) => f.score >= threshold());
/** detect.py's landmark colours (BGR there): left eye red, right eye yellow, nose magenta, mouth green and blue. */
const LANDMARK_COLOURS = ['#ff0000', '#ffff00', '#ff00ff', '#00ff00', '#0000ff'];

function drawFaces(faces: Face[], width: number, height: number): void {
  const line = Math.max(2, Math.round(Math.min(width, height) / 400));
  ctx.lineWidth = line;
  ctx.font = `${Math.max(12, 6 * line)}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const f of faces) {
    const [x1, y1, x2, y2] = f.box;
    ctx.strokeStyle = '#ff0000';
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = f.score.toFixed(2);
    const tw = ctx.measureText(label).width;
    ctx.fillStyle = '#ff0000';
    ctx.fillRect(x1, y2, tw + 4, Math.max(12, 6 * line) + 2);
    ctx.fillStyle = '#ffffff';
    ctx.fillText(label, x1 + 2, y2 + 1);
    f.landmarks.forEach(([x, y], i) => {
      ctx.fillStyle = LANDMARK_COLOURS[i]!;
      ctx.beginPath();
      ctx.arc(x, y, 1.5 * line, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
}

/** A colour per track id: hues a golden angle apart, so that neighbouring ids differ most. */
const trackColour = (id: number) => `hsl(${(id * 137.508) % 360}, 90%, 45%)`;

/** Tracked faces: the box in the track's colour, the id on a label of that colour, the landmarks. */
function drawTracked(faces: TrackedFace[], smooth: boolean, width: number, height: number): void {
  const line = Math.max(2, Math.round(Math.min(width, height) / 400));
  const size = Math.max(12, 6 * line);
  ctx.lineWidth = line;
  ctx.font = `${size}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const t of faces) {
    const f = smooth ? t : t.raw;
    const [x1, y1, x2, y2] = f.box;
    const colour = trackColour(t.id);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = String(t.id);
    const tw = ctx.measureText(label).width;
    const top = y1 - size - 2 >= 0 ? y1 - size - 2 : y1;
    ctx.fillStyle = colour;
    ctx.fillRect(x1 - line / 2, top, tw + 4, size + 2);
    ctx.fillStyle = '#ffffff';
    ctx.fillText(label, x1 - line / 2 + 2, top + 1);
    f.landmarks.forEach(([x, y], i) => {
      ctx.fillStyle = LANDMARK_COLOURS[i]!;
      ctx.beginPath();
      ctx.arc(x, y, 1.5 * line, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
}

const fmt = (v: number) => v.toFixed(1);

/** The still image with the faces at the current threshold, and the list: no network involved. */
function render(): void {
  ui.thresholdValue.textContent = threshold().toFixed(2);
  if (shown === null || camera.running) return;
  ctx.putImageData(shown.image, 0, 0);
  const faces = visible();
  drawFaces(faces, shown.image.width, shown.image.height);
  listFaces(faces);
  showCrops(faces);
}

// ---- aligned crops ------------------------------------------------------------------------------
/** The shown photo as RGB (what alignFaces warps), converted once per photo. */
let shownRgb: { source: ImageData; rgb: { data: Uint8Array; width: number; height: number } } | null = null;

/** At most this many crops in the strip (a crowd photo has hundreds of faces). */
const MAX_CROPS = 64;

/** The visible faces as ArcFace 112x112 crops under the photo, each a download link. */
function showCrops(faces: Face[]): void {
  if (shown === null) return;
  if (shownRgb?.source !== shown.image) {
    const { data, width, height } = shown.image;
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) { rgb[i] = data[j]!; rgb[i + 1] = data[j + 1]!; rgb[i + 2] = data[j + 2]!; }
    shownRgb = { source: shown.image, rgb: { data: rgb, width, height } };
  }
  const stem = shown.name.replace(/\.[^.]*$/, '');
  const crops = lib.alignFaces(shownRgb.rgb, faces.slice(0, MAX_CROPS));
  ui.cropCount.textContent = faces.length > MAX_CROPS ? `(the best ${MAX_CROPS} of ${faces.length})` : `(${faces.length})`;
  ui.crops.replaceChildren(...crops.map((c, k) => {
    const canvas = document.createElement('canvas');
    canvas.width = c.width;
    canvas.height = c.height;
    const rgba = new Uint8ClampedArray(c.width * c.height * 4);
    for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) { rgba[j] = c.data[i]!; rgba[j + 1] = c.data[i + 1]!; rgba[j + 2] = c.data[i + 2]!; rgba[j + 3] = 255; }
    canvas.getContext('2d')!.putImageData(new ImageData(rgba, c.width, c.height), 0, 0);
    const a = document.createElement('a');
    a.download = `${stem}_${k}.png`;
    a.href = '#';
    a.title = `face ${k}, score ${faces[k]!.score.toFixed(3)}: download ${a.download}`;
    // the PNG is made on click, not for every crop up front
    a.addEventListener('click', () => { a.href = canvas.toDataURL('image/png'); });
    a.append(canvas);
    return a;
  }));
}

function listFaces(faces: (Face | TrackedFace)[]): void {
  ui.faceCount.textContent = last === null ? '' : `${faces.length} of ${last.candidates.length}`;
  ui.faces.replaceChildren(...faces.map((f) => {
    const li = document.createElement('li');
    const [x1, y1, x2, y2] = f.box;
    li.textContent = `${'id' in f ? `#${f.id}  ` : ''}${f.score.toFixed(3)}  box (${fmt(x1)}, ${fmt(y1)})–(${fmt(x2)}, ${fmt(y2)})`;
    li.title = `landmarks: ${f.landmarks.map(([x, y]) => `(${fmt(x)}, ${fmt(y)})`).join(' ')}`;
    return li;
  }));
}

// ---- camera -------------------------------------------------------------------------------------
async function startCamera(): Promise<void> {
  if (camera.running) return;
  const [w, h] = ui.cameraSize.value.split('x').map(Number) as [number, number];
  const d = await currentDetector();
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: w }, height: { ideal: h } }, audio: false });
  } catch (e) {
    throw new lib.RetinaFaceError(`the camera is not available (${(e as Error).message})`, { code: 'ECAMERA' });
  }
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  // A new tracker per camera run: ids count from 1 again, and no track outlives its frames.
  // Smoothing is always computed; the toggle picks what is drawn.
  Object.assign(camera, { running: true, paused: false, frames: 0, frameMs: 0, fps: 0, stream, video, lastStream: stream,
    tracker: lib.createTracker(), tracked: [], frameTimes: [] });
  ui.cameraStart.disabled = true;
  ui.cameraStop.disabled = false;
  // The frame is drawn at the chosen width (height from the camera's aspect), into one canvas
  // reused for every frame; the detector (and the backend's buffers at that size) too.
  const height = Math.round((w * video.videoHeight) / Math.max(1, video.videoWidth)) || h;
  ui.canvas.width = w;
  ui.canvas.height = height;
  ui.imageSize.textContent = `${w}x${height} (camera ${video.videoWidth}x${video.videoHeight})`;
  ui.backendUsed.textContent = backendDescription(d);
  status(`Camera on ${backendDescription(d)}.`);
  camera.loop = cameraLoop(d, video, w, height).catch((e) => {
    showError(e);
  }).finally(() => {
    camera.running = false;
  });
}

async function cameraLoop(d: DemoDetector, video: HTMLVideoElement, width: number, height: number): Promise<void> {
  while (camera.running) {
    if (camera.paused) {
      await new Promise<void>((resolve) => { camera.resume = resolve; });
      continue;
    }
    const t0 = performance.now();
    ctx.drawImage(video, 0, 0, width, height);
    // The frame's pixels are handed to the worker (not copied): the canvas keeps what it shows.
    const det = await d.detectDetailed(ctx.getImageData(0, 0, width, height), { transfer: true });
    forwards++;
    last = det;
    // Time in seconds from the page's clock: the One Euro filter adapts to the real frame rate.
    camera.tracked = camera.tracker!.update(visible(), t0 / 1000);
    drawTracked(camera.tracked, ui.smooth.checked, width, height);
    listFaces(camera.tracked);
    camera.frames++;
    const t1 = performance.now();
    camera.frameMs = t1 - t0;
    camera.frameTimes.push(t1);
    if (camera.frameTimes.length > FPS_WINDOW) camera.frameTimes.shift();
    const span = (t1 - camera.frameTimes[0]!) / 1000;
    camera.fps = camera.frameTimes.length > 1 && span > 0 ? (camera.frameTimes.length - 1) / span : 1000 / camera.frameMs;
    ui.cameraFps.textContent = `${camera.fps.toFixed(1)} frames/s`;
    ui.frameTime.textContent = `frame ${camera.frames}: ${camera.frameMs.toFixed(0)} ms (forward ${det.timings.forward.toFixed(0)} ms), ${camera.tracker!.activeTracks} tracks`;
    await new Promise((r) => setTimeout(r, 0)); // let the page breathe between frames
  }
}

async function stopCamera(): Promise<void> {
  if (camera.stream === null) return;
  camera.running = false;
  camera.paused = false;
  camera.resume?.();
  await camera.loop;
  for (const t of camera.stream.getTracks()) t.stop();
  if (camera.video !== null) camera.video.srcObject = null;
  Object.assign(camera, { stream: null, video: null, loop: null, resume: null });
  ui.cameraStart.disabled = false;
  ui.cameraStop.disabled = true;
  status(`Camera stopped after ${camera.frames} frames.`);
}

// ---- controls -----------------------------------------------------------------------------------
async function bytesOf(file: Blob): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}

async function openSample(url: string): Promise<void> {
  const r = await fetch(url);
  if (!r.ok) throw new lib.RetinaFaceError(`HTTP ${r.status}`, { file: url, code: 'EDOWNLOAD' });
  await openImage(new Uint8Array(await r.arrayBuffer()), url.split('/').pop()!);
}

function describe(a: BackendAvailability): string {
  const names: Record<string, string> = {
    'cpu-simd': 'cpu-simd: WebAssembly SIMD', cpu: 'cpu: JavaScript, Float32Array', 'gpujs-webgpu': 'gpu.js webgpu',
    'gpujs-webgl2': 'gpu.js webgl2', 'gpujs-webgl': 'gpu.js webgl', 'gpujs-webasm': 'gpu.js webasm', 'gpujs-cpu': 'gpu.js cpu',
  };
  const name = names[a.spec] ?? a.spec;
  return a.ok ? name : `${name} (unavailable: ${a.reason})`;
}

async function init(): Promise<void> {
  const r = await fetch('assets.json');
  if (r.ok) assets = await r.json() as Assets;
  else showError(new Error('assets.json is missing: build the page with `npm run demo` (or `npm run demo -- --build-only`)'));
  for (const o of ui.arch.options) {
    const why = assets.missing[o.value as Arch];
    if (why !== undefined && !assets.weights.some((w) => w.arch === o.value)) {
      o.disabled = true;
      o.title = why;
      o.textContent += ' (no weights here: load a file)';
    }
  }
  ui.sample.replaceChildren(...[['', assets.samples.length === 0 ? '(none)' : '(choose)'], ...assets.samples.map((s) => [s, s.split('/').pop()!])].map(([value, text]) => {
    const o = document.createElement('option');
    o.value = value!;
    o.textContent = text!;
    return o;
  }));
  status('Checking which backends run in a Web Worker here…');
  // What runs inside the detector worker (WebGL there is an OffscreenCanvas's); a browser without
  // module workers gets the page's own list, and the page runs the detector on its thread.
  let availability: BackendAvailability[];
  try {
    availability = await lib.probeWorkerBackends();
  } catch (e) {
    ui.inWorker.checked = false;
    ui.inWorker.disabled = true;
    ui.inWorker.parentElement!.title = `no detector worker here: ${(e as Error).message}`;
    availability = await lib.probeBackends();
  }
  ui.backend.replaceChildren(...availability.map((a) => {
    const o = document.createElement('option');
    o.value = a.spec;
    o.textContent = describe(a);
    o.disabled = !a.ok;
    o.title = a.reason;
    return o;
  }));
  (window as unknown as { demo: typeof api }).demo.backends = availability;

  ui.file.addEventListener('change', () => {
    const f = ui.file.files?.[0];
    if (f !== undefined) void serial(async () => openImage(await bytesOf(f), f.name));
  });
  ui.sample.addEventListener('change', () => {
    if (ui.sample.value !== '') void serial(() => openSample(ui.sample.value));
  });
  ui.detect.addEventListener('click', () => void serial(() => detectShown()));
  for (const el of [ui.arch, ui.backend, ui.inWorker]) {
    el.addEventListener('change', () => void serial(async () => {
      if (camera.running) {
        await stopCamera();
        await startCamera();
      } else {
        await detectShown();
      }
    }));
  }
  ui.weightsFile.addEventListener('change', () => {
    const f = ui.weightsFile.files?.[0];
    if (f === undefined) return;
    void serial(async () => {
      // Which arch: the detector reads it from the file itself (and it is kept for that arch).
      const backend = ui.backend.value as BackendSpec;
      const d = await loadDemoDetector(f, { backend }, ui.inWorker.checked);
      detector?.d.dispose();
      detector = { key: `file:${f.name}:${f.size}:${f.lastModified}|${backend}|${ui.inWorker.checked}`, d };
      userWeights.set(d.arch, f);
      const option = [...ui.arch.options].find((o) => o.value === d.arch)!;
      option.disabled = false;
      ui.arch.value = d.arch;
      status(`Loaded ${f.name}: ${d.arch}, ${(d.weights.bytes / 1e6).toFixed(1)} MB, checked (${d.weights.checked}).`);
      await detectShown();
    });
  });
  ui.threshold.addEventListener('input', render);
  ui.cameraStart.addEventListener('click', () => void serial(startCamera));
  ui.cameraStop.addEventListener('click', () => void serial(stopCamera));
  ui.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  ui.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    ui.drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f !== undefined) void serial(async () => openImage(await bytesOf(f), f.name));
  });

  const first = assets.samples.find((s) => s.endsWith('wider_group.jpg')) ?? assets.samples[0];
  if (first !== undefined && assets.weights.length > 0) {
    ui.sample.value = first;
    await serial(() => openSample(first));
  } else if (ui.error.hidden) {
    status('Pick or drop a photo.');
  }
}

/** For the tests and the curious: the page's state, read-only but for the camera controls. */
const api = {
  ready: false,
  backends: [] as BackendAvailability[],
  get forwards() { return forwards; },
  get result() {
    return last === null ? null : { faces: last.candidates, timings: last.timings, width: last.width, height: last.height, backend: ui.backendUsed.textContent };
  },
  get error() { return ui.error.hidden ? null : ui.error.textContent; },
  get camera() {
    const liveTracks = camera.lastStream?.getTracks().filter((t) => t.readyState === 'live').length ?? 0;
    return { running: camera.running, paused: camera.paused, frames: camera.frames, frameMs: camera.frameMs, fps: camera.fps, liveTracks,
      smooth: ui.smooth.checked, ids: camera.tracked.map((f) => f.id), fpsText: ui.cameraFps.textContent };
  },
  /** Resolves when every queued task (load, detect, camera start/stop) has finished. */
  whenIdle: () => busy,
  /** Holds the camera loop after the frame in flight (resolves then), or lets it go on. */
  pauseCamera: async () => {
    camera.paused = true;
    while (camera.running && camera.resume === null) await new Promise((r) => setTimeout(r, 5));
  },
  resumeCamera: () => {
    camera.paused = false;
    const r = camera.resume;
    camera.resume = null;
    r?.();
  },
};
(window as unknown as { demo: typeof api }).demo = api;
init().then(() => { api.ready = true; }, (e) => { showError(e); api.ready = true; });
