// What the PNG reader's files share (png_read.ts runs them): its three kinds of error, each a
// RetinaFaceError (code EDECODE) with a one-line message that starts with "corrupt PNG:",
// "truncated PNG:" or "not a PNG:"; and IHDR (PNG spec 11.2.2), whose fields size everything
// after it: the inflated stream (png_inflate.ts), the passes and their pixels (png_pixels.ts).
import { RetinaFaceError } from '../errors.js';

export function corrupt(message: string): never {
  throw new RetinaFaceError(`corrupt PNG: ${message}`, { code: 'EDECODE' });
}

export function truncated(message: string): never {
  throw new RetinaFaceError(`truncated PNG: ${message}`, { code: 'EDECODE' });
}

/** Channels per pixel, and the bit depths each colour type allows (PNG spec 11.2.2, table 11.1). */
export const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] }, // gray
  2: { channels: 3, depths: [8, 16] }, // RGB
  3: { channels: 1, depths: [1, 2, 4, 8] }, // palette index
  4: { channels: 2, depths: [8, 16] }, // gray + alpha
  6: { channels: 4, depths: [8, 16] }, // RGBA
};

export function u32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
}

/** IHDR (PNG spec 11.2.2): 13 bytes, every field checked. */
export function readHeader(b: Uint8Array, at: number, length: number): Header {
  if (length !== 13) corrupt(`IHDR chunk of ${length} bytes, expected 13`);
  const width = u32be(b, at), height = u32be(b, at + 4);
  const depth = b[at + 8]!, colorType = b[at + 9]!, compression = b[at + 10]!, filter = b[at + 11]!, interlace = b[at + 12]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    corrupt(`image size ${width}x${height}, each side must be 1..2^31-1`);
  }
  const type = COLOR_TYPES[colorType];
  if (type === undefined) corrupt(`unknown colour type ${colorType}`);
  if (!type.depths.includes(depth)) corrupt(`bit depth ${depth} is not allowed for colour type ${colorType} (allowed: ${type.depths.join(', ')})`);
  if (compression !== 0) corrupt(`unknown compression method ${compression}`);
  if (filter !== 0) corrupt(`unknown filter method ${filter}`);
  if (interlace > 1) corrupt(`unknown interlace method ${interlace}`);
  return { width, height, depth, colorType, interlaced: interlace === 1 };
}
