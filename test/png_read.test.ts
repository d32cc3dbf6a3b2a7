// The browser build's PNG reader (src/image/png_read.ts) against pngjs (src/image/png_codec.ts, the
// Node build's), sample for sample: every colour type and bit depth the PNG spec allows, Adam7 and
// not, odd sizes, palettes with and without tRNS, tRNS colours, all five row filters, the three
// deflate block types, split IDATs, ancillary chunks and the test photos. Tolerance: none, both
// are lossless, so every PngRead field (width, height, depth, colorType, data, transColor) must be
// identical; decode.ts's decodePng reads nothing else, so its RGB is then identical too.
// Then the failures: truncations, flipped bits (chunk CRCs; inside the compressed data with the
// CRC recomputed), a bad Adler-32, a stream longer or shorter than IHDR implies, and malformed
// structures, each refused with a one-line message.
import { readFileSync } from 'node:fs';
import { constants as Z, deflateRawSync, deflateSync, inflateSync, type ZlibOptions } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFaceError } from '../src/errors.js';
import { readPng, type PngRead } from '../src/image/png_codec.js';
import { inflateZlib } from '../src/image/png_inflate.js';
import { readPngBytes } from '../src/image/png_read.js';
import { concat, crc32, encodePng, pngChunk, type RawPng } from './helpers/images.js';
import { sharedImage } from './helpers/paths.js';
import { rng } from '../src/harness/random.js';

// ------------------------------------------------------------------------------- comparing

/** Asserts readPngBytes(bytes) equals pngjs's reading field for field; returns ours. */
function assertSameAsPngjs(bytes: Uint8Array, label: string): PngRead {
  const ours = readPngBytes(bytes);
  const theirs = readPng(bytes);
  for (const key of ['width', 'height', 'depth', 'colorType'] as const) assert.is(ours[key], theirs[key], `${label}: ${key}`);
  assert.equal(ours.transColor, theirs.transColor, `${label}: transColor`);
  assert.is(ours.data instanceof Uint16Array, theirs.data instanceof Uint16Array, `${label}: 16-bit samples`);
  assert.is(ours.data.length, theirs.data.length, `${label}: data length`);
  for (let i = 0; i < ours.data.length; i++) {
    if (ours.data[i] !== theirs.data[i]) {
      assert.unreachable(`${label}: sample ${i} (pixel ${i >> 2}, channel ${i & 3}) is ${ours.data[i]}, pngjs ${theirs.data[i]}`);
    }
  }
  return ours;
}

/** Asserts `fn` throws a one-line EDECODE RetinaFaceError matching `re`; returns the message. */
function refused(fn: () => unknown, re: RegExp, label = String(re)): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RetinaFaceError, `${label}: expected a RetinaFaceError, got ${String(e)}`);
    const err = e as RetinaFaceError;
    assert.is(err.code, 'EDECODE', `${label}: code`);
    assert.not.match(err.message, /\n/, `${label}: one line`);
    assert.match(err.message, re, `${label}: ${err.message}`);
    return err.message;
  }
  assert.unreachable(`${label}: expected an error matching ${re}`);
  return '';
}

// ------------------------------------------------------------------------ building test PNGs

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;
const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The image's rows, unfiltered and packed (PNG spec 7.2), grouped by pass (one pass unless Adam7). */
function packedRows(p: RawPng): Uint8Array[][] {
  const ch = CHANNELS[p.colorType]!;
  const passes: Uint8Array[][] = [];
  for (const [x0, y0, dx, dy] of p.interlace ? ADAM7 : [[0, 0, 1, 1] as const]) {
    const rows: Uint8Array[] = [];
    const passWidth = Math.ceil((p.width - x0) / dx);
    if (passWidth > 0) {
      for (let y = y0; y < p.height; y += dy) {
        const row = new Uint8Array(Math.ceil((passWidth * ch * p.depth) / 8));
        let bit = 0;
        for (let x = x0; x < p.width; x += dx) {
          for (let c = 0; c < ch; c++) {
            const s = p.samples[(y * p.width + x) * ch + c]!;
            if (p.depth === 16) { row[bit >> 3] = s >> 8; row[(bit >> 3) + 1] = s & 0xff; } else row[bit >> 3]! |= s << (8 - p.depth - (bit & 7));
            bit += p.depth;
          }
        }
        rows.push(row);
      }
    }
    if (rows.length > 0) passes.push(rows);
  }
  return passes;
}

/** One row filtered with `type` (PNG spec 9.2); an unknown type leaves the bytes as they are. */
function filterRow(type: number, row: Uint8Array, prev: Uint8Array | null, bpp: number): Uint8Array {
  const out = new Uint8Array(1 + row.length);
  out[0] = type;
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0, b = prev ? prev[i]! : 0, c = i >= bpp && prev ? prev[i - bpp]! : 0;
    const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
    const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][type] ?? 0;
    out[1 + i] = row[i]! - predictor;
  }
  return out;
}

/** The scanlines of `p` as the zlib stream holds them: row n (counted over all passes) filtered with filter(n). */
function scanlines(p: RawPng, filter: (n: number) => number = () => 0): Uint8Array {
  const bpp = Math.max(1, (CHANNELS[p.colorType]! * p.depth) >> 3);
  const out: Uint8Array[] = [];
  for (const rows of packedRows(p)) rows.forEach((row, y) => out.push(filterRow(filter(out.length), row, y > 0 ? rows[y - 1]! : null, bpp)));
  return concat(...out);
}

function ihdr(p: { width: number; height: number; depth: number; colorType: number; interlace?: boolean }): Uint8Array {
  const data = new Uint8Array(13);
  const v = new DataView(data.buffer);
  v.setUint32(0, p.width);
  v.setUint32(4, p.height);
  data[8] = p.depth;
  data[9] = p.colorType;
  data[12] = p.interlace ? 1 : 0;
  return pngChunk('IHDR', data);
}

interface Assembly {
  /** IDAT payload sizes, in order; the rest of the stream goes in one last IDAT. */
  idatSizes?: number[];
  /** Chunks between IHDR (PLTE, tRNS) and the first IDAT, and between the last IDAT and IEND. */
  before?: Uint8Array[];
  after?: Uint8Array[];
}

/** A PNG of `p`'s header (with its PLTE and tRNS) around an arbitrary zlib stream. */
function assemble(p: RawPng, stream: Uint8Array, opts: Assembly = {}): Uint8Array {
  const parts = [SIGNATURE, ihdr(p)];
  if (p.palette) parts.push(pngChunk('PLTE', Uint8Array.from(p.palette.flat())));
  if (p.trns) parts.push(pngChunk('tRNS', Uint8Array.from(p.trns)));
  parts.push(...(opts.before ?? []));
  let at = 0;
  for (const size of opts.idatSizes ?? []) {
    parts.push(pngChunk('IDAT', stream.subarray(at, at + size)));
    at += size;
  }
  parts.push(pngChunk('IDAT', stream.subarray(at)));
  parts.push(...(opts.after ?? []), pngChunk('IEND', new Uint8Array(0)));
  return concat(...parts);
}

/** A PNG of `p` with row filters chosen by `filter` and the stream from node:zlib with `zlib` options. */
function buildPng(p: RawPng, filter?: (n: number) => number, zlib: ZlibOptions = {}, opts: Assembly = {}): Uint8Array {
  return assemble(p, deflateSync(scanlines(p, filter), zlib), opts);
}

const PALETTE_SIZE: Record<number, number> = { 1: 2, 2: 3, 4: 16, 8: 181 };

/**
 * A seeded image mixing smooth gradients (which the predictors predict) and noise (a fraction
 * `noise` of the samples, half by default; zlib stores noise in stored blocks). Palette images
 * get a PLTE of PALETTE_SIZE entries (and tRNS alphas for the first half when `withTrns`); gray and
 * RGB images with `withTrns` get a tRNS colour that a quarter of the pixels match exactly.
 */
function randomImage(colorType: RawPng['colorType'], depth: RawPng['depth'], width: number, height: number,
  opts: { seed: number; interlace?: boolean; withTrns?: boolean; noise?: number }): RawPng {
  const r = rng(opts.seed);
  const ch = CHANNELS[colorType]!;
  const max = colorType === 3 ? PALETTE_SIZE[depth]! - 1 : 2 ** depth - 1;
  const samples: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < ch; c++) {
        const smooth = ((x * 7 + y * 5 + c * 3) / (width + height + 8)) * max;
        samples.push(Math.min(max, Math.max(0, Math.round(r() < (opts.noise ?? 0.5) ? r() * max : smooth))));
      }
    }
  }
  const p: RawPng = { width, height, colorType, depth, samples, interlace: opts.interlace ?? false };
  if (colorType === 3) {
    p.palette = Array.from({ length: max + 1 }, () => [0, 0, 0].map(() => Math.floor(r() * 256)) as [number, number, number]);
    if (opts.withTrns) p.trns = Array.from({ length: Math.ceil((max + 1) / 2) }, () => Math.floor(r() * 256));
  } else if (opts.withTrns && (colorType === 0 || colorType === 2)) {
    const trans = samples.slice(0, ch); // the first pixel's colour, copied into a quarter of the others
    for (let i = 1; i < width * height; i++) if (r() < 0.25) for (let c = 0; c < ch; c++) samples[i * ch + c] = trans[c]!;
    p.trns = trans.flatMap((v) => [v >> 8, v & 0xff]);
  }
  return p;
}

/** Every (colour type, bit depth) the PNG spec allows (11.2.2, table 11.1). */
const ALLOWED: [RawPng['colorType'], RawPng['depth'][]][] = [[0, [1, 2, 4, 8, 16]], [2, [8, 16]], [3, [1, 2, 4, 8]], [4, [8, 16]], [6, [8, 16]]];
const SIZES = [[1, 1], [7, 3], [33, 17]] as const;

/** The filter byte of every row of a non-interlaced PNG written by pngjs (one IDAT stream). */
function filterTypes(bytes: Uint8Array, width: number, height: number, bytesPerPixel: number): Set<number> {
  const idat: Uint8Array[] = [];
  for (let at = 8; at < bytes.length;) {
    const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
    if (String.fromCharCode(...bytes.subarray(at + 4, at + 8)) === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(concat(...idat));
  const types = new Set<number>();
  for (let y = 0; y < height; y++) types.add(raw[y * (1 + width * bytesPerPixel)]!);
  return types;
}

/** BTYPE of the first deflate block of a zlib stream (bits 1-2 of the byte after the 2-byte header). */
function firstBlockType(stream: Uint8Array): number {
  return (stream[2]! >> 1) & 3;
}

// ------------------------------------------------------------------------ equal to pngjs

test('every colour type and bit depth, Adam7 and not, 1x1 7x3 33x17, with and without tRNS: equal to pngjs', () => {
  let cases = 0, seed = 1;
  for (const [colorType, depths] of ALLOWED) {
    for (const depth of depths) {
      for (const interlace of [false, true]) {
        for (const [width, height] of SIZES) {
          for (const withTrns of colorType === 4 || colorType === 6 ? [false] : [false, true]) {
            const p = randomImage(colorType, depth, width, height, { seed: seed++, interlace, withTrns });
            const label = `type ${colorType} depth ${depth} ${width}x${height}${interlace ? ' Adam7' : ''}${withTrns ? ' tRNS' : ''}`;
            const ours = assertSameAsPngjs(encodePng(p), label);
            if (withTrns && colorType !== 3) {
              let zeroed = 0;
              for (let i = 3; i < ours.data.length; i += 4) if (ours.data[i] === 0) zeroed++;
              assert.ok(zeroed > 0, `${label}: the tRNS colour matches some pixels`);
            }
            cases++;
          }
        }
      }
    }
  }
  assert.is(cases, 156);
});

test('all five row filters, alone and mixed row by row, at every bytes-per-pixel (1 to 8): equal to pngjs and to filter None', () => {
  const formats: [RawPng['colorType'], RawPng['depth']][] = [[0, 1], [3, 4], [0, 8], [0, 16], [4, 8], [2, 8], [6, 8], [4, 16], [2, 16], [6, 16]];
  for (const [colorType, depth] of formats) {
    for (const interlace of [false, true]) {
      const p = randomImage(colorType, depth, 33, 17, { seed: 100 + colorType * 20 + depth, interlace });
      const plain = readPngBytes(encodePng(p));
      const choices: [string, (n: number) => number][] = [
        ['None', () => 0], ['Sub', () => 1], ['Up', () => 2], ['Average', () => 3], ['Paeth', () => 4], ['row % 5', (n) => n % 5],
      ];
      for (const [name, filter] of choices) {
        const label = `type ${colorType} depth ${depth}${interlace ? ' Adam7' : ''} filter ${name}`;
        const ours = assertSameAsPngjs(buildPng(p, filter), label);
        assert.equal(ours.data, plain.data, `${label}: equals the unfiltered encoding`);
      }
    }
  }
});

test('deflate block types: stored (level 0), fixed Huffman (Z_FIXED), dynamic, and other zlib settings: equal to pngjs', () => {
  // 200x100 RGBA: 80,100 bytes of scanlines, more than one stored block holds (65,535).
  const p = randomImage(6, 8, 200, 100, { seed: 7, noise: 0.05 });
  const raw = scanlines(p, (n) => n % 5);
  const settings: [string, ZlibOptions, number | undefined][] = [
    ['level 0 (stored)', { level: 0 }, 0],
    ['Z_FIXED (fixed Huffman)', { strategy: Z.Z_FIXED }, 1],
    ['default (dynamic Huffman)', {}, 2],
    ['level 1', { level: 1 }, undefined],
    ['level 9', { level: 9 }, undefined],
    ['Z_HUFFMAN_ONLY', { strategy: Z.Z_HUFFMAN_ONLY }, undefined],
    ['Z_RLE', { strategy: Z.Z_RLE }, undefined],
    ['Z_FILTERED', { strategy: Z.Z_FILTERED }, undefined],
    ['windowBits 9', { windowBits: 9 }, undefined],
    ['memLevel 1', { memLevel: 1 }, undefined],
  ];
  for (const [name, options, blockType] of settings) {
    const stream = deflateSync(raw, options);
    if (blockType !== undefined) assert.is(firstBlockType(stream), blockType, `${name}: first block type`);
    assertSameAsPngjs(assemble(p, stream), name);
  }
});

test('one zlib stream mixing stored, fixed and dynamic blocks (with empty sync-flush blocks between): equal to pngjs', () => {
  const p = randomImage(2, 8, 64, 48, { seed: 8, interlace: true, noise: 0.05 });
  const raw = scanlines(p, (n) => n % 5);
  const third = Math.floor(raw.length / 3);
  // Raw deflate pieces, the first two ended by a sync flush (a non-final empty stored block), so
  // that they concatenate into one valid deflate stream; then the zlib header and Adler-32.
  const stored = deflateRawSync(raw.subarray(0, third), { level: 0, finishFlush: Z.Z_SYNC_FLUSH });
  const fixed = deflateRawSync(raw.subarray(third, 2 * third), { strategy: Z.Z_FIXED, finishFlush: Z.Z_SYNC_FLUSH });
  const dynamic = deflateRawSync(raw.subarray(2 * third));
  assert.is(stored[0]! & 7, 0, 'stored piece: BFINAL 0, BTYPE 00');
  assert.is(fixed[0]! & 7, 2, 'fixed piece: BFINAL 0, BTYPE 01');
  assert.is((dynamic[0]! >> 1) & 3, 2, 'dynamic piece: BTYPE 10');
  const stream = concat(Uint8Array.from([0x78, 0x01]), stored, fixed, dynamic, be32(adler32Reference(raw)));
  assertSameAsPngjs(assemble(p, stream), 'stored + fixed + dynamic');
});

test('IDAT split into many chunks (down to 1 byte each, and an empty one), ancillary chunks around them: equal to pngjs', () => {
  const p = randomImage(3, 4, 33, 17, { seed: 9, withTrns: true });
  const stream = deflateSync(scanlines(p, (n) => n % 5));
  const ancillary = [pngChunk('gAMA', Uint8Array.from([0, 0, 0xb1, 0x8f])), pngChunk('tEXt', new TextEncoder().encode('Comment\0split IDATs')),
    pngChunk('prVt', Uint8Array.from([1, 2, 3]))];
  const splits: [string, number[]][] = [
    ['1, 2, 3, 7, 100 and the rest', [1, 2, 3, 7, 100]],
    ['one byte per IDAT', Array.from({ length: stream.length - 1 }, () => 1)],
    ['an empty IDAT in the middle', [10, 0, 10]],
  ];
  const whole = readPngBytes(assemble(p, stream));
  for (const [name, idatSizes] of splits) {
    const ours = assertSameAsPngjs(assemble(p, stream, { idatSizes, before: ancillary, after: ancillary }), name);
    assert.equal(ours.data, whole.data, `${name}: equals the single-IDAT file`);
  }
});

test('a hand-built dynamic block with a single one-bit distance code (allowed, as zlib allows it): equal to pngjs', () => {
  assertSameAsPngjs(assemble({ width: 3, height: 1, colorType: 0, depth: 8, samples: [] }, singleDistanceCodeStream(0)), 'single distance code');
});

test('the test photos, re-encoded as PNG by pngjs (its per-row filter choice) and by hand (all five filters, Adam7, stored blocks): equal to pngjs', () => {
  for (const name of ['wider_group.jpg', 'sample.jpg', 'selfie.jpg']) {
    const { width, height, data } = jpeg.decode(readFileSync(sharedImage(name)), { useTArray: true, formatAsRGBA: true });
    // pngjs's writer: RGB, filter chosen per row by its heuristic, Z_RLE at level 9.
    const png = new PNG({ width, height });
    png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const bytes = new Uint8Array(PNG.sync.write(png, { colorType: 2, inputColorType: 6 }));
    const filters = [...filterTypes(bytes, width, height, 3)].sort();
    assert.ok(filters.length >= 2, `${name}: pngjs chose filters ${filters.join(', ')}`);
    assertSameAsPngjs(bytes, `${name} (pngjs writer, filters ${filters.join(', ')})`);
    if (name === 'wider_group.jpg') {
      const rgb: number[] = [], grayAlpha: number[] = [];
      for (let i = 0; i < width * height; i++) {
        rgb.push(data[4 * i]!, data[4 * i + 1]!, data[4 * i + 2]!);
        grayAlpha.push(data[4 * i + 1]!, data[4 * i]!); // green as gray, red as alpha
      }
      assertSameAsPngjs(buildPng({ width, height, colorType: 2, depth: 8, samples: rgb, interlace: true }, (n) => n % 5), `${name} Adam7 RGB`);
      assertSameAsPngjs(buildPng({ width, height, colorType: 4, depth: 8, samples: grayAlpha }, (n) => (n * 7) % 5, { level: 0 }),
        `${name} gray + alpha, stored blocks`);
    }
  }
});

test('inflateZlib equals node:zlib on text, noise, long runs and empty input under every strategy', () => {
  const r = rng(11);
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['text', new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(2000))],
    ['noise', Uint8Array.from({ length: 70000 }, () => Math.floor(r() * 256))],
    ['runs', Uint8Array.from({ length: 300000 }, (_, i) => (i >> 12) & 0xff)],
    ['zeros', new Uint8Array(100000)],
  ];
  for (const [name, input] of inputs) {
    for (const options of [{ level: 0 }, { level: 1 }, { level: 9 }, { strategy: Z.Z_FIXED }, { strategy: Z.Z_HUFFMAN_ONLY }, { strategy: Z.Z_RLE }]) {
      const out = inflateZlib(deflateSync(input, options), input.length);
      assert.ok(Buffer.from(out).equals(input), `${name} ${JSON.stringify(options)}`);
    }
  }
});

// ------------------------------------------------------------------------------------ refused

/** A small PNG with every kind of chunk: IHDR, PLTE, tRNS, an ancillary chunk, two IDATs, IEND. */
function smallPng(): Uint8Array {
  const p = randomImage(3, 8, 33, 17, { seed: 12, interlace: true, withTrns: true });
  return buildPng(p, (n) => n % 5, {}, { idatSizes: [40], before: [pngChunk('tEXt', new TextEncoder().encode('Title\0small'))] });
}

/** The chunks of a PNG: [offset, data length, type]. */
function chunks(bytes: Uint8Array): [number, number, string][] {
  const out: [number, number, string][] = [];
  for (let at = 8; at < bytes.length;) {
    const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
    out.push([at, len, String.fromCharCode(...bytes.subarray(at + 4, at + 8))]);
    at += 12 + len;
  }
  return out;
}

test('truncated anywhere: every prefix of a PNG is refused as truncated', () => {
  const bytes = smallPng();
  assertSameAsPngjs(bytes, 'the whole file');
  for (let n = 0; n < bytes.length; n++) refused(() => readPngBytes(bytes.subarray(0, n)), /^truncated PNG: /, `first ${n} of ${bytes.length} bytes`);
});

test('truncated zlib stream: every prefix of the compressed data (chunks intact) is refused as truncated', () => {
  for (const [name, zlib] of [['dynamic', {}], ['fixed', { strategy: Z.Z_FIXED }], ['stored', { level: 0 }]] as const) {
    const p = randomImage(2, 8, 16, 9, { seed: 13 });
    const stream = deflateSync(scanlines(p, (n) => n % 5), zlib);
    for (let n = 0; n < stream.length; n++) {
      refused(() => readPngBytes(assemble(p, stream.subarray(0, n))), /^truncated PNG: /, `${name}: first ${n} of ${stream.length} bytes`);
    }
  }
});

test('a flipped bit in any chunk fails its CRC; in a length field, the chunk is misread and refused; in the signature, not a PNG', () => {
  const bytes = smallPng();
  for (let i = 0; i < 8; i++) {
    const bad = Uint8Array.from(bytes);
    bad[i]! ^= 1 << (i % 8);
    refused(() => readPngBytes(bad), /^not a PNG: the file does not start with the PNG signature$/, `signature byte ${i}`);
  }
  for (const [at, len, type] of chunks(bytes)) {
    for (let i = at; i < at + 12 + len; i++) {
      const bad = Uint8Array.from(bytes);
      bad[i]! ^= 1 << (i % 8);
      const label = `${type} chunk byte ${i - at}`;
      if (i < at + 4) refused(() => readPngBytes(bad), /^(corrupt|truncated) PNG: /, label);
      else if (i < at + 8) refused(() => readPngBytes(bad), new RegExp(`^corrupt PNG: CRC mismatch in \\S+ chunk \\(at byte ${at}\\)$`), label);
      else refused(() => readPngBytes(bad), new RegExp(`^corrupt PNG: CRC mismatch in ${type} chunk \\(at byte ${at}\\)$`), label);
    }
  }
});

test('a flipped bit inside the compressed data (CRC recomputed): refused or decoded to the declared size, never more', () => {
  let refusals = 0, decoded = 0, flips = 0;
  for (const [name, zlib] of [['dynamic', {}], ['fixed', { strategy: Z.Z_FIXED }], ['stored', { level: 0 }]] as const) {
    const p = randomImage(6, 8, 16, 9, { seed: 14, interlace: true, noise: 0.1 });
    const raw = scanlines(p, (n) => n % 5);
    const stream = deflateSync(raw, zlib);
    const original = readPngBytes(assemble(p, stream)).data;
    for (let bit = 0; bit < 8 * stream.length; bit++, flips++) {
      const bad = Uint8Array.from(stream);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      try {
        const out = readPngBytes(assemble(p, bad));
        assert.is(out.data.length, 4 * p.width * p.height, `${name} bit ${bit}: output size`);
        assert.equal(out.data, original, `${name} bit ${bit}: decoded, so the flip changed nothing`);
        decoded++;
      } catch (e) {
        assert.instance(e, RetinaFaceError, `${name} bit ${bit}: ${String(e)}`);
        assert.match((e as Error).message, /^(corrupt|truncated) PNG: [^\n]+$/, `${name} bit ${bit}`);
        refusals++;
      }
      // The stream alone: inflateZlib returns exactly the size asked for, or throws.
      try {
        assert.is(inflateZlib(bad, raw.length).length, raw.length, `${name} bit ${bit}: inflateZlib output size`);
      } catch (e) {
        assert.instance(e, RetinaFaceError, `${name} bit ${bit} (inflateZlib): ${String(e)}`);
      }
    }
  }
  // What still decodes decodes to the original (the Adler-32 sees to it): flips in the padding
  // before a stored block or the checksum, or a back-reference to an equal earlier run.
  assert.is(refusals + decoded, flips);
  assert.ok(decoded < flips / 100, `${decoded} of ${flips} flipped bits decoded`);
});

test('a bad Adler-32 is refused', () => {
  const p = randomImage(2, 8, 7, 3, { seed: 15 });
  const stream = Uint8Array.from(deflateSync(scanlines(p)));
  stream[stream.length - 1]! ^= 0x10;
  refused(() => readPngBytes(assemble(p, stream)), /^corrupt PNG: Adler-32 mismatch in the zlib stream \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
});

test('a stream that inflates to more than IHDR implies is refused at the first byte too many (an extra row; a deflate bomb)', () => {
  const p = randomImage(0, 8, 16, 16, { seed: 16 });
  const expected = 16 * 17;
  const extraRow = concat(scanlines(p), new Uint8Array(17));
  refused(() => readPngBytes(assemble(p, deflateSync(extraRow))),
    new RegExp(`^corrupt PNG: the image data inflates to more than the ${expected} bytes that IHDR implies$`));
  // 64 MB of zeros deflate to ~64 KB; only the 272 bytes IHDR implies are ever allocated.
  const bomb = deflateSync(new Uint8Array(64 << 20), { level: 9 });
  refused(() => readPngBytes(assemble(p, bomb)), /^corrupt PNG: the image data inflates to more than the 272 bytes that IHDR implies$/);
});

test('a stream shorter than IHDR implies is refused; so is a size no deflate stream of that many bytes can reach, before allocating', () => {
  const p = randomImage(2, 16, 7, 3, { seed: 17 });
  const raw = scanlines(p);
  refused(() => readPngBytes(assemble(p, deflateSync(raw.subarray(0, raw.length - 1)))),
    new RegExp(`^truncated PNG: the image data inflates to ${raw.length - 1} bytes, IHDR implies ${raw.length}$`));
  // 30000x30000 RGBA 16-bit: 7.2 GB of scanlines declared, 11 bytes of zlib data.
  const huge = { width: 30000, height: 30000, colorType: 6, depth: 16, samples: [] } as RawPng;
  refused(() => readPngBytes(assemble(huge, deflateSync(new Uint8Array(8)))),
    /^truncated PNG: \d+ bytes of IDAT data cannot inflate to the 7200030000 bytes a 30000x30000 image needs$/);
});

// Hand-built deflate streams, for the errors node:zlib never writes.

/** Bits in deflate order (RFC 1951 3.1.1): values LSB first, Huffman codes MSB first. */
class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;

  bits(value: number, count: number): this {
    for (let i = 0; i < count; i++) {
      this.acc |= ((value >> i) & 1) << this.n;
      if (++this.n === 8) { this.bytes.push(this.acc); this.acc = 0; this.n = 0; }
    }
    return this;
  }

  code(code: number, length: number): this {
    for (let i = length - 1; i >= 0; i--) this.bits((code >> i) & 1, 1);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.n > 0 ? [...this.bytes, this.acc] : this.bytes);
  }
}

/** Adler-32, the plain way (RFC 1950 8.2), independent of the reader's. */
function adler32Reference(bytes: Uint8Array): number {
  let a = 1, b = 0;
  for (const x of bytes) { a = (a + x) % 65521; b = (b + a) % 65521; }
  return ((b << 16) | a) >>> 0;
}

function be32(v: number): Uint8Array {
  return Uint8Array.from([v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
}

/** A zlib stream around raw deflate data whose output is `raw` (for the Adler-32). */
function zlibWrap(deflate: Uint8Array, raw: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([0x78, 0x01]), deflate, be32(adler32Reference(raw)));
}

/**
 * One dynamic block for 4 zero bytes (a 3x1 gray image: filter byte and three pixels). Codes:
 * literal/length {0: '0', 256: '10', 257: '11'}, distance {0: '0'}, a single one-bit code (the
 * incomplete code RFC 1951 3.2.7 and zlib allow). Data: literal 0, then length 3 (symbol 257) at
 * distance code `distanceBit` ('0' is distance 1; '1' is no code), then end of block.
 */
function singleDistanceCodeStream(distanceBit: number): Uint8Array {
  const w = new BitWriter().bits(1, 1).bits(2, 2); // BFINAL, BTYPE 10
  w.bits(258 - 257, 5).bits(1 - 1, 5).bits(18 - 4, 4); // HLIT 258, HDIST 1, HCLEN 18
  // The code-length code {18: '0', 1: '10', 2: '11'}, its lengths sent in RFC 1951's order up to symbol 1.
  const lengths: Record<number, number> = { 18: 1, 1: 2, 2: 2 };
  for (const s of [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1]) w.bits(lengths[s] ?? 0, 3);
  // The 258 literal/length and 1 distance code lengths: 1, 255 zeros (18 x 138, 18 x 117), 2, 2; 1.
  w.code(0b10, 2);
  w.code(0b0, 1).bits(138 - 11, 7);
  w.code(0b0, 1).bits(117 - 11, 7);
  w.code(0b11, 2).code(0b11, 2);
  w.code(0b10, 2);
  // Data: literal 0, length 3, the distance code bit, end of block.
  w.code(0b0, 1).code(0b11, 2).code(distanceBit, 1).code(0b10, 2);
  return zlibWrap(w.finish(), new Uint8Array(4));
}

/**
 * A final dynamic block whose code lengths (`lengths` gives the non-zero ones of `count` symbols)
 * are sent plainly: the code-length code gives symbols 0-15 four bits each (codeword = the length),
 * so each length costs one 4-bit code. `data` writes the block's symbols, if it gets that far.
 */
function dynamicBlockStream(literal: [number, Record<number, number>], distance: [number, Record<number, number>],
  data: (w: BitWriter) => void = () => {}): Uint8Array {
  const expand = ([count, nonZero]: [number, Record<number, number>]): number[] => Array.from({ length: count }, (_, s) => nonZero[s] ?? 0);
  const w = new BitWriter().bits(1, 1).bits(2, 2).bits(literal[0] - 257, 5).bits(distance[0] - 1, 5).bits(19 - 4, 4);
  for (const s of [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]) w.bits(s < 16 ? 4 : 0, 3);
  for (const len of [...expand(literal), ...expand(distance)]) w.code(len, 4);
  data(w);
  return zlibWrap(w.finish(), new Uint8Array(0));
}

test('hand-built streams with what node:zlib never writes are refused with what is wrong', () => {
  const gray = (width: number, height: number): RawPng => ({ width, height, colorType: 0, depth: 8, samples: [] });
  const fixed = (f: (w: BitWriter) => void): Uint8Array => {
    const w = new BitWriter().bits(1, 1).bits(1, 2); // BFINAL, BTYPE 01
    f(w);
    return concat(Uint8Array.from([0x78, 0x01]), w.finish(), be32(0));
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['invalid Huffman code', singleDistanceCodeStream(1), /^corrupt PNG: invalid Huffman code in the zlib stream$/],
    ['block type 3', Uint8Array.from([0x78, 0x01, 0x07, 0, 0, 0, 0]), /^corrupt PNG: invalid deflate block type 3$/],
    ['stored LEN/NLEN', Uint8Array.from([0x78, 0x01, 0x01, 4, 0, 4, 0, 0, 0, 0, 0]), /^corrupt PNG: stored block length does not match its complement$/],
    ['length symbol 286', fixed((w) => w.code(0xc6, 8)), /^corrupt PNG: invalid length symbol 286$/],
    ['distance symbol 30', fixed((w) => w.code(0x30, 8).code(1, 7).code(30, 5)), /^corrupt PNG: invalid distance symbol 30$/],
    ['distance too far back', fixed((w) => w.code(0x30, 8).code(1, 7).code(1, 5)),
      /^corrupt PNG: deflate distance 2 reaches back past the first byte \(1 inflated so far\)$/],
    ['incomplete literal/length code', dynamicBlockStream([257, { 0: 1, 256: 2 }], [1, { 0: 1 }]),
      /^corrupt PNG: incomplete literal\/length Huffman code$/],
    ['over-subscribed distance code', dynamicBlockStream([257, { 0: 1, 256: 1 }], [3, { 0: 1, 1: 1, 2: 1 }]),
      /^corrupt PNG: over-subscribed distance Huffman code$/],
    ['no end-of-block code', dynamicBlockStream([257, { 0: 1, 1: 1 }], [1, { 0: 1 }]), /^corrupt PNG: dynamic block has no end-of-block code$/],
    ['287 literal/length codes', dynamicBlockStream([287, { 0: 1, 256: 1 }], [1, { 0: 1 }]),
      /^corrupt PNG: dynamic block declares 287 literal\/length and 1 distance codes \(at most 286 and 30\)$/],
    ['over-subscribed code-length code', (() => {
      const w = new BitWriter().bits(1, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(0, 4); // 4 code-length codes
      for (let i = 0; i < 4; i++) w.bits(1, 3); // four codes of length 1
      return concat(Uint8Array.from([0x78, 0x01]), w.finish(), new Uint8Array(8));
    })(), /^corrupt PNG: over-subscribed code-length Huffman code$/],
    ['compression method 7', Uint8Array.from([0x77, 0x85, 0x03, 0x00]), /^corrupt PNG: zlib compression method 7, expected 8 \(deflate\)$/],
    ['header check bits', Uint8Array.from([0x78, 0x02, 0x03, 0x00]), /^corrupt PNG: zlib header check bits are wrong$/],
    ['preset dictionary', Uint8Array.from([0x78, 0xbb, 0, 0, 0, 0, 0x03, 0x00]), /^corrupt PNG: zlib stream asks for a preset dictionary/],
  ];
  for (const [name, stream, re] of cases) refused(() => readPngBytes(assemble(gray(3, 1), stream)), re, name);
});

test('malformed PNG structure is refused with what is wrong', () => {
  const p = randomImage(2, 8, 3, 2, { seed: 18 });
  const idat = pngChunk('IDAT', deflateSync(scanlines(p)));
  const iend = pngChunk('IEND', new Uint8Array(0));
  const header = (fields: Partial<{ width: number; height: number; depth: number; colorType: number; compression: number; filter: number; interlace: number }>): Uint8Array => {
    const f = { width: 3, height: 2, depth: 8, colorType: 2, compression: 0, filter: 0, interlace: 0, ...fields };
    const data = new Uint8Array(13);
    const v = new DataView(data.buffer);
    v.setUint32(0, f.width);
    v.setUint32(4, f.height);
    data.set([f.depth, f.colorType, f.compression, f.filter, f.interlace], 8);
    return pngChunk('IHDR', data);
  };
  const file = (...parts: Uint8Array[]): Uint8Array => concat(SIGNATURE, ...parts);
  const palette: RawPng = { width: 3, height: 2, colorType: 3, depth: 8, samples: [0, 1, 0, 1, 3, 0] }; // 3: past a 2-entry PLTE
  const cases: [string, Uint8Array, RegExp][] = [
    ['not a PNG', new TextEncoder().encode('GIF89a...........'), /^not a PNG: the file does not start with the PNG signature$/],
    ['first chunk', file(pngChunk('tEXt', new Uint8Array(3)), header({}), idat, iend), /^corrupt PNG: the first chunk is tEXt, expected IHDR$/],
    ['IHDR length', file(pngChunk('IHDR', new Uint8Array(12)), idat, iend), /^corrupt PNG: IHDR chunk of 12 bytes, expected 13$/],
    ['zero width', file(header({ width: 0 }), idat, iend), /^corrupt PNG: image size 0x2, each side must be 1..2\^31-1$/],
    ['width 2^31', file(header({ width: 2 ** 31 }), idat, iend), /^corrupt PNG: image size 2147483648x2/],
    ['colour type 5', file(header({ colorType: 5 }), idat, iend), /^corrupt PNG: unknown colour type 5$/],
    ['RGB depth 4', file(header({ depth: 4 }), idat, iend), /^corrupt PNG: bit depth 4 is not allowed for colour type 2 \(allowed: 8, 16\)$/],
    ['palette depth 16', file(header({ colorType: 3, depth: 16 }), idat, iend), /^corrupt PNG: bit depth 16 is not allowed for colour type 3 \(allowed: 1, 2, 4, 8\)$/],
    ['compression 1', file(header({ compression: 1 }), idat, iend), /^corrupt PNG: unknown compression method 1$/],
    ['filter method 1', file(header({ filter: 1 }), idat, iend), /^corrupt PNG: unknown filter method 1$/],
    ['interlace 2', file(header({ interlace: 2 }), idat, iend), /^corrupt PNG: unknown interlace method 2$/],
    ['second IHDR', file(header({}), header({}), idat, iend), /^corrupt PNG: a second IHDR chunk$/],
    ['unknown critical chunk', file(header({}), pngChunk('ABCD', new Uint8Array(1)), idat, iend), /^corrupt PNG: unknown critical chunk ABCD$/],
    ['invalid chunk type', file(header({}), pngChunk('ab1d', new Uint8Array(1)), idat, iend), /^corrupt PNG: invalid chunk type ab\\x31d at byte 33$/],
    ['no IDAT', file(header({}), iend), /^corrupt PNG: no IDAT chunk$/],
    ['no IEND', file(header({}), idat), /^truncated PNG: the file ends after \d+ bytes, before the IEND chunk$/],
    ['IDATs apart', file(header({}), idat, pngChunk('tEXt', new Uint8Array(1)), idat, iend), /^corrupt PNG: IDAT chunks are not consecutive$/],
    ['unknown filter type', assemble(p, deflateSync(scanlines(p, (n) => (n === 1 ? 5 : 0)))), /^corrupt PNG: unknown filter type 5 in row 1$/],
    ['no PLTE', file(header({ colorType: 3 }), idat, iend), /^corrupt PNG: palette image without a PLTE chunk before IDAT$/],
    ['PLTE length', assemble({ ...palette, palette: undefined }, deflateSync(scanlines(palette)), { before: [pngChunk('PLTE', new Uint8Array(7))] }),
      /^corrupt PNG: PLTE chunk of 7 bytes, expected 3 per entry, 1-256 entries$/],
    ['index past PLTE', encodePng({ ...palette, palette: [[1, 2, 3], [4, 5, 6]] }), /^corrupt PNG: palette index 3 in a PLTE of 2 entries$/],
    ['tRNS past PLTE', encodePng({ ...palette, palette: [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 0]], trns: [1, 2, 3, 4, 5] }),
      /^corrupt PNG: tRNS chunk holds 5 alphas for a PLTE of 4 entries$/],
    ['tRNS before PLTE', assemble({ ...palette, palette: undefined }, deflateSync(scanlines(palette)),
      { before: [pngChunk('tRNS', new Uint8Array(1)), pngChunk('PLTE', new Uint8Array(12))] }), /^corrupt PNG: tRNS chunk before PLTE$/],
    ['gray tRNS length', encodePng({ width: 1, height: 1, colorType: 0, depth: 8, samples: [0], trns: [0, 0, 0] }),
      /^corrupt PNG: tRNS chunk of 3 bytes, expected 2 for colour type 0$/],
  ];
  for (const [name, bytes, re] of cases) refused(() => readPngBytes(bytes), re, name);
});

test.run();
