// A PNG reader in plain TypeScript, for the browser build (png_codec.browser.ts), where pngjs cannot
// run (it needs Node's zlib and a global Buffer). It returns exactly what pngjs's
// PNG.sync.read(buf, { skipRescale: true }) returns (PngRead, see png_codec.ts), so decode.ts gives
// the same RGB in both builds; test/png_read.test.ts compares the two sample for sample.
//
// The decoder runs in three steps, the first in this file, the others one file each:
//   1. the chunk walk: signature, chunks (every CRC verified), IHDR (png_format.ts), PLTE, tRNS,
//      IDAT..., IEND;
//   2. inflate (png_inflate.ts): the zlib wrapper (RFC 1950) around deflate (RFC 1951): stored,
//      fixed-Huffman and dynamic-Huffman blocks, decoded through one lookup table per Huffman
//      code, Adler-32 verified; the IDAT stream inflated into a buffer of exactly the size IHDR
//      implies;
//   3. the image (png_pixels.ts): the filters undone (None, Sub, Up, Average, Paeth) in place,
//      Adam7 passes scattered, and every pixel widened to RGBA.
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
import { crc32 } from '../crc32.js';
import { RetinaFaceError } from '../errors.js';
import type { PngRead } from './png_codec.js';
import { COLOR_TYPES, corrupt, readHeader, truncated, u32be, type Header } from './png_format.js';
import { inflateZlib } from './png_inflate.js';
import { expandPass, imagePasses, unfilterPass, type Colors } from './png_pixels.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Deflate's best case: a 1-bit length-258 code and a 1-bit distance code copy 258 bytes per 2 bits. */
const MAX_DEFLATE_RATIO = 1032;

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
