// The browser build's inputs (issue 14): PNG bytes decoded by the bundle itself, and every DOM
// image source a page holds (HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageBitmap,
// ImageData, HTMLVideoElement, VideoFrame), each made from the same PNG and passed straight to
// detect(). Loads the prebuilt bundle (dist/browser/retinaface.js) as a page would; exposes
// window.inputs for the playwright driver (test/browser_inputs.test.ts).
import type * as Lib from '../../src/browser.js';
import type { Face } from '../../src/detect/postprocess.js';
import { fnv1a } from '../helpers/hash.js';

const BUNDLE = '/dist/browser/retinaface.js';

export interface SourceResult {
  kind: string;
  width: number;
  height: number;
  /** FNV-1a of the RGB pixels the detector read */
  pixels: number;
  /** largest difference (levels) of those pixels from the PNG's */
  maxDiff: number;
  /** for a video: FNV-1a of the RGB of its frame drawn by the page itself onto a fresh canvas */
  ownRead?: number;
  faces: Face[];
  error?: string;
}

async function sources(png: Uint8Array<ArrayBuffer>): Promise<[string, () => Promise<unknown>][]> {
  const blob = new Blob([png], { type: 'image/png' });
  const img = new Image();
  img.src = URL.createObjectURL(blob);
  await img.decode();
  const { naturalWidth: w, naturalHeight: h } = img;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(img, 0, 0);
  const offscreen = new OffscreenCanvas(w, h);
  offscreen.getContext('2d')!.drawImage(img, 0, 0);
  const bitmap = await createImageBitmap(blob);
  return [
    ['PNG bytes', async () => png],
    ['HTMLImageElement', async () => img],
    ['HTMLCanvasElement', async () => canvas],
    ['OffscreenCanvas', async () => offscreen],
    ['ImageBitmap', async () => bitmap],
    ['ImageData', async () => ctx.getImageData(0, 0, w, h)],
    ['VideoFrame', async () => new VideoFrame(bitmap, { timestamp: 0 })],
    ['HTMLVideoElement', async () => {
      // the canvas as a live stream shown by a <video>: what a camera page hands the detector
      // A captured canvas emits a frame only when it is painted, so it is repainted (same pixels)
      // every animation frame until the <video> has one; the page gives up after 20 s with a reason.
      const video = document.createElement('video');
      video.muted = true;
      video.srcObject = canvas.captureStream();
      let painting = true;
      const paint = () => {
        if (!painting) return;
        ctx.drawImage(img, 0, 0);
        requestAnimationFrame(paint);
      };
      try {
        const loaded = new Promise((resolve) => video.addEventListener('loadeddata', resolve, { once: true }));
        paint();
        const playing = video.play();
        await Promise.race([Promise.all([loaded, playing]), new Promise((_, reject) => setTimeout(() => reject(new Error('no video frame after 20 s')), 20_000))]);
      } finally {
        painting = false;
      }
      return video;
    }],
  ];
}

async function run(weightsUrl: string, pngUrl: string, backend: Lib.BackendSpec | undefined): Promise<{ backend: string; why: string; results: SourceResult[] }> {
  const lib = (await import(BUNDLE as string)) as typeof Lib;
  const png = new Uint8Array(await (await fetch(pngUrl)).arrayBuffer());
  const detector = await lib.loadDetector(weightsUrl, backend === undefined ? {} : { backend });
  const results: SourceResult[] = [];
  const reference = detector.decode(png, {}, 'png');
  try {
    for (const [kind, make] of await sources(png)) {
      try {
        const source = (await make()) as Lib.ImageInput;
        const rgb = detector.decode(source, {}, kind);
        const det = await detector.detectDetailed(source, { visThreshold: 0 }, kind);
        let maxDiff = 0;
        for (let i = 0; i < rgb.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(rgb.data[i]! - (reference.data[i] ?? 0)));
        const r: SourceResult = { kind, width: rgb.width, height: rgb.height, pixels: fnv1a(rgb.data), maxDiff, faces: det.faces };
        if (source instanceof HTMLVideoElement) {
          const c = document.createElement('canvas');
          c.width = source.videoWidth;
          c.height = source.videoHeight;
          const cx = c.getContext('2d')!;
          cx.drawImage(source, 0, 0);
          r.ownRead = fnv1a(detector.decode(cx.getImageData(0, 0, c.width, c.height), {}, 'own read').data);
        }
        results.push(r);
        if (source instanceof VideoFrame) source.close();
      } catch (e) {
        results.push({ kind, width: 0, height: 0, pixels: 0, maxDiff: -1, faces: [], error: String((e as Error).message) });
      }
    }
    return { backend: detector.backendName, why: detector.backendWhy, results };
  } finally {
    detector.dispose();
  }
}

/** What a page gets for inputs it cannot use: one RetinaFaceError each, with a message. */
async function refusals(weightsUrl: string): Promise<string[]> {
  const lib = (await import(BUNDLE as string)) as typeof Lib;
  const detector = await lib.loadDetector(weightsUrl, { backend: 'cpu' });
  const out: string[] = [];
  const pending = new Image(); // no src: never loads
  const painted = new OffscreenCanvas(8, 8);
  painted.getContext('2d')!.fillRect(0, 0, 8, 8);
  const frame = new VideoFrame(painted, { timestamp: 0 });
  frame.close();
  const cases: [string, unknown][] = [['pending <img>', pending], ['closed VideoFrame', frame], ['a string', 'photo.jpg'], ['corrupt PNG', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])]];
  for (const [label, input] of cases) {
    const e = await detector.detect(input as Lib.ImageInput, {}).then(() => null, (x: unknown) => x);
    out.push(`${label}: ${e instanceof lib.RetinaFaceError ? `${e.code} ${e.message}` : `NOT a RetinaFaceError: ${String(e)}`}`);
  }
  detector.dispose();
  return out;
}

(globalThis as unknown as { inputs: object }).inputs = { run, refusals };
