// Network inputs built from the shared photos, the same way the reference's detect.py prepares
// an image: BGR (OpenCV's channel order), float, minus the per-channel means (104, 117, 123),
// HWC -> CHW. Decoding uses jpeg-js only (the image module does not exist yet). Both the
// TypeScript side and test/torch/reference.py receive the very tensor built here, so the resize
// below only has to be deterministic and documented, not bit-equal to OpenCV.
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import type { Tensor } from '../../src/tensor.js';
import { sharedImage } from './paths.js';

/** detect.py: img -= (104, 117, 123), in B, G, R order. */
export const BGR_MEANS = [104, 117, 123] as const;

// The photos are up to 2048x1150 (2.4 MP) and two are progressive, which jpeg-js buffers
// whole: its defaults (100 MP, 512 MB) are enough, but are spelled out so a larger photo fails
// with jpeg-js's message rather than somewhere obscure.
const JPEG_MAX_MEGAPIXELS = 100;
const JPEG_MAX_MEMORY_MB = 1024;

export interface Size {
  height: number;
  width: number;
}

export interface Crop {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Rgb {
  width: number;
  height: number;
  /** RGB, row-major, 3 bytes per pixel */
  data: Uint8Array;
}

function decodeJpeg(file: string): Rgb {
  const img = jpeg.decode(readFileSync(file), {
    useTArray: true,
    formatAsRGBA: false,
    maxResolutionInMP: JPEG_MAX_MEGAPIXELS,
    maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
  });
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`${file}: jpeg-js returned ${img.data.length} bytes for ${img.width}x${img.height} RGB`);
  }
  return { width: img.width, height: img.height, data: img.data };
}

/**
 * (3, H, W) float32 network input from a photo in ../shared/images: optionally cropped (in the
 * original's pixels), then optionally resized, then BGR minus BGR_MEANS.
 *
 * Resizing is bilinear with half-pixel centers (the mapping of OpenCV's INTER_LINEAR and of
 * PyTorch's interpolate(align_corners=False), no antialiasing): output pixel (oy, ox) samples
 * the source at y = (oy + 0.5) * inH / outH - 0.5 (likewise x), clamped to [0, in - 1]. Unlike
 * cv2.resize on a uint8 image, the result is not rounded back to integers.
 */
export function photoInput(name: string, size?: Size, crop?: Crop): Tensor {
  const img = decodeJpeg(sharedImage(name));
  const c = crop ?? { x: 0, y: 0, width: img.width, height: img.height };
  if (!(Number.isInteger(c.x) && Number.isInteger(c.y) && c.x >= 0 && c.y >= 0 && c.width > 0 && c.height > 0 &&
    c.x + c.width <= img.width && c.y + c.height <= img.height)) {
    throw new Error(`${name}: crop ${JSON.stringify(c)} is not inside the ${img.width}x${img.height} image`);
  }
  const outH = size?.height ?? c.height;
  const outW = size?.width ?? c.width;
  const plane = outH * outW;
  const data = new Float32Array(3 * plane);
  // RGB byte of the cropped source at (sy, sx), channel rgb
  const src = (sy: number, sx: number, rgb: number): number => img.data[((c.y + sy) * img.width + (c.x + sx)) * 3 + rgb]!;
  const ys = sampleGrid(c.height, outH);
  const xs = sampleGrid(c.width, outW);
  for (let oy = 0; oy < outH; oy++) {
    const y = ys[oy]!;
    for (let ox = 0; ox < outW; ox++) {
      const x = xs[ox]!;
      for (let ch = 0; ch < 3; ch++) {
        const rgb = 2 - ch; // output channel 0 is blue
        const top = src(y.i0, x.i0, rgb) * (1 - x.t) + src(y.i0, x.i1, rgb) * x.t;
        const bottom = src(y.i1, x.i0, rgb) * (1 - x.t) + src(y.i1, x.i1, rgb) * x.t;
        data[ch * plane + oy * outW + ox] = top * (1 - y.t) + bottom * y.t - BGR_MEANS[ch]!;
      }
    }
  }
  return { shape: [3, outH, outW], data };
}

/** For each output index along one axis: the two source indices and the weight of the second. */
function sampleGrid(inSize: number, outSize: number): { i0: number; i1: number; t: number }[] {
  const grid = [];
  for (let o = 0; o < outSize; o++) {
    const s = Math.min(Math.max((o + 0.5) * (inSize / outSize) - 0.5, 0), inSize - 1);
    const i0 = Math.floor(s);
    grid.push({ i0, i1: Math.min(i0 + 1, inSize - 1), t: s - i0 });
  }
  return grid;
}

/** The inputs the module and detection tests share. */
export const INPUTS = {
  /** WIDER FACE group photo (1024x624) squeezed to the 640x640 of the reference's training size */
  group640: { image: 'wider_group.jpg', size: { height: 640, width: 640 } },
  /** a progressive 2048x1150 photo at its own size: tensor (3, 1150, 2048) */
  selfie: { image: 'selfie.jpg' },
  /** odd sizes at every level (333 -> 167 -> 84 -> 42 -> 21 -> 11): FPN upsampling to an explicit size */
  odd333x517: { image: 'wider_group.jpg', crop: { x: 250, y: 100, width: 517, height: 333 } },
  /** small and odd at every level (49 -> 25 -> 13 -> 7 -> 4 -> 2): ResNet-50 where a pass at 333x517 takes minutes (gpu.js on software GL) */
  odd49x65: { image: 'wider_group.jpg', crop: { x: 420, y: 160, width: 65, height: 49 } },
} as const satisfies Record<string, { image: string; size?: Size; crop?: Crop }>;

export type InputId = keyof typeof INPUTS;

const decoded = new Map<InputId, Tensor>();

/** The named input, decoded once per process. Callers must not modify the returned data. */
export function namedInput(id: InputId): Tensor {
  let t = decoded.get(id);
  if (t === undefined) {
    const spec: { image: string; size?: Size; crop?: Crop } = INPUTS[id];
    t = photoInput(spec.image, spec.size, spec.crop);
    decoded.set(id, t);
  }
  return t;
}
