// Image decoding with the same result as the reference's `cv2.imread(path, cv2.IMREAD_COLOR)`
// (biubug6/Pytorch_Retinaface detect.py), on the pure-JavaScript decoders jpeg-js and pngjs:
//   - 8-bit RGB out, whatever the file holds: gray is replicated, alpha is dropped WITHOUT
//     blending (libpng png_set_strip_alpha), a palette is expanded, 16-bit samples keep their
//     high byte (libpng png_set_strip_16: v >> 8), 1/2/4-bit gray is scaled to 0..255;
//   - a JPEG's EXIF orientation (1-8) is applied, as imread does unless IMREAD_IGNORE_ORIENTATION;
//   - the header is read first (probeImage) and anything over the pixel limit is refused before a
//     byte is decoded, so a decompression bomb (a tiny file declaring 100000x100000) costs
//     microseconds, not gigabytes.
// Known difference: jpeg-js's IDCT and its nearest-neighbour chroma upsampling differ from
// libjpeg-turbo's (ISLOW IDCT, "fancy" triangle upsampling) by a few levels per pixel;
// test/torch/jpeg_diff.py measures it on the test photos.
//
// Pure (no Node built-ins) so that a browser build can use it: PNG reading (pngjs, which needs
// Node's zlib) sits in png_codec.ts, which the browser build replaces. File reading lives in read.ts.
import jpeg from 'jpeg-js';
import { RetinaFaceError } from '../errors.js';
import type { RgbImage } from './image.js';
import { readPng, type PngRead } from './png_codec.js';

/**
 * 50 megapixels: above every mainstream camera (a 45 MP full-frame body, a 50 MP phone at full
 * resolution) and well under what fits in memory: jpeg-js holds about 32 bytes per pixel while
 * decoding (1.6 GB at the limit) and the network's first layers several times the input's
 * 12 bytes per pixel. Larger photos can be allowed with the maxPixels option.
 */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** jpeg-js's own accounting: 256-byte Int32Array per 8x8 block per component (4 B/px each, up to
 * 4 components), 1 B/px/component of sample lines, the colour-converted copy and the output. */
const JPEG_JS_BYTES_PER_PIXEL = 32;
const JPEG_JS_MEMORY_SLACK_MB = 16;

export type ImageFormat = 'jpeg' | 'png';

export interface ImageInfo {
  format: ImageFormat;
  /** Size of the image decodeImage returns: after the EXIF orientation (5-8 swap the axes). */
  width: number;
  height: number;
  /** EXIF orientation 1-8 (1 = as stored; always 1 for PNG, as OpenCV 4.6 reads no PNG EXIF). */
  orientation: number;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

function fail(file: string, message: string, code = 'EFORMAT'): never {
  throw new RetinaFaceError(message, { file, code });
}

export function resolveMaxPixels(opts: DecodeOptions): number {
  const m = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 1) {
    throw new RetinaFaceError(`invalid option maxPixels: ${String(m)} (expected an integer >= 1)`, { code: 'EOPTION' });
  }
  return m;
}

function startsWith(bytes: Uint8Array, sig: readonly number[] | string, at = 0): boolean {
  const s = typeof sig === 'string' ? Array.from(sig, (c) => c.charCodeAt(0)) : sig;
  if (bytes.length < at + s.length) return false;
  return s.every((b, i) => bytes[at + i] === b);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Formats we can name by their magic bytes, to say what the file is rather than "unknown". */
function sniffOtherFormat(b: Uint8Array): string | undefined {
  if (startsWith(b, 'GIF87a') || startsWith(b, 'GIF89a')) return 'GIF';
  if (startsWith(b, 'RIFF') && startsWith(b, 'WEBP', 8)) return 'WebP';
  if (startsWith(b, 'BM')) return 'BMP';
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'TIFF';
  if (startsWith(b, 'ftyp', 4)) {
    const brand = String.fromCharCode(...b.subarray(8, 12));
    if (brand.startsWith('avi')) return 'AVIF';
    if (['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) return 'HEIF/HEIC';
  }
  if (startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(b, [0xff, 0x4f, 0xff, 0x51])) return 'JPEG 2000';
  if (startsWith(b, [0xff, 0x0a]) || startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'JPEG XL';
  if (startsWith(b, 'qoif')) return 'QOI';
  if (startsWith(b, '8BPS')) return 'Photoshop PSD';
  if (startsWith(b, '%PDF')) return 'PDF';
  if (startsWith(b, [0x00, 0x00, 0x01, 0x00])) return 'ICO';
  return undefined;
}

const u16be = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const u32be = (b: Uint8Array, i: number): number => ((b[i]! << 24) >>> 0) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!;

/** SOF markers: C0-CF except C4 (DHT), C8 (JPG extension) and CC (DAC). */
const SOF_NAMES: Record<number, string> = {
  0xc0: 'baseline', 0xc1: 'extended sequential', 0xc2: 'progressive', 0xc3: 'lossless',
  0xc5: 'differential sequential', 0xc6: 'differential progressive', 0xc7: 'differential lossless',
  0xc9: 'arithmetic sequential', 0xca: 'arithmetic progressive', 0xcb: 'arithmetic lossless',
  0xcd: 'differential arithmetic sequential', 0xce: 'differential arithmetic progressive',
  0xcf: 'differential arithmetic lossless',
};
/** The frame types jpeg-js decodes (lib/decoder.js parse: 0xFFC0, 0xFFC1, 0xFFC2). */
const JPEG_JS_SOF = new Set([0xc0, 0xc1, 0xc2]);

/**
 * EXIF orientation from an APP1 payload ("Exif\0\0" + TIFF): tag 0x0112 (SHORT) of IFD0.
 * Malformed or missing -> 1, as OpenCV's ExifReader ignores what it cannot parse.
 */
export function exifOrientation(app1: Uint8Array): number {
  if (!startsWith(app1, [0x45, 0x78, 0x69, 0x66, 0x00, 0x00])) return 1;
  const t = app1.subarray(6);
  if (t.length < 8) return 1;
  const le = t[0] === 0x49 && t[1] === 0x49;
  if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return 1;
  const view = new DataView(t.buffer, t.byteOffset, t.byteLength);
  if (view.getUint16(2, le) !== 42) return 1;
  const ifd = view.getUint32(4, le);
  if (ifd + 2 > t.length) return 1;
  const count = view.getUint16(ifd, le);
  for (let e = 0; e < count; e++) {
    const at = ifd + 2 + 12 * e;
    if (at + 12 > t.length) return 1;
    if (view.getUint16(at, le) !== 0x0112) continue;
    if (view.getUint16(at + 2, le) !== 3 || view.getUint32(at + 4, le) < 1) return 1;
    const v = view.getUint16(at + 8, le);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

function probeJpeg(b: Uint8Array, file: string): { width: number; height: number; orientation: number; sof: number } {
  let orientation = 1;
  let pos = 2;
  const truncated = (): never => fail(file, 'truncated JPEG: the file ends before the frame header');
  while (true) {
    if (pos >= b.length) truncated();
    if (b[pos] !== 0xff) fail(file, `corrupt JPEG: expected a marker at byte ${pos}, found 0x${b[pos]!.toString(16)}`);
    while (pos < b.length && b[pos] === 0xff) pos++; // fill bytes
    if (pos >= b.length) truncated();
    const marker = b[pos++]!;
    if (marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (marker === 0xd9) fail(file, 'corrupt JPEG: end of image before any frame header');
    if (pos + 2 > b.length) truncated();
    const len = u16be(b, pos);
    if (len < 2) fail(file, `corrupt JPEG: segment 0xFF${marker.toString(16).toUpperCase()} has length ${len}`);
    if (pos + len > b.length) truncated();
    const seg = b.subarray(pos + 2, pos + len);
    if (marker === 0xda) fail(file, 'corrupt JPEG: scan data before any frame header');
    if (marker === 0xe1 && orientation === 1) orientation = exifOrientation(seg);
    if (marker in SOF_NAMES) {
      if (seg.length < 6) fail(file, 'corrupt JPEG: frame header too short');
      if (!JPEG_JS_SOF.has(marker)) fail(file, `unsupported JPEG coding: ${SOF_NAMES[marker]} (SOF${marker - 0xc0})`, 'EUNSUPPORTED');
      if (seg[0] !== 8) fail(file, `unsupported JPEG sample precision: ${seg[0]} bits (only 8-bit JPEG is supported)`, 'EUNSUPPORTED');
      return { height: u16be(seg, 1), width: u16be(seg, 3), orientation, sof: marker };
    }
    pos += len;
  }
}

function probePng(b: Uint8Array, file: string): { width: number; height: number } {
  if (b.length < 8 + 8 + 13) fail(file, `truncated PNG: ${b.length} bytes, too short for the IHDR header`);
  if (u32be(b, 8) !== 13 || !startsWith(b, 'IHDR', 12)) fail(file, 'corrupt PNG: the first chunk is not a 13-byte IHDR');
  const width = u32be(b, 16), height = u32be(b, 20);
  if (width > 0x7fffffff || height > 0x7fffffff) fail(file, `corrupt PNG: size ${width}x${height} exceeds 2^31 - 1`);
  // One IHDR only (PNG spec 11.2.2; libpng: "IHDR: out of place"). pngjs sizes its output from the
  // last IHDR it meets and this probe from the first: a second one declaring 4000x4000 behind a
  // 9x2 first one passed maxPixels and pngjs allocated 64 MB from a 30-byte IDAT (and other sizes
  // abort the process in pngjs's sync inflate, a node_zlib.cc assertion). Found by the fuzzer
  // (test/fuzz, image-decode). Walking the chunk headers costs one step per chunk, no decoding.
  for (let at = 8 + 12 + 13; at + 8 <= b.length; at += 12 + u32be(b, at)) {
    if (startsWith(b, 'IHDR', at + 4)) fail(file, `corrupt PNG: a second IHDR chunk at byte ${at}`);
    if (startsWith(b, 'IEND', at + 4)) break;
  }
  return { width, height };
}

/**
 * Reads only the header: format, size, orientation. Refuses (RetinaFaceError naming `file`) an
 * empty or unrecognised file, a named non-JPEG/PNG format, a zero side, and more pixels than
 * `maxPixels`, all without decoding.
 */
export function probeImage(bytes: Uint8Array, file: string, opts: DecodeOptions = {}): ImageInfo {
  const maxPixels = resolveMaxPixels(opts);
  if (bytes.length === 0) fail(file, 'empty file, expected a JPEG or PNG image');
  let info: ImageInfo;
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) {
    const j = probeJpeg(bytes, file);
    const swap = j.orientation >= 5;
    info = { format: 'jpeg', width: swap ? j.height : j.width, height: swap ? j.width : j.height, orientation: j.orientation };
  } else if (startsWith(bytes, PNG_SIGNATURE)) {
    info = { format: 'png', ...probePng(bytes, file), orientation: 1 };
  } else {
    const other = sniffOtherFormat(bytes);
    fail(file, other !== undefined
      ? `${other} images are not supported, expected JPEG or PNG`
      : 'unrecognised format, expected a JPEG or PNG image', 'EUNSUPPORTED');
  }
  if (info.width === 0 || info.height === 0) {
    fail(file, `invalid ${info.format.toUpperCase()}: declares a size of ${info.width}x${info.height} (zero ${info.width === 0 ? 'width' : 'height'})` +
      (info.format === 'jpeg' && info.height === 0 ? ' (a DNL-defined height is not supported)' : ''));
  }
  const pixels = info.width * info.height;
  if (pixels > maxPixels) {
    fail(file, `image is ${info.width}x${info.height} (${(pixels / 1e6).toFixed(1)} megapixels), over the limit of ` +
      `${(maxPixels / 1e6).toFixed(1)} megapixels (option maxPixels)`, 'ETOOBIG');
  }
  return info;
}

/** Decodes a JPEG or PNG to 8-bit RGB as cv2.imread(IMREAD_COLOR) does (see the file header). */
export function decodeImage(bytes: Uint8Array, file: string, opts: DecodeOptions = {}): RgbImage {
  const maxPixels = resolveMaxPixels(opts);
  const info = probeImage(bytes, file, { maxPixels });
  return info.format === 'jpeg' ? decodeJpeg(bytes, file, info, maxPixels) : decodePng(bytes, file);
}

function decodeJpeg(bytes: Uint8Array, file: string, info: ImageInfo, maxPixels: number): RgbImage {
  let raw: { width: number; height: number; data: Uint8Array };
  try {
    raw = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // undefined: YCbCr for 3 components, Adobe APP14's transform flag for 4 (CMYK / YCCK),
      // as libjpeg decides; jpeg-js converts Adobe (inverted) CMYK to RGB as OpenCV's
      // icvCvt_CMYK2BGR does.
      colorTransform: undefined,
      // jpeg-js's default: skip MCU rows that a scan lists past the frame, as libjpeg does.
      // Truncated or corrupt entropy data still throws (checked in test/image.test.ts).
      tolerantDecoding: true,
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.ceil((maxPixels * JPEG_JS_BYTES_PER_PIXEL) / 2 ** 20) + JPEG_JS_MEMORY_SLACK_MB,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    fail(file, `truncated or corrupt JPEG: ${msg.split('\n')[0]}`, 'EDECODE');
  }
  const img = { width: raw.width, height: raw.height, data: raw.data };
  return applyOrientation(img, info.orientation);
}

/**
 * EXIF orientation -> the upright image, as OpenCV's ApplyExifOrientation (modules/imgcodecs
 * src/loadsave.cpp): 2 flip x, 3 rotate 180, 4 flip y, 5 transpose, 6 rotate 90 clockwise
 * (transpose + flip x), 7 transverse (transpose + flip both), 8 rotate 90 counter-clockwise
 * (transpose + flip y).
 */
export function applyOrientation(img: RgbImage, orientation: number): RgbImage {
  if (orientation === 1) return img;
  if (!Number.isInteger(orientation) || orientation < 1 || orientation > 8) {
    throw new Error(`applyOrientation: orientation must be 1..8, got ${orientation}`);
  }
  const { width: W, height: H } = img;
  const swap = orientation >= 5;
  const outW = swap ? H : W, outH = swap ? W : H;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let sx: number, sy: number;
      switch (orientation) {
        case 2: sx = W - 1 - x; sy = y; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sx = x; sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        default: sx = W - 1 - y; sy = x; break; // 8
      }
      const s = 3 * (sy * W + sx), d = 3 * (y * outW + x);
      out[d] = img.data[s]!;
      out[d + 1] = img.data[s + 1]!;
      out[d + 2] = img.data[s + 2]!;
    }
  }
  return { width: outW, height: outH, data: out };
}

function decodePng(bytes: Uint8Array, file: string): RgbImage {
  let png: PngRead;
  try {
    png = readPng(bytes);
  } catch (e) {
    if (e instanceof RetinaFaceError) throw new RetinaFaceError(e.message, { file, code: e.code });
    const msg = e instanceof Error ? e.message : String(e);
    fail(file, `truncated or corrupt PNG: ${msg.split('\n')[0]}`, 'EDECODE');
  }
  const { width, height, depth, colorType } = png;
  const src = png.data; // RGBA per pixel, raw sample values (palette already expanded to 8-bit)
  // Sample -> 8 bits. Palette entries are 8-bit whatever the index depth (PNG spec 11.2.3).
  const to8 = colorType === 3 || depth === 8 ? (v: number) => v
    : depth === 16 ? (v: number) => v >> 8 // png_set_strip_16
      : (v: number) => (v * 255) / ((1 << depth) - 1); // png_set_expand_gray_1_2_4_to_8: 1->255, 2->85, 4->17
  // pngjs zeroes all four channels of a pixel that matches a tRNS colour (gray and RGB images);
  // OpenCV strips alpha without honouring tRNS, so such pixels keep their colour: the tRNS colour.
  const trans = colorType === 0 || colorType === 2 ? png.transColor : undefined;
  const tr = trans === undefined ? undefined : trans.length === 1 ? [trans[0]!, trans[0]!, trans[0]!] : trans;
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    if (tr !== undefined && src[4 * p + 3] === 0) {
      out[3 * p] = to8(tr[0]!); out[3 * p + 1] = to8(tr[1]!); out[3 * p + 2] = to8(tr[2]!);
    } else {
      out[3 * p] = to8(src[4 * p]!); out[3 * p + 1] = to8(src[4 * p + 1]!); out[3 * p + 2] = to8(src[4 * p + 2]!);
    }
  }
  return { width, height, data: out };
}
