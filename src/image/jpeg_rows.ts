// A baseline JPEG decoded a few rows at a time, so that a photo of any size can be read in bounded
// memory: the detector's tiles (src/detect/tiles.ts) take the image band by band and the CLI's
// drawing writes it out band by band, and neither ever holds the whole image. jpeg-js (decode.ts)
// holds every block of every component (about 32 bytes per pixel: 4.8 GB for 150 megapixels).
//
// The pixels are exactly jpeg-js's, byte for byte (test/tiles.test.ts compares them), so a
// streamed detection sees what a whole-image one sees:
//   - the same integer IDCT (Loeffler, Ligtenberg and Moschytz 1989, "Practical fast 1-D DCT
//     algorithms with 11 multiplications", in the fixed-point form poppler and jpeg-js use: the
//     same constants, roundings and the same shortcut for rows and columns whose AC terms are zero);
//   - the same nearest-neighbour chroma upsampling: row y of the image takes line
//     floor(y * v / maxV) of a component, column x its sample floor(x * h / maxH);
//   - the same YCbCr -> RGB: R = Y + 1.402 (Cr - 128), G = Y - 0.3441363 (Cb - 128) -
//     0.71413636 (Cr - 128), B = Y + 1.772 (Cb - 128), clamped to 0..255 and truncated.
//
// What streams: a frame of SOF0 or SOF1 (Huffman, sequential, 8-bit), one or three components, in
// one scan holding every component (interleaved; one component is one non-interleaved scan),
// restart intervals allowed. Anything else (progressive, several scans, CMYK) is decoded whole by
// decode.ts instead; streamableJpeg says why not. Memory: one MCU row of each component (16 rows
// of the image width at 4:2:0) and up to eight Huffman lookup tables of 64k entries (2 MB).
//
// Errors: a RetinaFaceError (code EDECODE) with one line, "corrupt JPEG: ..." or "truncated
// JPEG: ...". Every loop consumes input or output, so no file can make it hang.
import { RetinaFaceError } from '../errors.js';
import type { RgbImage } from './image.js';

/** Where an image comes from a band at a time: the rows top to bottom, each read once. */
export interface RowSource {
  readonly width: number;
  readonly height: number;
  /** Writes the next `rows` rows (RGB, width * 3 bytes each) into dst from byte 0; returns how many it wrote (fewer only at the bottom). */
  read(dst: Uint8Array, rows: number): number;
}

/** An image already in memory as a RowSource (the rows are copied out, the image is not changed). */
export function imageRows(img: RgbImage): RowSource {
  let y = 0;
  const stride = 3 * img.width;
  return {
    width: img.width,
    height: img.height,
    read(dst, rows) {
      const n = Math.max(0, Math.min(rows, img.height - y));
      dst.set(img.data.subarray(y * stride, (y + n) * stride));
      y += n;
      return n;
    },
  };
}

/** Zigzag index -> natural (row-major) index of an 8x8 block (ITU T.81 figure A.6). */
const ZIGZAG = Uint8Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

// The IDCT's fixed-point constants: round(4096 * c) for the rotations, sqrt(2) and sqrt(2) / 2.
const COS1 = 4017, SIN1 = 799; // cos and sin of pi/16
const COS3 = 3406, SIN3 = 2276; // of 3 pi/16
const COS6 = 1567, SIN6 = 3784; // of 6 pi/16
const SQRT2 = 5793, SQRT1_2 = 2896;

/**
 * One 8-point inverse DCT over p[at], p[at + step], ..., p[at + 7 step], in place. The row pass
 * (step 1) and the column pass (step 8) differ only in their fixed-point scales: the rows keep 4
 * more fraction bits (`rowPass`), which the column pass removes.
 */
function idct8(p: Int32Array, at: number, step: number, rowPass: boolean): void {
  const s0 = p[at]!, s1 = p[at + step]!, s2 = p[at + 2 * step]!, s3 = p[at + 3 * step]!;
  const s4 = p[at + 4 * step]!, s5 = p[at + 5 * step]!, s6 = p[at + 6 * step]!, s7 = p[at + 7 * step]!;
  if (s1 === 0 && s2 === 0 && s3 === 0 && s4 === 0 && s5 === 0 && s6 === 0 && s7 === 0) {
    const dc = rowPass ? (SQRT2 * s0 + 512) >> 10 : (SQRT2 * s0 + 8192) >> 14;
    for (let i = 0; i < 8; i++) p[at + i * step] = dc;
    return;
  }
  // stage 4: the even part's sqrt(2) scaling and the odd part's butterfly
  const half = rowPass ? 128 : 2048, shift = rowPass ? 8 : 12;
  let v0 = (SQRT2 * s0 + half) >> shift;
  let v1 = (SQRT2 * s4 + half) >> shift;
  let v2 = s2;
  let v3 = s6;
  let v4 = (SQRT1_2 * (s1 - s7) + half) >> shift;
  let v7 = (SQRT1_2 * (s1 + s7) + half) >> shift;
  let v5 = rowPass ? s3 << 4 : s3;
  let v6 = rowPass ? s5 << 4 : s5;
  // stage 3
  let t = (v0 - v1 + 1) >> 1;
  v0 = (v0 + v1 + 1) >> 1;
  v1 = t;
  t = (v2 * SIN6 + v3 * COS6 + half) >> shift;
  v2 = (v2 * COS6 - v3 * SIN6 + half) >> shift;
  v3 = t;
  t = (v4 - v6 + 1) >> 1;
  v4 = (v4 + v6 + 1) >> 1;
  v6 = t;
  t = (v7 + v5 + 1) >> 1;
  v5 = (v7 - v5 + 1) >> 1;
  v7 = t;
  // stage 2
  t = (v0 - v3 + 1) >> 1;
  v0 = (v0 + v3 + 1) >> 1;
  v3 = t;
  t = (v1 - v2 + 1) >> 1;
  v1 = (v1 + v2 + 1) >> 1;
  v2 = t;
  t = (v4 * SIN3 + v7 * COS3 + 2048) >> 12;
  v4 = (v4 * COS3 - v7 * SIN3 + 2048) >> 12;
  v7 = t;
  t = (v5 * SIN1 + v6 * COS1 + 2048) >> 12;
  v5 = (v5 * COS1 - v6 * SIN1 + 2048) >> 12;
  v6 = t;
  // stage 1
  p[at] = v0 + v7;
  p[at + 7 * step] = v0 - v7;
  p[at + step] = v1 + v6;
  p[at + 6 * step] = v1 - v6;
  p[at + 2 * step] = v2 + v5;
  p[at + 5 * step] = v2 - v5;
  p[at + 3 * step] = v3 + v4;
  p[at + 4 * step] = v3 - v4;
}

/** A block's dequantized coefficients (natural order) -> 64 samples written into `out` at `at`, `stride` apart. */
function inverseBlock(coef: Int32Array, out: Uint8Array, at: number, stride: number): void {
  for (let r = 0; r < 8; r++) idct8(coef, 8 * r, 1, true);
  for (let c = 0; c < 8; c++) idct8(coef, c, 8, false);
  for (let r = 0; r < 8; r++) {
    for (let c = 0; c < 8; c++) {
      const v = 128 + ((coef[8 * r + c]! + 8) >> 4);
      out[at + r * stride + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

/**
 * A canonical Huffman code (ITU T.81 annex C) as one lookup on the next 16 bits: entry =
 * length << 8 | symbol, 0 where no code starts with those bits.
 */
function huffmanLookup(counts: Uint8Array, symbols: Uint8Array, fail: (m: string) => never): Uint32Array {
  const table = new Uint32Array(1 << 16);
  let code = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < counts[len - 1]!; i++, k++) {
      if (code >= 1 << len) fail('a Huffman table has more codes than its lengths allow');
      const first = code << (16 - len), n = 1 << (16 - len);
      table.fill((len << 8) | symbols[k]!, first, first + n);
      code++;
    }
    code <<= 1;
  }
  return table;
}

interface Component {
  id: number;
  /** the quantization table it names (0-3) */
  qid: number;
  h: number;
  v: number;
  quant: Int32Array;
  dc?: Uint32Array;
  ac?: Uint32Array;
  pred: number;
  /** this MCU row's samples: 8 v lines of `lineWidth` */
  lines: Uint8Array;
  lineWidth: number;
  /** column x of the image -> sample index in a line (jpeg-js's floor(x * h / maxH)) */
  xmap: Int32Array;
}

interface Frame {
  width: number;
  height: number;
  components: Component[];
  maxH: number;
  maxV: number;
  restartInterval: number;
  /** the byte after the SOS header: where the entropy-coded data starts */
  scanStart: number;
}

/** 64 pixels a block over its 2 bits at least: 256 pixels a byte (one component; three code fewer). */
const MAX_PIXELS_PER_BYTE = 256;

const u16 = (b: Uint8Array, i: number) => (b[i]! << 8) | b[i + 1]!;

/**
 * Parses the headers up to the first scan. Returns the frame, or a sentence saying why this file
 * does not stream (it is then decoded whole). Structural damage throws.
 */
function parseHeaders(b: Uint8Array, file: string, fail: (m: string) => never): Frame | string {
  if (b[0] !== 0xff || b[1] !== 0xd8) throw new RetinaFaceError('not a JPEG (no start-of-image marker)', { file, code: 'EFORMAT' });
  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (Uint32Array | undefined)[] = [], acTables: (Uint32Array | undefined)[] = [];
  let frame: Omit<Frame, 'scanStart'> | undefined;
  let restartInterval = 0;
  let pos = 2;
  while (true) {
    if (pos + 4 > b.length) fail('the file ends before the scan');
    if (b[pos] !== 0xff) fail(`expected a marker at byte ${pos}`);
    while (pos < b.length && b[pos] === 0xff) pos++;
    if (pos >= b.length) fail('the file ends before the scan');
    const marker = b[pos++]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (marker === 0xd9) fail('end of image before the scan');
    const len = u16(b, pos);
    if (len < 2 || pos + len > b.length) fail(`segment 0xFF${marker.toString(16).toUpperCase()} runs past the end of the file`);
    const seg = b.subarray(pos + 2, pos + len);
    pos += len;
    if (marker === 0xdb) {
      for (let i = 0; i < seg.length;) {
        const wide = seg[i]! >> 4, id = seg[i]! & 15;
        if (wide > 1 || id > 3 || i + 1 + 64 * (wide + 1) > seg.length) fail('a malformed quantization table');
        const q = new Int32Array(64);
        for (let k = 0; k < 64; k++) q[ZIGZAG[k]!] = wide ? u16(seg, i + 1 + 2 * k) : seg[i + 1 + k]!;
        quant[id] = q;
        i += 1 + 64 * (wide + 1);
      }
    } else if (marker === 0xc4) {
      for (let i = 0; i < seg.length;) {
        if (i + 17 > seg.length) fail('a malformed Huffman table');
        const cls = seg[i]! >> 4, id = seg[i]! & 15;
        const counts = seg.subarray(i + 1, i + 17);
        const n = counts.reduce((s, c) => s + c, 0);
        if (cls > 1 || id > 3 || i + 17 + n > seg.length) fail('a malformed Huffman table');
        (cls === 0 ? dcTables : acTables)[id] = huffmanLookup(counts, seg.subarray(i + 17, i + 17 + n), fail);
        i += 17 + n;
      }
    } else if (marker === 0xdd) {
      if (seg.length < 2) fail('a malformed restart interval');
      restartInterval = u16(seg, 0);
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (frame !== undefined) return 'it has several frames';
      if (marker !== 0xc0 && marker !== 0xc1) return marker === 0xc2 ? 'it is progressive' : `its coding is SOF${marker - 0xc0}`;
      if (seg.length < 6 || seg.length !== 6 + 3 * seg[5]!) fail(`a frame header of ${seg.length + 2} bytes for ${seg[5] ?? 0} components`);
      if (seg[0] !== 8) return `its samples are ${seg[0]}-bit`;
      const n = seg[5]!;
      if (n !== 1 && n !== 3) return `it has ${n} components`;
      const components: Component[] = [];
      for (let c = 0; c < n; c++) {
        const h = seg[7 + 3 * c]! >> 4, v = seg[7 + 3 * c]! & 15, q = seg[8 + 3 * c]!;
        if (h < 1 || h > 4 || v < 1 || v > 4) fail(`sampling factors ${h}x${v} (expected 1 to 4)`);
        if (q > 3) fail(`component ${c} names quantization table ${q}`);
        components.push({ id: seg[6 + 3 * c]!, qid: q, h, v, quant: new Int32Array(64), pred: 0, lines: new Uint8Array(0), lineWidth: 0, xmap: new Int32Array(0) });
      }
      const maxH = Math.max(...components.map((c) => c.h)), maxV = Math.max(...components.map((c) => c.v));
      frame = { height: u16(seg, 1), width: u16(seg, 3), components, maxH, maxV, restartInterval: 0 };
      if (frame.width === 0 || frame.height === 0) fail(`frame size ${frame.width}x${frame.height}`);
    } else if (marker === 0xda) {
      if (frame === undefined) fail('scan data before any frame header');
      const ns = seg[0] ?? 0;
      if (ns !== frame.components.length) return 'its components are in separate scans';
      if (seg.length !== 1 + 2 * ns + 3) fail(`a scan header of ${seg.length + 2} bytes for ${ns} components`);
      const named = new Set<Component>();
      for (let i = 0; i < ns; i++) {
        const c = frame.components.find((k) => k.id === seg[1 + 2 * i]);
        if (c === undefined) fail(`the scan names component ${seg[1 + 2 * i]}, which the frame does not have`);
        if (named.has(c)) return 'its scan names a component twice';
        named.add(c);
        c.dc = dcTables[seg[2 + 2 * i]! >> 4];
        c.ac = acTables[seg[2 + 2 * i]! & 15];
        if (c.dc === undefined || c.ac === undefined) fail('the scan uses a Huffman table that was never defined');
      }
      const later = markerAfterScan(b, pos);
      if (later !== undefined) return later;
      for (const c of frame.components) {
        const q = quant[c.qid];
        if (q === undefined) fail(`quantization table ${c.qid} was never defined`);
        c.quant = q;
      }
      return { ...frame, restartInterval, scanStart: pos };
    }
  }
}

/**
 * What, after the first scan, would make the whole-image decoder (jpeg-js) see other pixels than
 * this one: a second scan (jpeg-js decodes it over the first's coefficients), a quantization
 * table (jpeg-js binds tables once all headers are read) or a second frame. One pass over the
 * entropy-coded bytes (a marker is 0xFF followed by neither 0x00 nor a restart marker).
 */
function markerAfterScan(b: Uint8Array, from: number): string | undefined {
  for (let i = b.indexOf(0xff, from); i >= 0 && i + 1 < b.length; i = b.indexOf(0xff, i + 1)) {
    const m = b[i + 1]!;
    if (m === 0x00 || m === 0xff || (m >= 0xd0 && m <= 0xd7)) continue;
    if (m === 0xd9) return undefined; // end of image
    if (m === 0xda) return 'it has several scans';
    if (m === 0xdb) return 'it redefines a quantization table after the scan';
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return 'it has several frames';
  }
  return undefined;
}

/**
 * Why this JPEG cannot be decoded a band at a time (undefined when it can). The image itself is
 * not decoded; a damaged header throws a RetinaFaceError naming `file`.
 */
export function jpegStreamRefusal(bytes: Uint8Array, file: string): string | undefined {
  const f = parseHeaders(bytes, file, (m) => { throw new RetinaFaceError(`corrupt JPEG: ${m}`, { file, code: 'EDECODE' }); });
  return typeof f === 'string' ? f : undefined;
}

/**
 * A streaming decoder over a baseline JPEG's bytes (EXIF orientation is not applied: the caller
 * streams only orientation 1). Throws a RetinaFaceError when the file does not stream
 * (jpegStreamRefusal) or is damaged.
 */
export function jpegRows(bytes: Uint8Array, file: string): RowSource {
  const fail = (m: string): never => { throw new RetinaFaceError(`corrupt JPEG: ${m}`, { file, code: 'EDECODE' }); };
  const truncated = (): never => { throw new RetinaFaceError('truncated JPEG: the entropy-coded data ends early', { file, code: 'EDECODE' }); };
  const f = parseHeaders(bytes, file, fail);
  if (typeof f === 'string') throw new RetinaFaceError(`this JPEG does not stream: ${f}`, { file, code: 'EUNSUPPORTED' });
  const { width: W, height: H, components, maxH, maxV } = f;
  // every 8x8 block costs at least 2 bits (a DC code and an end of block): a header declaring more
  // pixels than the bytes can hold is a truncated file or a bomb, refused before a band is allocated
  if (W * H > MAX_PIXELS_PER_BYTE * bytes.length) {
    fail(`declares ${W}x${H}, more pixels than its ${bytes.length} bytes can code (at most ${MAX_PIXELS_PER_BYTE} a byte)`);
  }
  const single = components.length === 1;
  // One component is coded alone (non-interleaved): one block per MCU over ceil(W / 8) columns.
  const mcuCols = single ? Math.ceil(Math.ceil(W / 8) * components[0]!.h / maxH) : Math.ceil(W / (8 * maxH));
  const mcuRows = single ? Math.ceil(Math.ceil(H / 8) * components[0]!.v / maxV) : Math.ceil(H / (8 * maxV));
  for (const c of components) {
    const bh = single ? 1 : c.h, bv = single ? 1 : c.v;
    c.lineWidth = 8 * bh * mcuCols;
    c.lines = new Uint8Array(8 * bv * c.lineWidth);
    const sx = c.h / maxH; // as jpeg-js: `0 | (x * component.scaleX * scaleX)`, scaleX = 1
    c.xmap = Int32Array.from({ length: W }, (_, x) => (x * sx) | 0);
  }
  // the image rows one MCU row covers
  const rowsPerMcuRow = single ? 8 * maxV / components[0]!.v : 8 * maxV;

  // the bit reader: up to 32 bits in `acc`, of which the low `nbits` are unread; after a marker
  // it feeds zero bits (`padBits` of them), and reading one of those is truncation
  let pos = f.scanStart, acc = 0, nbits = 0, padBits = 0, atMarker = false;
  const fill = () => {
    while (nbits <= 24) {
      let byte = 0;
      if (!atMarker && pos < bytes.length) {
        byte = bytes[pos]!;
        if (byte === 0xff) {
          const next = bytes[pos + 1];
          if (next === 0) pos += 2;
          else { atMarker = true; byte = 0; padBits += 8; }
        } else pos++;
      } else padBits += 8;
      acc = (((acc & 0xffffff) << 8) | byte) >>> 0;
      nbits += 8;
    }
  };
  const take = (n: number): number => {
    if (nbits < n) fill();
    nbits -= n;
    if (nbits < padBits) truncated();
    return (acc >>> nbits) & ((1 << n) - 1);
  };
  const decodeSymbol = (table: Uint32Array): number => {
    if (nbits < 16) fill();
    const e = table[(acc >>> (nbits - 16)) & 0xffff]!;
    if (e === 0) fail('an invalid Huffman code');
    nbits -= e >> 8;
    if (nbits < padBits) truncated();
    return e & 0xff;
  };
  const extend = (v: number, s: number) => (v < 1 << (s - 1) ? v - (1 << s) + 1 : v);
  const coef = new Int32Array(64);
  const decodeBlock = (c: Component, out: Uint8Array, at: number) => {
    coef.fill(0);
    const t = decodeSymbol(c.dc!);
    let diff = t === 0 ? 0 : t <= 16 ? extend(take(t), t) : 0;
    if (t > 16) {
      // a damaged table's length (up to 255): read and extended as jpeg-js does, bit by bit into a
      // 32-bit integer and with JavaScript's shift counts (mod 32), so that both decoders agree
      let n = 0;
      for (let i = 0; i < t; i++) n = (n << 1) | take(1);
      diff = n >= 1 << (t - 1) ? n : n + (-1 << t) + 1;
    }
    c.pred += diff;
    coef[0] = (c.pred | 0) * c.quant[0]!; // jpeg-js keeps the prediction in an Int32Array block first
    for (let k = 1; k < 64;) {
      const rs = decodeSymbol(c.ac!);
      const s = rs & 15, r = rs >> 4;
      if (s === 0) {
        if (r < 15) break; // end of block
        k += 16; // sixteen zeros
        continue;
      }
      k += r;
      if (k > 63) {
        take(s); // as jpeg-js: the value is read and dropped, and the block ends
        break;
      }
      const z = ZIGZAG[k]!;
      coef[z] = extend(take(s), s) * c.quant[z]!;
      k++;
    }
    inverseBlock(coef, out, at, c.lineWidth);
  };
  // a restart interval ends with RSTn: drop the partial byte's bits and step over the marker
  let mcusLeft = f.restartInterval;
  const restart = () => {
    // the bits left are the byte-alignment padding; the reader stopped at the marker (it never reads past one)
    while (bytes[pos] === 0xff && bytes[pos + 1] === 0xff) pos++; // fill bytes before the marker
    if (bytes[pos] !== 0xff || (bytes[pos + 1]! & 0xf8) !== 0xd0) fail(`expected a restart marker at byte ${pos}`);
    pos += 2;
    acc = 0; nbits = 0; padBits = 0; atMarker = false;
    for (const c of components) c.pred = 0;
    mcusLeft = f.restartInterval;
  };

  let mcuRow = 0, y = 0;
  const decodeMcuRow = () => {
    for (let m = 0; m < mcuCols; m++) {
      if (f.restartInterval > 0) {
        if (mcusLeft === 0) restart();
        mcusLeft--;
      }
      for (const c of components) {
        const bh = single ? 1 : c.h, bv = single ? 1 : c.v;
        for (let by = 0; by < bv; by++) {
          for (let bx = 0; bx < bh; bx++) decodeBlock(c, c.lines, 8 * by * c.lineWidth + 8 * (m * bh + bx));
        }
      }
    }
    mcuRow++;
  };

  return {
    width: W,
    height: H,
    read(dst, rows) {
      const n = Math.max(0, Math.min(rows, H - y));
      for (let r = 0; r < n; r++, y++) {
        const row = Math.floor(y / rowsPerMcuRow);
        while (mcuRow <= row) {
          if (mcuRow >= mcuRows) fail('more rows than MCU rows');
          decodeMcuRow();
        }
        const o = 3 * W * r;
        // the line of each component this image row takes, within the current MCU row
        const line = (c: Component) => {
          const sy = c.v / maxV; // as jpeg-js: `0 | (y * component.scaleY * scaleY)`
          const global = (y * sy) | 0;
          const first = row * (single ? 8 : 8 * c.v);
          return c.lines.subarray((global - first) * c.lineWidth, (global - first + 1) * c.lineWidth);
        };
        if (single) {
          const c = components[0]!, l = line(c), xm = c.xmap;
          for (let x = 0; x < W; x++) {
            const v = l[xm[x]!]!;
            dst[o + 3 * x] = v; dst[o + 3 * x + 1] = v; dst[o + 3 * x + 2] = v;
          }
        } else {
          const [cy, cb, cr] = components as [Component, Component, Component];
          const ly = line(cy), lb = line(cb), lr = line(cr);
          const xy = cy.xmap, xb = cb.xmap, xr = cr.xmap;
          for (let x = 0; x < W; x++) {
            const Y = ly[xy[x]!]!, Cb = lb[xb[x]!]!, Cr = lr[xr[x]!]!;
            const R = Y + 1.402 * (Cr - 128);
            const G = Y - 0.3441363 * (Cb - 128) - 0.71413636 * (Cr - 128);
            const B = Y + 1.772 * (Cb - 128);
            dst[o + 3 * x] = R < 0 ? 0 : R > 255 ? 255 : R;
            dst[o + 3 * x + 1] = G < 0 ? 0 : G > 255 ? 255 : G;
            dst[o + 3 * x + 2] = B < 0 ? 0 : B > 255 ? 255 : B;
          }
        }
      }
      return n;
    },
  };
}
