// A PNG reader in plain TypeScript, for the browser build (png_codec.browser.ts), where pngjs cannot
// run (it needs Node's zlib and a global Buffer). It returns exactly what pngjs's
// PNG.sync.read(buf, { skipRescale: true }) returns (PngRead, see png_codec.ts), so decode.ts gives
// the same RGB in both builds; test/png_read.test.ts compares the two sample for sample.
//
// The file reads top to bottom as the decoder runs:
//   1. CRC-32 (PNG spec Annex D) and Adler-32 (RFC 1950 section 8.2), the two checksums;
//   2. inflate: the zlib wrapper (RFC 1950) around deflate (RFC 1951): stored, fixed-Huffman and
//      dynamic-Huffman blocks, decoded through one lookup table per Huffman code;
//   3. the chunk walk: signature, chunks (every CRC verified), IHDR, PLTE, tRNS, IDAT..., IEND;
//   4. the image: the IDAT stream inflated into a buffer of exactly the size IHDR implies, the
//      filters undone (None, Sub, Up, Average, Paeth) in place, Adam7 passes scattered, and every
//      pixel widened to RGBA.
//
// Safety: the inflated size is known from IHDR before a byte is inflated. Output beyond it is
// refused, a short stream is refused, and a header whose size no deflate stream of this many bytes
// could reach (deflate expands at most 1032:1) is refused before anything is allocated. Every
// failure is a RetinaFaceError (code EDECODE) with a one-line message that starts with
// "corrupt PNG:", "truncated PNG:" or "not a PNG:"; every loop consumes input or output, so no
// input can make it hang.
//
// Where pngjs is lenient about an invalid file, this reader follows the PNG spec (and libpng)
// instead: it refuses an inflated stream longer than the image (pngjs cuts it silently), IDAT
// chunks that are not consecutive, and tRNS/PLTE chunks of the wrong size; like libpng it ignores
// bytes after IEND (pngjs refuses them) and a PLTE or tRNS chunk in an image that cannot use it.
import { RetinaFaceError } from '../errors.js';
import { crc32 } from '../crc32.js';
import type { PngRead } from './png_codec.js';

function corrupt(message: string): never {
  throw new RetinaFaceError(`corrupt PNG: ${message}`, { code: 'EDECODE' });
}

function truncated(message: string): never {
  throw new RetinaFaceError(`truncated PNG: ${message}`, { code: 'EDECODE' });
}

// ------------------------------------------------------------------------------------ checksums

export { crc32 } from '../crc32.js';

/** Adler-32 of bytes[start, end) (RFC 1950 8.2): two sums mod 65521, reduced every 5552 bytes
 * (zlib's NMAX: the largest run after which b cannot pass 2^32; doubles would allow more). */
export function adler32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let a = 1, b = 0;
  for (let i = start; i < end;) {
    const runEnd = Math.min(end, i + 5552);
    for (; i < runEnd; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

// -------------------------------------------------------------------------------------- inflate

/**
 * Reads a deflate stream bit by bit, least significant bit first (RFC 1951 3.1.1). Bytes enter
 * `bitBuf` at the top and bits leave at the bottom. Past the end of the input it feeds zero bytes
 * so that a table lookup may peek further than the last code needs; consuming one of those bits
 * means the stream was cut short, which drop() reports.
 */
class BitReader {
  bitBuf = 0; // the bits loaded and not yet consumed; the next one is bit 0
  bitCount = 0; // how many bits bitBuf holds (at most 23: need() asks for 16 at most)

  constructor(readonly data: Uint8Array, public pos: number, readonly end: number) {}

  /** Loads bytes until at least n <= 16 bits are buffered. */
  need(n: number): void {
    while (this.bitCount < n) {
      const byte = this.pos < this.end ? this.data[this.pos]! : 0;
      this.bitBuf |= byte << this.bitCount;
      this.pos++;
      this.bitCount += 8;
    }
  }

  /** Consumes n buffered bits. */
  drop(n: number): void {
    this.bitBuf >>>= n;
    this.bitCount -= n;
    // Bits consumed so far: pos * 8 - bitCount. More than the input holds: the stream is cut short.
    if (this.pos > this.end && (this.pos - this.end) * 8 > this.bitCount) {
      truncated('the zlib stream in the IDAT chunks ends in the middle of a deflate block');
    }
  }

  /** The next n <= 16 bits as a number, the first bit read in bit 0 (RFC 1951 3.1.1). */
  bits(n: number): number {
    if (n === 0) return 0;
    this.need(n);
    const value = this.bitBuf & ((1 << n) - 1);
    this.drop(n);
    return value;
  }

  /** Skips to the next byte boundary and hands unread whole bytes back to the byte position. */
  alignToByte(): void {
    this.drop(this.bitCount & 7);
    this.pos -= this.bitCount >> 3;
    this.bitBuf = 0;
    this.bitCount = 0;
  }
}

/**
 * A Huffman code as one lookup table: the next `maxBits` bits of the stream (first bit in bit 0)
 * index `table`, whose entry is (symbol << 4) | code length; 0 marks a bit pattern that starts no
 * code. A code of length L fills every entry whose low L bits are its bit-reversed code (deflate
 * sends Huffman codes most significant bit first into an LSB-first stream, RFC 1951 3.1.1).
 */
interface Huffman {
  table: Uint16Array;
  maxBits: number;
}

const MAX_CODE_BITS = 15; // RFC 1951 3.2.2: code lengths are 0..15

/**
 * The canonical Huffman code of RFC 1951 3.2.2 for `lengths` (one per symbol, 0 = unused), as a
 * lookup table. Refuses what zlib refuses (inflate_table): an over-subscribed code, and an
 * incomplete one unless it is a single code of length 1 (allowed, so that a block may use a single
 * distance; zlib allows it for the literal/length code too, but not for the code-length code).
 */
function buildHuffman(lengths: Uint8Array, what: string, singleCodeAllowed = true): Huffman {
  // count[L]: how many symbols have a code of length L.
  const count = new Uint16Array(MAX_CODE_BITS + 1);
  for (const len of lengths) count[len]!++;
  count[0] = 0;
  let maxBits = 0;
  for (let len = 1; len <= MAX_CODE_BITS; len++) if (count[len]! > 0) maxBits = len;

  // Kraft: `left` is how many codes of the current length are still free.
  let left = 1;
  for (let len = 1; len <= MAX_CODE_BITS; len++) {
    left = 2 * left - count[len]!;
    if (left < 0) corrupt(`over-subscribed ${what} Huffman code`);
  }
  if (left > 0 && (maxBits > 1 || !singleCodeAllowed)) corrupt(`incomplete ${what} Huffman code`);
  if (maxBits === 0) return { table: new Uint16Array(1), maxBits: 0 }; // no codes: every lookup fails

  // nextCode[L]: the first code of length L (RFC 1951 3.2.2 step 2).
  const nextCode = new Uint16Array(MAX_CODE_BITS + 2);
  for (let len = 1, code = 0; len <= MAX_CODE_BITS; len++) {
    code = (code + count[len - 1]!) << 1;
    nextCode[len] = code;
  }

  const table = new Uint16Array(1 << maxBits);
  for (let symbol = 0; symbol < lengths.length; symbol++) {
    const len = lengths[symbol]!;
    if (len === 0) continue;
    const code = nextCode[len]!++;
    let reversed = 0;
    for (let i = 0; i < len; i++) reversed |= ((code >> i) & 1) << (len - 1 - i);
    for (let i = reversed; i < table.length; i += 1 << len) table[i] = (symbol << 4) | len;
  }
  return { table, maxBits };
}

/** The next symbol of code `h`. */
function decodeSymbol(br: BitReader, h: Huffman): number {
  br.need(h.maxBits);
  const entry = h.table[br.bitBuf & ((1 << h.maxBits) - 1)]!;
  // Bits that start no code. Never the zero padding past the end of the input: every code that
  // buildHuffman accepts has an all-zero codeword, so a cut stream is reported by drop() instead.
  if (entry === 0) corrupt('invalid Huffman code in the zlib stream');
  br.drop(entry & 15);
  return entry >> 4;
}

// Length symbols 257..285 and distance symbols 0..29: base value and extra bits (RFC 1951 3.2.5).
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
  4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

/** The fixed codes of RFC 1951 3.2.6: literal/length 0-143: 8 bits, 144-255: 9, 256-279: 7,
 * 280-287: 8; all 32 distance codes 5 bits (symbols 286, 287, 30 and 31 are refused when met). */
const FIXED_LITERAL = (() => {
  const lengths = new Uint8Array(288);
  lengths.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  return buildHuffman(lengths, 'fixed literal/length');
})();
const FIXED_DISTANCE = buildHuffman(new Uint8Array(32).fill(5), 'fixed distance');

/** The order in which a dynamic block sends its code-length code lengths (RFC 1951 3.2.7). */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A dynamic block's header (RFC 1951 3.2.7): its literal/length and distance codes. */
function readDynamicCodes(br: BitReader): { literal: Huffman; distance: Huffman } {
  const hlit = br.bits(5) + 257; // literal/length codes sent
  const hdist = br.bits(5) + 1; // distance codes sent
  const hclen = br.bits(4) + 4; // code-length codes sent
  if (hlit > 286 || hdist > 30) corrupt(`dynamic block declares ${hlit} literal/length and ${hdist} distance codes (at most 286 and 30)`);

  const codeLengthLengths = new Uint8Array(19);
  for (let i = 0; i < hclen; i++) codeLengthLengths[CODE_LENGTH_ORDER[i]!] = br.bits(3);
  const codeLengthCode = buildHuffman(codeLengthLengths, 'code-length', false);

  // The literal/length and distance code lengths, one run-length-coded sequence (a repeat may cross
  // from one into the other): 0-15 a length, 16 the previous length 3-6 times, 17 zero 3-10 times,
  // 18 zero 11-138 times.
  const lengths = new Uint8Array(hlit + hdist);
  for (let n = 0; n < lengths.length;) {
    const symbol = decodeSymbol(br, codeLengthCode);
    if (symbol < 16) {
      lengths[n++] = symbol;
      continue;
    }
    let value = 0, repeat: number;
    if (symbol === 16) {
      if (n === 0) corrupt('code-length repeat (16) with no previous length');
      value = lengths[n - 1]!;
      repeat = 3 + br.bits(2);
    } else if (symbol === 17) {
      repeat = 3 + br.bits(3);
    } else {
      repeat = 11 + br.bits(7);
    }
    if (n + repeat > lengths.length) corrupt('code-length repeat runs past the declared number of codes');
    lengths.fill(value, n, n + repeat);
    n += repeat;
  }
  if (lengths[256] === 0) corrupt('dynamic block has no end-of-block code');
  return {
    literal: buildHuffman(lengths.subarray(0, hlit), 'literal/length'),
    distance: buildHuffman(lengths.subarray(hlit), 'distance'),
  };
}

/**
 * Inflates the zlib stream data[start, end) (RFC 1950: 2-byte header, deflate blocks, Adler-32)
 * into exactly `expected` bytes: more output is refused as soon as it would be written, less is
 * refused at the end of the stream. Bytes after the Adler-32 are ignored (libpng warns, zlib stops).
 */
export function inflateZlib(data: Uint8Array, expected: number, start = 0, end = data.length): Uint8Array {
  // Header (RFC 1950 2.2): CMF = CINFO (window log2 - 8) << 4 | CM (8 = deflate); FLG with FCHECK
  // making CMF * 256 + FLG a multiple of 31, and FDICT (bit 5) unset: PNG allows no preset dictionary.
  if (end - start < 2) truncated('the IDAT chunks hold no zlib header');
  const cmf = data[start]!, flg = data[start + 1]!;
  if ((cmf & 15) !== 8) corrupt(`zlib compression method ${cmf & 15}, expected 8 (deflate)`);
  if (cmf >> 4 > 7) corrupt(`zlib window of 2^${(cmf >> 4) + 8} bytes, at most 2^15 allowed`);
  if ((cmf * 256 + flg) % 31 !== 0) corrupt('zlib header check bits are wrong');
  if (flg & 32) corrupt('zlib stream asks for a preset dictionary, which PNG does not allow');

  const out = new Uint8Array(expected);
  const tooLong = (): never => corrupt(`the image data inflates to more than the ${expected} bytes that IHDR implies`);
  let outPos = 0;
  const br = new BitReader(data, start + 2, end);

  for (let last = false; !last;) {
    // Block header (RFC 1951 3.2.3): BFINAL (1 bit), BTYPE (2 bits).
    last = br.bits(1) === 1;
    const type = br.bits(2);

    if (type === 0) {
      // Stored (RFC 1951 3.2.4): byte-aligned LEN, NLEN = ~LEN, then LEN raw bytes.
      br.alignToByte();
      if (br.pos + 4 > end) truncated('the zlib stream ends inside a stored block header');
      const len = data[br.pos]! | (data[br.pos + 1]! << 8);
      const nlen = data[br.pos + 2]! | (data[br.pos + 3]! << 8);
      if (len !== (~nlen & 0xffff)) corrupt('stored block length does not match its complement');
      br.pos += 4;
      if (br.pos + len > end) truncated('the zlib stream ends inside a stored block');
      if (outPos + len > expected) tooLong();
      out.set(data.subarray(br.pos, br.pos + len), outPos);
      br.pos += len;
      outPos += len;
      continue;
    }
    if (type === 3) corrupt('invalid deflate block type 3');

    // Huffman-coded (RFC 1951 3.2.5): literals 0-255, end of block 256, else a (length, distance)
    // pair that copies `length` bytes from `distance` bytes back, possibly overlapping itself.
    const { literal, distance } = type === 1 ? { literal: FIXED_LITERAL, distance: FIXED_DISTANCE } : readDynamicCodes(br);
    for (;;) {
      const symbol = decodeSymbol(br, literal);
      if (symbol < 256) {
        if (outPos >= expected) tooLong();
        out[outPos++] = symbol;
        continue;
      }
      if (symbol === 256) break; // end of block
      const lengthIndex = symbol - 257;
      if (lengthIndex >= 29) corrupt(`invalid length symbol ${symbol}`);
      const length = LENGTH_BASE[lengthIndex]! + br.bits(LENGTH_EXTRA[lengthIndex]!);
      const distanceIndex = decodeSymbol(br, distance);
      if (distanceIndex >= 30) corrupt(`invalid distance symbol ${distanceIndex}`);
      const dist = DIST_BASE[distanceIndex]! + br.bits(DIST_EXTRA[distanceIndex]!);
      if (dist > outPos) corrupt(`deflate distance ${dist} reaches back past the first byte (${outPos} inflated so far)`);
      if (outPos + length > expected) tooLong();
      for (let i = 0; i < length; i++, outPos++) out[outPos] = out[outPos - dist]!;
    }
  }

  // Trailer (RFC 1950 2.2): Adler-32 of the uncompressed data, big-endian, byte-aligned.
  br.alignToByte();
  if (outPos < expected) truncated(`the image data inflates to ${outPos} bytes, IHDR implies ${expected}`);
  if (br.pos + 4 > end) truncated('the zlib stream ends before its Adler-32 checksum');
  const stored = ((data[br.pos]! << 24) | (data[br.pos + 1]! << 16) | (data[br.pos + 2]! << 8) | data[br.pos + 3]!) >>> 0;
  const computed = adler32(out);
  if (stored !== computed) corrupt(`Adler-32 mismatch in the zlib stream (stored ${hex32(stored)}, computed ${hex32(computed)})`);
  return out;
}

function hex32(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

// ----------------------------------------------------------------------------------------- chunks

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Deflate's best case: a 1-bit length-258 code and a 1-bit distance code copy 258 bytes per 2 bits. */
const MAX_DEFLATE_RATIO = 1032;

/** Channels per pixel, and the bit depths each colour type allows (PNG spec 11.2.2, table 11.1). */
const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] }, // gray
  2: { channels: 3, depths: [8, 16] }, // RGB
  3: { channels: 1, depths: [1, 2, 4, 8] }, // palette index
  4: { channels: 2, depths: [8, 16] }, // gray + alpha
  6: { channels: 4, depths: [8, 16] }, // RGBA
};

function u32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** A chunk type for messages: letters as they are, anything else as \xNN. */
function chunkName(b: Uint8Array, at: number): string {
  let name = '';
  for (let i = at; i < at + 4; i++) {
    const c = b[i]!;
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    name += letter ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return name;
}

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
}

/** IHDR (PNG spec 11.2.2): 13 bytes, every field checked. */
function readHeader(b: Uint8Array, at: number, length: number): Header {
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

// ------------------------------------------------------------------------------ passes and filters

/** One pass of the image: the whole image, or one of Adam7's seven (PNG spec 8.2). */
interface Pass {
  x0: number; y0: number; dx: number; dy: number; // the image pixels it holds: (x0 + i dx, y0 + j dy)
  width: number; height: number; // its size in pixels (both > 0)
  rowBytes: number; // bytes per row, without the filter byte
  offset: number; // where its first row's filter byte sits in the inflated data
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** The passes that hold pixels (an Adam7 pass of a small image may be empty: it has no rows at all). */
function imagePasses(h: Header): Pass[] {
  const bitsPerPixel = COLOR_TYPES[h.colorType]!.channels * h.depth;
  const grid = h.interlaced ? ADAM7 : [[0, 0, 1, 1] as const];
  const passes: Pass[] = [];
  let offset = 0;
  for (const [x0, y0, dx, dy] of grid) {
    const width = Math.ceil((h.width - x0) / dx), height = Math.ceil((h.height - y0) / dy);
    if (width <= 0 || height <= 0) continue;
    const rowBytes = Math.ceil((width * bitsPerPixel) / 8);
    passes.push({ x0, y0, dx, dy, width, height, rowBytes, offset });
    offset += height * (1 + rowBytes);
  }
  return passes;
}

/**
 * Undoes the row filters of one pass in place (PNG spec 9.2). Each row is a filter byte and
 * rowBytes filtered bytes; a = the byte one pixel to the left (bpp bytes back, 1 for sub-byte
 * depths), b = the byte above, c = the byte above a; all 0 outside the pass.
 */
function unfilterPass(raw: Uint8Array, pass: Pass, bpp: number): void {
  const { rowBytes } = pass;
  for (let y = 0; y < pass.height; y++) {
    const filterAt = pass.offset + y * (1 + rowBytes);
    const row = filterAt + 1; // this row's first byte
    const up = row - (1 + rowBytes); // the row above's first byte (only read when y > 0)
    const filter = raw[filterAt]!;
    switch (filter) {
      case 0: // None
        break;
      case 1: // Sub: x + a
        for (let i = bpp; i < rowBytes; i++) raw[row + i] = raw[row + i]! + raw[row + i - bpp]!;
        break;
      case 2: // Up: x + b
        if (y > 0) for (let i = 0; i < rowBytes; i++) raw[row + i] = raw[row + i]! + raw[up + i]!;
        break;
      case 3: // Average: x + floor((a + b) / 2)
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? raw[row + i - bpp]! : 0;
          const b = y > 0 ? raw[up + i]! : 0;
          raw[row + i] = raw[row + i]! + ((a + b) >> 1);
        }
        break;
      case 4: // Paeth: x + whichever of a, b, c is nearest p = a + b - c (ties: a, then b)
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? raw[row + i - bpp]! : 0;
          const b = y > 0 ? raw[up + i]! : 0;
          const c = i >= bpp && y > 0 ? raw[up + i - bpp]! : 0;
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          raw[row + i] = raw[row + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        corrupt(`unknown filter type ${filter} in row ${y}${pass.dx > 1 ? ' of an Adam7 pass' : ''}`);
    }
  }
}

// ------------------------------------------------------------------------------------------ pixels

/** Sample `i` (counted across channels) of the row starting at raw[row]: MSB-first packing for
 * depths under 8, big-endian pairs for 16 (PNG spec 7.2). */
function sampleAt(raw: Uint8Array, row: number, i: number, depth: number): number {
  if (depth === 8) return raw[row + i]!;
  if (depth === 16) return (raw[row + 2 * i]! << 8) | raw[row + 2 * i + 1]!;
  const bit = i * depth;
  return (raw[row + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

interface Colors {
  /** 8-bit RGBA per palette entry (alpha from tRNS, else 255); null unless colour type 3. */
  palette: Uint8Array | null;
  paletteSize: number;
  /** tRNS colour of a gray (1 value) or RGB (3 values) image, raw sample values. */
  transColor: number[] | undefined;
}

/**
 * Writes one pass's pixels into `out` as RGBA, as pngjs does with skipRescale: raw sample values,
 * gray replicated, alpha (2^depth - 1) where the image has none (pngjs's maxBit: 1 for 1-bit
 * gray), palette indices replaced by their 8-bit RGBA, and every channel of a pixel equal to the
 * tRNS colour set to 0.
 */
function expandPass(raw: Uint8Array, pass: Pass, h: Header, colors: Colors, out: Uint8Array | Uint16Array): void {
  const { depth } = h;
  const opaque = (1 << depth) - 1;
  const trans = colors.transColor;
  for (let py = 0; py < pass.height; py++) {
    const row = pass.offset + py * (1 + pass.rowBytes) + 1;
    const y = pass.y0 + py * pass.dy;
    for (let px = 0; px < pass.width; px++) {
      const o = 4 * (y * h.width + pass.x0 + px * pass.dx);
      switch (h.colorType) {
        case 0: { // gray
          const g = sampleAt(raw, row, px, depth);
          out[o] = out[o + 1] = out[o + 2] = g;
          out[o + 3] = opaque;
          if (trans !== undefined && g === trans[0]) out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
          break;
        }
        case 2: { // RGB
          const r = sampleAt(raw, row, 3 * px, depth), g = sampleAt(raw, row, 3 * px + 1, depth), b = sampleAt(raw, row, 3 * px + 2, depth);
          out[o] = r; out[o + 1] = g; out[o + 2] = b;
          out[o + 3] = opaque;
          if (trans !== undefined && r === trans[0] && g === trans[1] && b === trans[2]) out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
          break;
        }
        case 3: { // palette index
          const index = sampleAt(raw, row, px, depth);
          if (index >= colors.paletteSize) corrupt(`palette index ${index} in a PLTE of ${colors.paletteSize} entries`);
          const p = colors.palette!;
          out[o] = p[4 * index]!; out[o + 1] = p[4 * index + 1]!; out[o + 2] = p[4 * index + 2]!; out[o + 3] = p[4 * index + 3]!;
          break;
        }
        case 4: { // gray + alpha
          const g = sampleAt(raw, row, 2 * px, depth);
          out[o] = out[o + 1] = out[o + 2] = g;
          out[o + 3] = sampleAt(raw, row, 2 * px + 1, depth);
          break;
        }
        default: // 6: RGBA
          for (let c = 0; c < 4; c++) out[o + c] = sampleAt(raw, row, 4 * px + c, depth);
      }
    }
  }
}

// -------------------------------------------------------------------------------------- the reader

/** Reads a whole PNG file into pngjs's shape (see png_codec.ts PngRead). Throws RetinaFaceError (EDECODE). */
export function readPngBytes(bytes: Uint8Array): PngRead {
  // Signature (PNG spec 5.2).
  for (let i = 0; i < SIGNATURE.length; i++) {
    if (i >= bytes.length) truncated(`${bytes.length} bytes, the file ends inside the 8-byte signature`);
    if (bytes[i] !== SIGNATURE[i]) throw new RetinaFaceError('not a PNG: the file does not start with the PNG signature', { code: 'EDECODE' });
  }

  // Chunks (PNG spec 5.3): length (4 bytes, <= 2^31-1), type (4 letters), data, CRC of type + data.
  let header: Header | undefined;
  let palette: Uint8Array | null = null, paletteSize = 0;
  let transColor: number[] | undefined;
  let sawTrns = false;
  const idat: [number, number][] = []; // [start, end) of each IDAT chunk's data
  let idatBytes = 0;
  let previousType = '';
  let sawIend = false;
  for (let at = 8; !sawIend;) {
    if (at === bytes.length) truncated(`the file ends after ${at} bytes, before the IEND chunk`);
    if (at + 8 > bytes.length) truncated(`the file ends inside the header of the chunk at byte ${at}`);
    const length = u32be(bytes, at);
    const name = chunkName(bytes, at + 4);
    if (length > 0x7fffffff) corrupt(`chunk ${name} at byte ${at} declares ${length} bytes (more than 2^31-1)`);
    const dataAt = at + 8, dataEnd = dataAt + length;
    if (dataEnd + 4 > bytes.length) truncated(`the ${name} chunk at byte ${at} needs ${length + 12} bytes, the file has ${bytes.length - at} left`);
    if (crc32(bytes, at + 4, dataEnd) !== u32be(bytes, dataEnd)) corrupt(`CRC mismatch in ${name} chunk (at byte ${at})`);
    if (!/^[A-Za-z]{4}$/.test(name)) corrupt(`invalid chunk type ${name} at byte ${at}`);
    at = dataEnd + 4;

    if (header === undefined && name !== 'IHDR') corrupt(`the first chunk is ${name}, expected IHDR`);
    switch (name) {
      case 'IHDR':
        if (header !== undefined) corrupt('a second IHDR chunk');
        header = readHeader(bytes, dataAt, length);
        break;
      case 'PLTE': // PNG spec 11.2.3: 1-256 RGB entries, before IDAT; ignored by gray images (libpng)
        if (palette !== null) corrupt('a second PLTE chunk');
        if (idat.length > 0) corrupt('PLTE chunk after IDAT');
        if (length % 3 !== 0 || length === 0 || length > 3 * 256) corrupt(`PLTE chunk of ${length} bytes, expected 3 per entry, 1-256 entries`);
        if (header!.colorType === 0 || header!.colorType === 4) break;
        paletteSize = length / 3;
        palette = new Uint8Array(4 * 256).fill(255);
        for (let i = 0; i < paletteSize; i++) palette.set(bytes.subarray(dataAt + 3 * i, dataAt + 3 * i + 3), 4 * i);
        break;
      case 'tRNS': { // PNG spec 11.3.2: palette alphas, or one gray / RGB colour (16-bit fields)
        if (idat.length > 0) corrupt('tRNS chunk after IDAT');
        if (sawTrns) corrupt('a second tRNS chunk');
        sawTrns = true;
        const { colorType } = header!;
        if (colorType === 3) {
          if (palette === null) corrupt('tRNS chunk before PLTE');
          if (length > paletteSize) corrupt(`tRNS chunk holds ${length} alphas for a PLTE of ${paletteSize} entries`);
          for (let i = 0; i < length; i++) palette[4 * i + 3] = bytes[dataAt + i]!;
        } else if (colorType === 0 || colorType === 2) {
          const fields = colorType === 0 ? 1 : 3;
          if (length !== 2 * fields) corrupt(`tRNS chunk of ${length} bytes, expected ${2 * fields} for colour type ${colorType}`);
          transColor = [];
          for (let i = 0; i < fields; i++) transColor.push((bytes[dataAt + 2 * i]! << 8) | bytes[dataAt + 2 * i + 1]!);
        } // colour types 4 and 6 have an alpha channel; libpng ignores their tRNS
        break;
      }
      case 'IDAT': // PNG spec 11.2.4: consecutive chunks, one zlib stream
        if (idat.length > 0 && previousType !== 'IDAT') corrupt('IDAT chunks are not consecutive');
        if (header!.colorType === 3 && palette === null) corrupt('palette image without a PLTE chunk before IDAT');
        idat.push([dataAt, dataEnd]);
        idatBytes += length;
        break;
      case 'IEND':
        sawIend = true; // bytes after IEND are ignored, as libpng does
        break;
      default: // ancillary chunks (first letter lower case, PNG spec 5.4) are skipped; critical ones cannot be
        if (name.charCodeAt(0) < 0x61) corrupt(`unknown critical chunk ${name}`);
    }
    previousType = name;
  }
  if (idat.length === 0) corrupt('no IDAT chunk');
  const h = header!;

  // The inflated size, from IHDR alone; refused before allocating when no deflate stream of the
  // IDAT bytes we have could reach it, or when the RGBA output would not fit a typed array.
  const passes = imagePasses(h);
  const last = passes[passes.length - 1]!;
  const expected = last.offset + last.height * (1 + last.rowBytes);
  if (expected > MAX_DEFLATE_RATIO * idatBytes) {
    truncated(`${idatBytes} bytes of IDAT data cannot inflate to the ${expected} bytes a ${h.width}x${h.height} image needs`);
  }
  const outBytes = 4 * h.width * h.height * (h.depth === 16 ? 2 : 1);
  if (outBytes > 2 ** 31 - 1) corrupt(`a ${h.width}x${h.height} image is too large to decode (${outBytes} bytes of RGBA)`);

  // One zlib stream over all IDAT chunks.
  const stream = new Uint8Array(idatBytes);
  let filled = 0;
  for (const [s, e] of idat) {
    stream.set(bytes.subarray(s, e), filled);
    filled += e - s;
  }
  const raw = inflateZlib(stream, expected);

  // Filters, then pixels. Filters work on bytes: bpp = bytes per complete pixel, at least 1 (PNG spec 9.2).
  const bpp = Math.max(1, (COLOR_TYPES[h.colorType]!.channels * h.depth) >> 3);
  const out = h.depth === 16 ? new Uint16Array(4 * h.width * h.height) : new Uint8Array(4 * h.width * h.height);
  const colors: Colors = { palette, paletteSize, transColor };
  for (const pass of passes) {
    unfilterPass(raw, pass, bpp);
    expandPass(raw, pass, h, colors, out);
  }
  const result: PngRead = { width: h.width, height: h.height, depth: h.depth, colorType: h.colorType, data: out };
  if (transColor !== undefined) result.transColor = transColor;
  return result;
}
