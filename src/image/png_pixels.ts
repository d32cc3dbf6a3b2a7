// inflated IDAT bytes, IHDR -> RGBA (width, height, 4), 8 or 16 bits per sample
// The image part of the reader: the inflated stream cut into passes (the whole image, or Adam7's
// seven), each pass's row filters undone in place (None, Sub, Up, Average, Paeth; PNG spec 9.2),
// and every pixel widened to RGBA as pngjs does with skipRescale (raw sample values, gray
// replicated, palette looked up, the tRNS colour made transparent).
import { COLOR_TYPES, corrupt, type Header } from './png_format.js';

/** One pass of the image: the whole image, or one of Adam7's seven (PNG spec 8.2). */
export interface Pass {
  x0: number; y0: number; dx: number; dy: number; // the image pixels it holds: (x0 + i dx, y0 + j dy)
  width: number; height: number; // its size in pixels (both > 0)
  rowBytes: number; // bytes per row, without the filter byte
  offset: number; // where its first row's filter byte sits in the inflated data
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** The passes that hold pixels (an Adam7 pass of a small image may be empty: it has no rows at all). */
export function imagePasses(h: Header): Pass[] {
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
export function unfilterPass(raw: Uint8Array, pass: Pass, bpp: number): void {
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

/** Sample `i` (counted across channels) of the row starting at raw[row]: MSB-first packing for
 * depths under 8, big-endian pairs for 16 (PNG spec 7.2). */
function sampleAt(raw: Uint8Array, row: number, i: number, depth: number): number {
  if (depth === 8) return raw[row + i]!;
  if (depth === 16) return (raw[row + 2 * i]! << 8) | raw[row + 2 * i + 1]!;
  const bit = i * depth;
  return (raw[row + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

export interface Colors {
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
export function expandPass(raw: Uint8Array, pass: Pass, h: Header, colors: Colors, out: Uint8Array | Uint16Array): void {
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
