// Node-side image reading: the file's bytes with a one-line error, then the pure decoder.
// Kept apart from decode.ts so that a browser build never imports node:fs.
import { promises as fs } from 'node:fs';
import { RetinaFaceError } from '../errors.js';
import { describeFsError } from '../weights/files.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import type { RgbImage } from './image.js';

export async function readImageFile(file: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new RetinaFaceError(describeFsError(e), { file, code: (e as { code?: string }).code ?? 'EREAD', cause: e });
  }
  return decodeImage(bytes, file, opts);
}
