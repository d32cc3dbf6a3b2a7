// Browser image sources: HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageBitmap,
// HTMLVideoElement and VideoFrame, read as RGBA pixels through ONE canvas reused call after call
// (an OffscreenCanvas where the runtime has it, else a detached <canvas>): drawn at their own size
// (natural size of an image, the current frame of a video, the display size of a VideoFrame),
// then getImageData. ImageData needs none of this: it already is pixels ({ data, width, height }).
//
// Opaque sources come out exact (drawImage copies sRGB pixels 1:1 at their own size). A source
// with transparency is composited on transparent black and un-premultiplied by the canvas, so
// semi-transparent pixels can move by a level; cv2.imread drops alpha instead.
//
// The types are structural so that the Node typings need no DOM library: anything with a
// width/height or displayWidth/displayHeight is accepted by the type, and the constructors are
// checked at run time (typeof X !== 'undefined' && value instanceof X).
import { RetinaFaceError } from '../errors.js';

/**
 * An HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageBitmap, HTMLVideoElement or
 * VideoFrame (typed by shape: see the file header).
 */
export type DomImageSource = { readonly width: number; readonly height: number } | { readonly displayWidth: number; readonly displayHeight: number };

/** The kinds, by their global constructor's name. */
const KINDS = ['HTMLImageElement', 'HTMLVideoElement', 'HTMLCanvasElement', 'OffscreenCanvas', 'ImageBitmap', 'VideoFrame'] as const;
type Kind = (typeof KINDS)[number];

/** The kind of `x`, or null for anything else (bytes, Pixels, ImageData, or any value in Node). */
export function domSourceKind(x: unknown): Kind | null {
  if (typeof x !== 'object' || x === null) return null;
  const g = globalThis as unknown as Record<string, unknown>;
  for (const k of KINDS) {
    const ctor = g[k];
    if (typeof ctor === 'function' && x instanceof (ctor as new () => unknown)) return k;
  }
  return null;
}

interface Ctx2d {
  drawImage(src: unknown, x: number, y: number, w: number, h: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray; width: number; height: number };
  clearRect(x: number, y: number, w: number, h: number): void;
}
interface Canvas { width: number; height: number; getContext(kind: '2d', opts: object): unknown }

/** The one canvas every read draws into (made on first use; resized, never reallocated per call). */
let canvas: Canvas | null = null;
let ctx: Ctx2d | null = null;

function scratch(width: number, height: number, name: string): Ctx2d {
  if (canvas === null) {
    const g = globalThis as unknown as { OffscreenCanvas?: new (w: number, h: number) => Canvas; document?: { createElement(t: 'canvas'): Canvas } };
    if (g.OffscreenCanvas !== undefined) canvas = new g.OffscreenCanvas(width, height);
    else if (g.document !== undefined) canvas = g.document.createElement('canvas');
    else throw new RetinaFaceError(`${name}: no OffscreenCanvas or document here to read the image through`, { code: 'EIMAGE' });
    ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb', alpha: true }) as Ctx2d | null;
    if (ctx === null) throw new RetinaFaceError(`${name}: the browser gave no 2D canvas context`, { code: 'EIMAGE' });
  }
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width; // resizing clears the canvas
    canvas.height = height;
  } else {
    ctx!.clearRect(0, 0, width, height);
  }
  return ctx!;
}

/** The size a source is drawn at, or why it has no pixels yet. */
function sizeOf(src: Record<string, unknown>, kind: Kind, name: string): [number, number] {
  const fail = (why: string): never => {
    throw new RetinaFaceError(`${name}: ${why}`, { code: 'EIMAGE' });
  };
  switch (kind) {
    case 'HTMLImageElement':
      if (src.complete !== true || !((src.naturalWidth as number) > 0)) fail('the <img> has not loaded (await img.decode() first)');
      return [src.naturalWidth as number, src.naturalHeight as number];
    case 'HTMLVideoElement':
      // HAVE_CURRENT_DATA (2): a frame is there to draw
      if (!((src.readyState as number) >= 2) || !((src.videoWidth as number) > 0)) fail('the <video> has no frame yet (wait for its loadeddata event)');
      return [src.videoWidth as number, src.videoHeight as number];
    case 'VideoFrame':
      if (!((src.displayWidth as number) > 0)) fail('the VideoFrame is closed');
      return [src.displayWidth as number, src.displayHeight as number];
    default:
      return [src.width as number, src.height as number];
  }
}

/** RGBA pixels of a DOM source (see the file header); `name` labels errors. */
export function readDomSource(src: DomImageSource, name: string, maxPixels = Infinity): { data: Uint8ClampedArray; width: number; height: number } {
  const kind = domSourceKind(src);
  if (kind === null) throw new RetinaFaceError(`${name}: not an image, canvas, bitmap, video or VideoFrame`, { code: 'EIMAGE' });
  const [width, height] = sizeOf(src as unknown as Record<string, unknown>, kind, name);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RetinaFaceError(`${name}: the ${kind} is ${width}x${height}, nothing to read`, { code: 'EIMAGE' });
  }
  if (width * height > maxPixels) {
    throw new RetinaFaceError(`${name}: image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} megapixels), over the limit of ${(maxPixels / 1e6).toFixed(1)} megapixels (option maxPixels)`, { code: 'ETOOBIG' });
  }
  const c = scratch(width, height, name);
  try {
    c.drawImage(src, 0, 0, width, height);
    return c.getImageData(0, 0, width, height);
  } catch (e) {
    // a cross-origin image without CORS taints the canvas: getImageData throws SecurityError
    const msg = (e as Error).name === 'SecurityError'
      ? 'the image is cross-origin without CORS, its pixels cannot be read (serve it with Access-Control-Allow-Origin and set crossOrigin)'
      : `cannot read its pixels (${(e as Error).message})`;
    throw new RetinaFaceError(`${name}: ${msg}`, { code: 'EIMAGE' });
  }
}
