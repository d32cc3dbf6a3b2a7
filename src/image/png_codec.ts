// PNG reading for decode.ts, on pngjs (which needs Node's zlib and a global Buffer). The browser
// build swaps this module for png_codec.browser.ts (package.json "browser"), which reads PNGs
// with png_read.ts (our own inflate) into the same samples.
import pngjs from 'pngjs';

/** What pngjs returns: RGBA per pixel, raw sample values (palette already expanded to 8-bit). */
export interface PngRead {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  data: Uint8Array | Uint16Array;
  transColor?: number[];
}

export function readPng(bytes: Uint8Array): PngRead {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // skipRescale: pngjs would round 16-bit samples (v * 255 / 65535); OpenCV truncates (v >> 8).
  return pngjs.PNG.sync.read(buf, { skipRescale: true }) as unknown as PngRead;
}
