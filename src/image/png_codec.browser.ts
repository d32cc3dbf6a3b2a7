// The browser build's stand-in for png_codec.ts (mapped by package.json "browser"): pngjs needs
// Node's zlib, and browsers decode PNG natively, losslessly. JPEGs are still decoded by jpeg-js
// in the browser, so that their pixels equal the Node build's.
import { RetinaFaceError } from '../errors.js';
import type { PngRead } from './png_codec.js';

export type { PngRead } from './png_codec.js';

export function readPng(_bytes: Uint8Array): PngRead {
  throw new RetinaFaceError('PNG decoding is not in the browser build: decode it with createImageBitmap or a canvas and pass the pixels ({ data, width, height })',
    { code: 'EFORMAT' });
}
