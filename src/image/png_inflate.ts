// zlib stream (RFC 1950) -> exactly `expected` bytes: the IDAT data of a PNG, inflated.
// The zlib wrapper around deflate (RFC 1951): stored, fixed-Huffman and dynamic-Huffman blocks,
// decoded through one lookup table per Huffman code, and the Adler-32 (RFC 1950 section 8.2) of
// the result verified. The caller knows the size from IHDR before a byte is inflated: output
// beyond it is refused as soon as it would be written, a short stream at its end, and every loop
// consumes input or output, so no input can make it hang.
import { corrupt, truncated } from './png_format.js';

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
