// Tiles under a memory budget: when an image the network would see has more pixels than
// `maxNetworkPixels`, the network runs on overlapping tiles of it instead, one after the other,
// and the tiles' candidates are pooled and suppressed once (as multi-scale runs are, merge.ts).
// The backend's activations then follow the tile, not the image (cpu-simd's arena is sized by the
// largest tile), and with a streamed decode (jpeg_rows.ts) so does the image: only one band of
// tile rows is ever in memory.
//
// The geometry, in the pixels of the image the network sees:
//   - Tiles start at multiples of 32, the network's largest stride, so every tile's anchors are
//     the whole image's anchors shifted by whole cells (priors.ts lays them from the top-left
//     corner: cell j of stride s is centred at (j + 0.5) s). Their side is a multiple of 32 too;
//     only the last tile of a row or column is cut by the image's edge, as the whole image is.
//   - Neighbouring tiles overlap by `overlap` pixels (a multiple of 32, at least 64). The seam
//     between two tiles runs through the middle of their overlap, and a tile keeps a candidate
//     when the centre of its box lies in the tile's share (the region between its seams: its
//     "core") widened by CORE_MARGIN = 16 px. The margin matters for a face on a seam: the two
//     tiles predict its centre from different context, and without it one could put the centre
//     in the other's core and the other back in the first's, and the face would be lost; with it
//     both keep it and the final suppression merges the two whole-face boxes.
//   - A face of side s <= overlap - 2 CORE_MARGIN (`maxWholeFace`: 480 px at the default overlap)
//     whose centre a tile keeps lies wholly inside that tile: from the widened core's edge to the
//     tile's edge is overlap / 2 - CORE_MARGIN >= s / 2. A half face cut by a tile's edge has its
//     centre farther out, so no tile keeps a half of such a face.
//   - A tiled run therefore keeps faces up to maxWholeFace only. Larger faces come from a coarse
//     run: when a scale's image needs tiles and no smaller scale runs, the whole image is also run
//     box-averaged by an integer factor k until it fits the budget (`coarseFactor`), and from it
//     only faces larger than maxWholeFace / 2 are kept (the two runs overlap in size, so that a face
//     one measures just too large for it is not one the other measures just too small) (src/detector.ts). Default overlap 512 px: the
//     network's largest anchor (min_sizes 256 and 512 at stride 32); a face larger than that is
//     found more reliably at a coarser scale anyway.
//   - What "identical" holds for: a candidate's outputs depend on the pixels within the network's
//     receptive field around it. Where that field lies inside the tile, the tile computes exactly
//     the whole image's numbers; nearer a tile's edge the tile sees zeros (the mean colour) where
//     the whole image has pixels. test/tiles.test.ts checks both: candidates far from every edge
//     equal the untiled run's, and faces near seams are found once.
import { RetinaFaceError } from '../errors.js';
import type { RgbImage } from '../image/image.js';
import type { RowSource } from '../image/jpeg_rows.js';
import type { Proposals } from './postprocess.js';

/** The network's largest stride: tiles start and are sized at multiples of it. */
export const TILE_ALIGN = 32;
/** The default overlap of neighbouring tiles: the largest anchor (see the file header). */
export const DEFAULT_TILE_OVERLAP = 512;
/** The smallest overlap accepted: two cells of the coarsest stride, so that maxWholeFace is positive. */
export const MIN_TILE_OVERLAP = 64;
/** The smallest budget accepted: 1 MP. Below it tiles shrink towards their overlap and most of the work is repeated. */
export const MIN_NETWORK_PIXELS = 1 << 20;
/** How far past its seams a tile still keeps a candidate's centre (see the file header). */
export const CORE_MARGIN = 16;

/** The largest face (longer box side, network pixels) a tiled run keeps: it is whole in the tile that keeps it. */
export function maxWholeFace(overlap: number): number {
  return overlap - 2 * CORE_MARGIN;
}

/**
 * The integer factor k by which a width x height image, box-averaged k x k, fits in `maxPixels`
 * (the coarse run that finds the faces larger than a tiled run keeps).
 */
export function coarseFactor(width: number, height: number, maxPixels: number): number {
  let k = Math.max(2, Math.ceil(Math.sqrt((width * height) / maxPixels)));
  while (Math.floor(width / k) * Math.floor(height / k) > maxPixels) k++;
  return k;
}

export interface TileOptions {
  /** Run the network on tiles when an image it would see has more pixels than this (default: never). */
  maxNetworkPixels?: number;
  /** Overlap of neighbouring tiles in network-input pixels, a multiple of 32 (default 512). */
  tileOverlap?: number;
}

export interface Tile {
  /** the tile's top-left corner and size, in pixels of the image the network sees */
  x: number;
  y: number;
  width: number;
  height: number;
  /** its core: the candidates whose box centre lies in [x0, x1) x [y0, y1) are this tile's */
  core: { x0: number; y0: number; x1: number; y1: number };
}

export interface TileGrid {
  /** one row of tiles after the other, left to right: the order the tiles run in */
  tiles: Tile[];
  /** the tile rows: top edge, height and tiles (a streamed image is read one such band at a time) */
  rows: { y: number; height: number; tiles: Tile[] }[];
  /** the largest tile's size (every tile fits in it) */
  tileWidth: number;
  tileHeight: number;
  overlap: number;
}

function bad(name: string, value: unknown, expected: string): RetinaFaceError {
  return new RetinaFaceError(`invalid option ${name}: ${String(value)} (expected ${expected})`, { code: 'EOPTION' });
}

/** Validates and fills TileOptions; maxNetworkPixels undefined means no tiling. */
export function resolveTileOptions(o: TileOptions): { maxNetworkPixels: number | undefined; overlap: number } {
  const m = o.maxNetworkPixels;
  if (m !== undefined && !(typeof m === 'number' && Number.isSafeInteger(m) && m >= MIN_NETWORK_PIXELS)) {
    throw bad('maxNetworkPixels', m, `an integer >= ${MIN_NETWORK_PIXELS} (1 MP)`);
  }
  const overlap = o.tileOverlap ?? DEFAULT_TILE_OVERLAP;
  if (!(typeof overlap === 'number' && Number.isSafeInteger(overlap) && overlap >= MIN_TILE_OVERLAP && overlap % TILE_ALIGN === 0)) {
    throw bad('tileOverlap', overlap, `a multiple of ${TILE_ALIGN} >= ${MIN_TILE_OVERLAP}, e.g. ${DEFAULT_TILE_OVERLAP}`);
  }
  if (o.tileOverlap !== undefined && m === undefined) {
    throw new RetinaFaceError('invalid options: tileOverlap is the overlap of maxNetworkPixels\'s tiles (add maxNetworkPixels)', { code: 'EOPTION' });
  }
  // at most half the tile's side: beyond it most of every tile is repeated work
  const half = Math.floor(Math.floor(Math.sqrt(m ?? 0) / TILE_ALIGN) * TILE_ALIGN / 2 / TILE_ALIGN) * TILE_ALIGN;
  if (m !== undefined && overlap > half) throw bad('tileOverlap', overlap, `at most ${half}, half the side of tiles of ${m} pixels`);
  return { maxNetworkPixels: m, overlap };
}

/** Tile origins along one axis: 0, step, 2 step, ... until a tile reaches the end. */
function axis(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const step = tile - overlap;
  const n = Math.ceil((length - overlap) / step);
  return Array.from({ length: n }, (_, i) => i * step);
}

/**
 * The tiles of a width x height image under `maxPixels` per tile, or undefined when the image
 * fits in one run. Tiles are square (side: the largest multiple of 32 whose square fits), except
 * that an image narrower than that gets full-width tiles as tall as the budget allows.
 */
export function tileGrid(width: number, height: number, maxPixels: number, overlap: number): TileGrid | undefined {
  if (width * height <= maxPixels) return undefined;
  const floor32 = (v: number) => Math.floor(v / TILE_ALIGN) * TILE_ALIGN;
  const side = floor32(Math.sqrt(maxPixels));
  let tw = Math.min(side, width), th = side;
  if (width <= side) th = Math.min(height, floor32(maxPixels / width));
  else if (height <= side) { th = height; tw = Math.min(width, floor32(maxPixels / height)); }
  // resolveTileOptions keeps overlap <= side - 32, and neither side is below `side` unless it is the image's
  const xs = axis(width, tw, overlap), ys = axis(height, th, overlap);
  const half = overlap / 2;
  const edge = (starts: number[], i: number, size: number, length: number) => ({
    from: i === 0 ? -Infinity : starts[i]! + half,
    to: i === starts.length - 1 ? Infinity : starts[i + 1]! + half,
    size: Math.min(size, length - starts[i]!),
  });
  const tiles: Tile[] = [];
  const rows: TileGrid['rows'] = [];
  ys.forEach((y, j) => {
    const ey = edge(ys, j, th, height);
    const row = xs.map((x, i): Tile => {
      const ex = edge(xs, i, tw, width);
      return { x, y, width: ex.size, height: ey.size, core: { x0: ex.from, y0: ey.from, x1: ex.to, y1: ey.to } };
    });
    rows.push({ y, height: ey.size, tiles: row });
    tiles.push(...row);
  });
  return { tiles, rows, tileWidth: tw, tileHeight: th, overlap };
}

/** The candidates `keep(k)` selects, in order, shifted by (dx, dy). */
function select(p: Proposals, keep: (k: number) => boolean, dx = 0, dy = 0): Proposals {
  const kept: number[] = [];
  for (let k = 0; k < p.scores.length; k++) if (keep(k)) kept.push(k);
  const n = kept.length;
  const out: Proposals = { boxes: new Float32Array(4 * n), landmarks: new Float32Array(10 * n), scores: new Float32Array(n) };
  kept.forEach((k, i) => {
    for (let c = 0; c < 4; c++) out.boxes[4 * i + c] = p.boxes[4 * k + c]! + (c % 2 === 0 ? dx : dy);
    for (let c = 0; c < 10; c++) out.landmarks[10 * i + c] = p.landmarks[10 * k + c]! + (c % 2 === 0 ? dx : dy);
    out.scores[i] = p.scores[k]!;
  });
  return out;
}

/**
 * A tile's proposals (tile pixels) -> the ones whose box centre lies in its core widened by
 * CORE_MARGIN and whose longer side is at most maxWholeFace(overlap), in pixels of the whole image
 * (shifted by the tile's corner). Order (best first) is kept.
 */
export function keepCore(p: Proposals, tile: Tile, overlap: number): Proposals {
  const { x0, y0, x1, y1 } = tile.core, m = CORE_MARGIN, side = maxWholeFace(overlap);
  return select(p, (k) => {
    const b = p.boxes.subarray(4 * k, 4 * k + 4);
    const cx = tile.x + (b[0]! + b[2]!) / 2, cy = tile.y + (b[1]! + b[3]!) / 2;
    return cx >= x0 - m && cx < x1 + m && cy >= y0 - m && cy < y1 + m && Math.max(b[2]! - b[0]!, b[3]! - b[1]!) <= side;
  }, tile.x, tile.y);
}

/** Proposals whose box is larger than `side` pixels on its longer side (a coarse run's share). */
export function largerThan(p: Proposals, side: number): Proposals {
  return select(p, (k) => Math.max(p.boxes[4 * k + 2]! - p.boxes[4 * k]!, p.boxes[4 * k + 3]! - p.boxes[4 * k + 1]!) > side);
}

/**
 * A k x k box average, fed rows top to bottom (push) and read once at the end (image): output
 * pixel (x, y) is the rounded mean of input pixels [k x, k x + k) x [k y, k y + k); the last
 * width % k columns and height % k rows are left out (the mapping back is exactly x k). The coarse
 * run's image, built from the same rows whether the image is in memory or streamed.
 */
export class BoxDownscale {
  readonly width: number;
  readonly height: number;
  private readonly out: Uint8Array;
  private readonly sums: Uint32Array;
  private row = 0;

  constructor(readonly srcWidth: number, readonly srcHeight: number, readonly k: number) {
    this.width = Math.floor(srcWidth / k);
    this.height = Math.floor(srcHeight / k);
    this.out = new Uint8Array(3 * this.width * this.height);
    this.sums = new Uint32Array(3 * this.width);
  }

  /** The next `rows` rows of the source image (RGB, srcWidth * 3 bytes each). */
  push(data: Uint8Array, rows: number): void {
    const { k, width: w, sums } = this;
    const area = k * k, half = area >> 1;
    for (let r = 0; r < rows; r++, this.row++) {
      const y = Math.floor(this.row / k);
      if (y >= this.height) return;
      const src = 3 * this.srcWidth * r;
      for (let x = 0; x < w; x++) {
        for (let dx = 0; dx < k; dx++) {
          const s = src + 3 * (k * x + dx);
          sums[3 * x] += data[s]!;
          sums[3 * x + 1] += data[s + 1]!;
          sums[3 * x + 2] += data[s + 2]!;
        }
      }
      if (this.row % k === k - 1) {
        const o = 3 * w * y;
        for (let i = 0; i < 3 * w; i++) this.out[o + i] = Math.floor((sums[i]! + half) / area);
        sums.fill(0);
      }
    }
  }

  image(): RgbImage {
    if (this.row < this.height * this.k) throw new RangeError(`BoxDownscale: ${this.row} rows pushed of ${this.height * this.k}`);
    return { width: this.width, height: this.height, data: this.out };
  }
}

/**
 * Bands of rows of an image, top to bottom: band(y, rows) is rows [y, y + rows) as an image of
 * full width. y never decreases from one call to the next; a band may share rows with the last.
 */
export interface Bands {
  readonly width: number;
  readonly height: number;
  band(y: number, rows: number): RgbImage;
}

/** An image in memory as bands: views into it, nothing copied. */
export function memoryBands(img: RgbImage): Bands {
  const stride = 3 * img.width;
  return {
    width: img.width,
    height: img.height,
    band: (y, rows) => ({ width: img.width, height: rows, data: img.data.subarray(y * stride, (y + rows) * stride) }),
  };
}

/**
 * A streamed image as bands of at most `maxRows` rows, in one buffer of maxRows rows: rows the
 * next band shares with the last are moved up, the rest read from the source (and shown to
 * `onRows` once each, in order: the coarse run's BoxDownscale).
 */
export function streamBands(src: RowSource, maxRows: number, onRows?: (data: Uint8Array, rows: number) => void): Bands {
  const stride = 3 * src.width;
  const buf = new Uint8Array(Math.min(maxRows, src.height) * stride);
  let top = 0, rowsIn = 0; // the buffer holds rows [top, top + rowsIn)
  return {
    width: src.width,
    height: src.height,
    band(y, rows) {
      if (y < top || rows > buf.length / stride || y + rows > src.height) throw new RangeError(`streamBands: rows ${y}..${y + rows} after ${top}`);
      if (y > top + rowsIn) throw new RangeError(`streamBands: a band at row ${y} skips rows ${top + rowsIn}..${y - 1}`);
      const shared = top + rowsIn - y;
      if (shared > 0) buf.copyWithin(0, (y - top) * stride, (top + rowsIn) * stride);
      top = y;
      rowsIn = shared;
      while (rowsIn < rows) {
        const n = src.read(buf.subarray(rowsIn * stride), rows - rowsIn);
        if (n === 0) throw new RangeError(`streamBands: the source ended at row ${top + rowsIn}`);
        onRows?.(buf.subarray(rowsIn * stride, (rowsIn + n) * stride), n);
        rowsIn += n;
      }
      return { width: src.width, height: rows, data: buf.subarray(0, rows * stride) };
    },
  };
}
