// The browser build's twin of png_codec.ts (mapped by package.json "browser"): pngjs needs Node's
// zlib and a global Buffer, so the browser build reads PNGs with png_read.ts, a plain-TypeScript
// reader (its own inflate) that returns exactly what pngjs returns (test/png_read.test.ts compares
// them sample for sample), so decode.ts gives the same RGB in both builds. JPEGs are decoded by
// jpeg-js in both builds.
import type { PngRead } from './png_codec.js';
import { readPngBytes } from './png_read.js';

export type { PngRead } from './png_codec.js';

export function readPng(bytes: Uint8Array): PngRead {
  return readPngBytes(bytes);
}
