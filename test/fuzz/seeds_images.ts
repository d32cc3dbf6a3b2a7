// Seeds for the image parsers: PNGs from test/helpers/images.ts encodePng (every colour type and
// depth, palettes, tRNS, Adam7) and from random raw rows compressed by zlib at several levels and
// strategies (stored, fixed and dynamic deflate blocks); JPEGs encoded by jpeg-js, with and
// without an EXIF orientation. Each is cut into units (PNG chunks, JPEG segments) with fields.
import { constants as Z, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { concat, encodePng, exifApp1, insertAfterSoi, type RawPng } from '../helpers/images.js';
import { rng } from '../../src/harness/random.js';
import { crc32 } from './seeds_weights.js';
import { UnitWriter, type Structured, type Unit } from './structure.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** PNG chunks as units: length, type, data (IHDR's fields recorded), CRC. */
export function pngUnits(bytes: Uint8Array): Structured {
  const units: Unit[] = [{ bytes: bytes.slice(0, 8), fields: [] }];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const w = new UnitWriter().uint(length, 4, true).bytes(bytes.subarray(at + 4, at + 8));
    if (type === 'IHDR') {
      w.uint(view.getUint32(at + 8), 4, true).uint(view.getUint32(at + 12), 4, true);
      for (let i = 16; i < 21; i++) w.uint(bytes[at + i]!, 1, true);
    } else {
      w.bytes(bytes.subarray(at + 8, at + 8 + length));
    }
    w.uint(view.getUint32(at + 8 + length), 4, true, false);
    units.push(w.unit());
    at += 12 + length;
  }
  return { units };
}

/** Recomputes every chunk's CRC, so that edits inside chunks reach the code behind the CRC check. */
export function fixPngCrcs(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  const view = new DataView(out.buffer);
  for (let at = 8; at + 12 <= out.length;) {
    const length = view.getUint32(at);
    if (at + 12 + length > out.length) break;
    view.setUint32(at + 8 + length, crc32(out.subarray(at + 4, at + 8 + length)));
    at += 12 + length;
  }
  return out;
}

export function pngChunkUnit(type: string, data: Uint8Array): Unit {
  const body = concat(Uint8Array.from(type, (c) => c.charCodeAt(0)), data);
  return new UnitWriter().uint(data.length, 4, true).bytes(body).uint(crc32(body), 4, true, false).unit();
}

/**
 * A PNG from IHDR fields and raw rows with filter bytes drawn from 0..5 (5 is invalid), compressed
 * by zlib with the given level and strategy: the structure-aware generator behind png targets.
 */
export interface RawPngPlan {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  interlace: boolean;
  seed: number;
  level: number;
  strategy: number;
  /** filter bytes: 0-4 valid; a value of 5 appears once in 64 rows */
  badFilters: boolean;
  palette: number;
  trns: boolean;
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

export function pngFromPlan(p: RawPngPlan): Uint8Array {
  const allowed: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
  const depths = allowed[p.colorType]!;
  const depth = depths.includes(p.depth) ? p.depth : depths[depths.length - 1]!;
  const r = rng(p.seed);
  const bits = CHANNELS[p.colorType]! * depth;
  const raw: number[] = [];
  for (const [x0, y0, dx, dy] of p.interlace ? ADAM7 : [[0, 0, 1, 1] as const]) {
    const w = Math.ceil((p.width - x0) / dx), h = Math.ceil((p.height - y0) / dy);
    if (w <= 0 || h <= 0) continue;
    const rowBytes = Math.ceil((w * bits) / 8);
    for (let y = 0; y < h; y++) {
      raw.push(p.badFilters && r() < 1 / 64 ? 5 : Math.floor(r() * 5));
      for (let i = 0; i < rowBytes; i++) raw.push(Math.floor(r() * 256));
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, p.width);
  v.setUint32(4, p.height);
  ihdr[8] = depth;
  ihdr[9] = p.colorType;
  ihdr[12] = p.interlace ? 1 : 0;
  const chunks = [Uint8Array.from(SIGNATURE), chunk('IHDR', ihdr)];
  const entries = Math.min(256, Math.max(1, p.palette));
  if (p.colorType === 3 || p.palette > 200) {
    chunks.push(chunk('PLTE', Uint8Array.from({ length: 3 * entries }, () => Math.floor(r() * 256))));
  }
  if (p.trns) {
    const len = p.colorType === 3 ? Math.min(entries, 1 + (p.seed % entries)) : p.colorType === 0 ? 2 : p.colorType === 2 ? 6 : 1;
    chunks.push(chunk('tRNS', Uint8Array.from({ length: len }, () => Math.floor(r() * 256))));
  }
  const zopts = { level: p.level, strategy: p.strategy };
  const z = deflateSync(Uint8Array.from(raw), zopts);
  // split the stream over one to three IDAT chunks
  const cut1 = Math.floor(z.length * r()), cut2 = Math.floor(z.length * r());
  const [a, b] = [Math.min(cut1, cut2), Math.max(cut1, cut2)];
  for (const part of [z.subarray(0, a), z.subarray(a, b), z.subarray(b)]) if (part.length > 0) chunks.push(chunk('IDAT', part));
  chunks.push(chunk('IEND', new Uint8Array(0)));
  return concat(...chunks);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const u = pngChunkUnit(type, data);
  return u.bytes;
}

export const ZLIB_STRATEGIES = [Z.Z_DEFAULT_STRATEGY, Z.Z_FILTERED, Z.Z_HUFFMAN_ONLY, Z.Z_RLE, Z.Z_FIXED];

/** Seed PNGs: encodePng's colour types, depths, palettes, tRNS and Adam7. */
export function seedPngs(): Uint8Array[] {
  const r = rng(21);
  const samples = (w: number, h: number, ch: number, max: number): number[] => Array.from({ length: w * h * ch }, () => Math.floor(r() * (max + 1)));
  const list: RawPng[] = [
    { width: 5, height: 3, colorType: 2, depth: 8, samples: samples(5, 3, 3, 255) },
    { width: 4, height: 4, colorType: 6, depth: 16, samples: samples(4, 4, 4, 65535), interlace: true },
    { width: 9, height: 2, colorType: 0, depth: 1, samples: samples(9, 2, 1, 1), trns: [0, 1] },
    { width: 3, height: 7, colorType: 0, depth: 4, samples: samples(3, 7, 1, 15), interlace: true },
    { width: 6, height: 5, colorType: 3, depth: 2, samples: samples(6, 5, 1, 3), palette: [[1, 2, 3], [40, 50, 60], [200, 0, 9], [7, 7, 7]], trns: [0, 128] },
    { width: 2, height: 2, colorType: 4, depth: 8, samples: samples(2, 2, 2, 255) },
    { width: 3, height: 3, colorType: 2, depth: 16, samples: samples(3, 3, 3, 65535), trns: [0, 1, 0, 2, 0, 3] },
    { width: 1, height: 1, colorType: 3, depth: 8, samples: [0], palette: [[9, 8, 7]] },
  ];
  const out = list.map(encodePng);
  for (let i = 0; i < 6; i++) {
    out.push(pngFromPlan({
      width: 1 + ((i * 7) % 13), height: 1 + ((i * 5) % 9), colorType: ([0, 2, 3, 4, 6, 0] as const)[i]!,
      depth: ([8, 8, 4, 16, 8, 2] as const)[i]!, interlace: i % 2 === 1, seed: i, level: [0, 1, 9, 6, 9, 1][i]!,
      strategy: ZLIB_STRATEGIES[i % ZLIB_STRATEGIES.length]!, badFilters: false, palette: 16, trns: i === 2,
    }));
  }
  return out;
}

/** Extra chunks for insertion: every type the reader knows, an unknown critical one, ancillary ones. */
export function pngDictionary(): Unit[] {
  const ihdr = (w: number, h: number, depth: number, ct: number, il = 0): Uint8Array => {
    const b = new Uint8Array(13);
    const v = new DataView(b.buffer);
    v.setUint32(0, w); v.setUint32(4, h);
    b[8] = depth; b[9] = ct; b[12] = il;
    return b;
  };
  return [
    pngChunkUnit('IHDR', ihdr(3, 3, 8, 2)),
    pngChunkUnit('IHDR', ihdr(0x7fffffff, 1, 1, 0)),
    pngChunkUnit('IHDR', ihdr(65535, 65535, 16, 6, 1)),
    pngChunkUnit('PLTE', Uint8Array.from([1, 2, 3, 4, 5, 6])),
    pngChunkUnit('PLTE', new Uint8Array(768)),
    pngChunkUnit('tRNS', Uint8Array.from([0, 7])),
    pngChunkUnit('tRNS', Uint8Array.from([0, 1, 0, 2, 0, 3])),
    pngChunkUnit('IDAT', deflateSync(new Uint8Array(64))),
    pngChunkUnit('IDAT', deflateSync(new Uint8Array(64), { level: 0 })),
    pngChunkUnit('IDAT', new Uint8Array(0)),
    pngChunkUnit('IEND', new Uint8Array(0)),
    pngChunkUnit('gAMA', Uint8Array.from([0, 1, 0x86, 0xa0])),
    pngChunkUnit('tEXt', new TextEncoder().encode('Comment\0fuzz')),
    pngChunkUnit('XXXX', new Uint8Array(3)),
  ];
}

// ------------------------------------------------------------------------------------------ JPEG

/** JPEG segments as units: SOI, each marker segment (length and SOF / SOS / DRI / EXIF fields), scan data, EOI. */
export function jpegUnits(bytes: Uint8Array): Structured {
  const units: Unit[] = [{ bytes: bytes.slice(0, 2), fields: [] }];
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    if (marker === 0xd9) break;
    const len = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const seg = bytes.subarray(at + 4, at + 2 + len);
    const w = new UnitWriter().bytes([0xff, marker]).uint(len, 2, true);
    if (marker >= 0xc0 && marker <= 0xc2) {
      w.uint(seg[0]!, 1, true).uint((seg[1]! << 8) | seg[2]!, 2, true).uint((seg[3]! << 8) | seg[4]!, 2, true).uint(seg[5]!, 1, true);
      for (let i = 6; i < seg.length; i++) w.uint(seg[i]!, 1, true);
    } else if (marker === 0xda || marker === 0xdd) {
      for (let i = 0; i < seg.length; i++) w.uint(seg[i]!, 1, true);
    } else if (marker === 0xe1) {
      w.bytes(seg.subarray(0, 6));
      for (let i = 6; i + 2 <= seg.length; i += 2) w.uint((seg[i]! << 8) | seg[i + 1]!, 2, true);
      if (seg.length % 2 === 1) w.bytes(seg.subarray(seg.length - 1));
    } else {
      w.bytes(seg);
    }
    at += 2 + len;
    if (marker === 0xda) {
      // entropy-coded data up to the next marker that is not a stuffed 0xFF00 or a restart
      let end = at;
      while (end + 1 < bytes.length && !(bytes[end] === 0xff && bytes[end + 1] !== 0 && !(bytes[end + 1]! >= 0xd0 && bytes[end + 1]! <= 0xd7))) end++;
      w.bytes(bytes.subarray(at, end));
      at = end;
    }
    units.push(w.unit());
  }
  units.push({ bytes: bytes.slice(at), fields: [] });
  return { units };
}

function encodeJpeg(width: number, height: number, quality: number, seed: number): Uint8Array {
  const r = rng(seed);
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i & 3) === 3 ? 255 : Math.floor(r() * 256);
  return new Uint8Array(jpeg.encode({ data, width, height }, quality).data);
}

/** Seed JPEGs: sizes around the 8x8 and 16x16 MCU boundaries, two qualities, EXIF orientations. */
export function seedJpegs(): Uint8Array[] {
  const out = [
    encodeJpeg(1, 1, 90, 1),
    encodeJpeg(7, 5, 50, 2),
    encodeJpeg(16, 16, 90, 3),
    encodeJpeg(17, 9, 10, 4),
  ];
  out.push(insertAfterSoi(encodeJpeg(9, 6, 75, 5), exifApp1(6)));
  out.push(insertAfterSoi(encodeJpeg(5, 8, 75, 6), exifApp1(3, true)));
  return out;
}

/** Extra segments for insertion: restart interval, EXIF, comment, a progressive or 12-bit frame header, EOI. */
export function jpegDictionary(): Unit[] {
  const seg = (marker: number, payload: number[]): Unit => {
    const w = new UnitWriter().bytes([0xff, marker]).uint(payload.length + 2, 2, true);
    for (const b of payload) w.uint(b, 1, true);
    return w.unit();
  };
  return [
    seg(0xdd, [0, 1]),
    { bytes: exifApp1(8), fields: [] },
    { bytes: exifApp1(5, true), fields: [] },
    seg(0xfe, [0x66, 0x75, 0x7a, 0x7a]),
    seg(0xc2, [8, 0, 8, 0, 8, 1, 1, 0x11, 0]),
    seg(0xc0, [12, 0, 4, 0, 4, 1, 1, 0x11, 0]),
    seg(0xc3, [8, 0, 4, 0, 4, 1, 1, 0x11, 0]),
    seg(0xc0, [8, 0xff, 0xff, 0xff, 0xff, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]),
    { bytes: Uint8Array.from([0xff, 0xd9]), fields: [] },
    { bytes: Uint8Array.from([0xff, 0xd0]), fields: [] },
  ];
}
