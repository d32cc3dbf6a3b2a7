// The browser tests' input: a 320x240 crop of the group photo with several faces, as PNG (small
// enough for the cpu backend many times over), written where the harness server serves it; and
// the faces Node's cpu backend finds on it, which the pages must reproduce.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RetinaFaceDetector } from '../../src/detector.js';
import type { Face } from '../../src/detect/postprocess.js';
import { decodeImage } from '../../src/image/decode.js';
import { encodeImage } from '../../src/image/encode.js';
import { rgbImage } from '../../src/image/image.js';
import { loadWeights } from '../../src/weights/convert.js';
import { cacheDir, repoRoot, sharedImage } from './paths.js';

export const GROUP_CROP = { x: 600, y: 60, width: 320, height: 240 } as const;

/** The crop as PNG bytes, written to .cache/browser/<dir>/group-crop.png; `url` is its path on the harness server. */
export function groupCropPng(dir: string): { png: Uint8Array; url: string } {
  const group = decodeImage(readFileSync(sharedImage('wider_group.jpg')), 'wider_group.jpg');
  const { x, y: top, width, height } = GROUP_CROP;
  const crop = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * group.width + x) * 3;
    crop.set(group.data.subarray(from, from + width * 3), y * width * 3);
  }
  const png = encodeImage(rgbImage(width, height, crop), 'png');
  const out = cacheDir('browser', dir);
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'group-crop.png'), png);
  return { png, url: '/' + path.relative(repoRoot, path.join(out, 'group-crop.png')).split(path.sep).join('/') };
}

/** Every candidate (visThreshold 0) that Node's cpu backend finds on `png` with the weights file at `weightsUrl` (a path under the repository). */
export async function nodeCpuFaces(weightsUrl: string, png: Uint8Array): Promise<Face[]> {
  const w = await loadWeights(path.join(repoRoot, weightsUrl));
  const d = await RetinaFaceDetector.fromTensors(w.tensors, { arch: 'mobile0.25', backend: 'cpu' });
  try {
    return await d.detect(png, { visThreshold: 0 });
  } finally {
    d.dispose();
  }
}
