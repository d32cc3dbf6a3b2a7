// Hand-built image files for the decoder tests: a minimal PNG writer that can produce every
// colour type, bit depth, palette + tRNS and Adam7 interlacing (pngjs's writer cannot), and JPEG
// surgery (an EXIF APP1 with an orientation; a frame header with chosen dimensions).
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export interface RawPng {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA */
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  /** samples[(y * width + x) * channels + c]: raw sample values (palette indices for type 3) */
  samples: number[];
  interlace?: boolean;
  palette?: [number, number, number][];
  /** raw tRNS chunk payload */
  trns?: number[];
}

/** Packs one row of samples at `depth` bits, MSB first, with filter byte 0 (None). */
function packRow(samples: number[], depth: number): number[] {
  const bytes: number[] = [0];
  if (depth === 16) {
    for (const s of samples) bytes.push(s >> 8, s & 0xff);
  } else if (depth === 8) {
    bytes.push(...samples);
  } else {
    let acc = 0, bits = 0;
    for (const s of samples) {
      acc = (acc << depth) | s;
      bits += depth;
      if (bits === 8) { bytes.push(acc); acc = 0; bits = 0; }
    }
    if (bits > 0) bytes.push(acc << (8 - bits));
  }
  return bytes;
}

/** Adam7 passes: (x0, y0, dx, dy) (PNG spec 8.2). */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

export function encodePng(p: RawPng): Uint8Array {
  const ch = CHANNELS[p.colorType]!;
  const pixel = (x: number, y: number): number[] => p.samples.slice((y * p.width + x) * ch, (y * p.width + x + 1) * ch);
  const raw: number[] = [];
  const passes = p.interlace ? ADAM7 : [[0, 0, 1, 1] as const];
  for (const [x0, y0, dx, dy] of passes) {
    for (let y = y0; y < p.height; y += dy) {
      const row: number[] = [];
      for (let x = x0; x < p.width; x += dx) row.push(...pixel(x, y));
      if (row.length > 0) raw.push(...packRow(row, p.depth));
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, p.width);
  v.setUint32(4, p.height);
  ihdr[8] = p.depth;
  ihdr[9] = p.colorType;
  ihdr[12] = p.interlace ? 1 : 0;
  const parts = [Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr)];
  if (p.palette) parts.push(pngChunk('PLTE', Uint8Array.from(p.palette.flat())));
  if (p.trns) parts.push(pngChunk('tRNS', Uint8Array.from(p.trns)));
  parts.push(pngChunk('IDAT', deflateSync(Uint8Array.from(raw))), pngChunk('IEND', new Uint8Array(0)));
  return concat(...parts);
}

/** A PNG whose IHDR declares width x height, with a token IDAT: must be refused before decoding. */
export function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return concat(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(new Uint8Array(16))), pngChunk('IEND', new Uint8Array(0)));
}

/** An APP1 "Exif" segment whose IFD0 holds only Orientation (tag 0x0112, SHORT). */
export function exifApp1(orientation: number, bigEndian = false): Uint8Array {
  const tiff = new Uint8Array(8 + 2 + 12 + 4);
  const v = new DataView(tiff.buffer);
  const le = !bigEndian;
  tiff[0] = tiff[1] = bigEndian ? 0x4d : 0x49;
  v.setUint16(2, 42, le);
  v.setUint32(4, 8, le); // IFD0 right after the header
  v.setUint16(8, 1, le); // one entry
  v.setUint16(10, 0x0112, le);
  v.setUint16(12, 3, le); // SHORT
  v.setUint32(14, 1, le); // count
  v.setUint16(18, orientation, le);
  v.setUint32(22, 0, le); // no next IFD
  const payload = concat(Uint8Array.from([0x45, 0x78, 0x69, 0x66, 0, 0]), tiff);
  const seg = new Uint8Array(4 + payload.length);
  seg[0] = 0xff; seg[1] = 0xe1;
  new DataView(seg.buffer).setUint16(2, payload.length + 2);
  seg.set(payload, 4);
  return seg;
}

/** Inserts `segment` right after a JPEG's SOI marker. */
export function insertAfterSoi(jpegBytes: Uint8Array, segment: Uint8Array): Uint8Array {
  return concat(jpegBytes.subarray(0, 2), segment, jpegBytes.subarray(2));
}

/** Offset of the first SOF0/1/2 marker's segment (the byte after 0xFFCn). */
export function findSof(jpegBytes: Uint8Array): number {
  for (let i = 2; i + 1 < jpegBytes.length; i++) {
    if (jpegBytes[i] === 0xff && (jpegBytes[i + 1] === 0xc0 || jpegBytes[i + 1] === 0xc1 || jpegBytes[i + 1] === 0xc2)) return i + 2;
  }
  throw new Error('no SOF marker');
}

/** A copy of a JPEG with its frame header rewritten to declare width x height. */
export function withSofSize(jpegBytes: Uint8Array, width: number, height: number): Uint8Array {
  const out = Uint8Array.from(jpegBytes); // a copy (Buffer.slice would be a view), at offset 0
  const at = findSof(out);
  const v = new DataView(out.buffer);
  v.setUint16(at + 3, height);
  v.setUint16(at + 5, width);
  return out;
}
