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
//   - Neighbouring tiles overlap by `overlap` pixels (a multiple of 32). The seam between two tiles
//     runs through the middle of their overlap, and a candidate is kept only by the tile whose
//     share (the region between its seams: its "core") holds the centre of its box. A face of
//     side at most `overlap` whose centre is in a core lies wholly inside that core's tile: from
//     the seam to the tile's edge is overlap / 2, at least half the face. So such a face is seen
//     whole, and kept by exactly one tile; the final suppression merges the two boxes a face
//     straddling a seam can get from the tiles on either side (their centres fall on either side).
//   - Default overlap 512 px: the network's largest anchor (min_sizes 256 and 512 at stride 32),
//     the largest face its regression is trained around. A tiled run keeps larger faces too when
//     it is the only scale (cut by a tile's edge, their boxes may be off); when a smaller,
//     untiled scale runs beside it, it leaves them to that one (src/detector.ts).
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
/** The smallest budget accepted: 1 MP. Below it tiles shrink towards their overlap and most of the work is repeated. */
export const MIN_NETWORK_PIXELS = 1 << 20;

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
  /** the tile rows' top edges and heights (a streamed image is read one such band at a time) */
  rows: { y: number; height: number }[];
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
  if (!(typeof overlap === 'number' && Number.isSafeInteger(overlap) && overlap >= 0 && overlap % TILE_ALIGN === 0)) {
    throw bad('tileOverlap', overlap, `a multiple of ${TILE_ALIGN} >= 0, e.g. ${DEFAULT_TILE_OVERLAP}`);
  }
  if (m !== undefined && (Math.floor(Math.sqrt(m) / TILE_ALIGN) * TILE_ALIGN) - overlap < TILE_ALIGN) {
    throw bad('tileOverlap', overlap, `at most ${Math.floor(Math.sqrt(m) / TILE_ALIGN) * TILE_ALIGN - TILE_ALIGN} for tiles of ${m} pixels`);
  }
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
  if (tw < width && tw - overlap < TILE_ALIGN) throw bad('tileOverlap', overlap, `less than the tile width ${tw} minus ${TILE_ALIGN}`);
  if (th < height && th - overlap < TILE_ALIGN) throw bad('tileOverlap', overlap, `less than the tile height ${th} minus ${TILE_ALIGN}`);
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
    rows.push({ y, height: ey.size });
    xs.forEach((x, i) => {
      const ex = edge(xs, i, tw, width);
      tiles.push({ x, y, width: ex.size, height: ey.size, core: { x0: ex.from, y0: ey.from, x1: ex.to, y1: ey.to } });
    });
  });
  return { tiles, rows, tileWidth: tw, tileHeight: th, overlap };
}

/**
 * A tile's proposals (tile pixels) -> the ones whose box centre lies in its core, in pixels of
 * the whole image (shifted by the tile's corner). Order (best first) is kept.
 */
export function keepCore(p: Proposals, tile: Tile): Proposals {
  const keep: number[] = [];
  for (let k = 0; k < p.scores.length; k++) {
    const cx = tile.x + (p.boxes[4 * k]! + p.boxes[4 * k + 2]!) / 2, cy = tile.y + (p.boxes[4 * k + 1]! + p.boxes[4 * k + 3]!) / 2;
    if (cx >= tile.core.x0 && cx < tile.core.x1 && cy >= tile.core.y0 && cy < tile.core.y1) keep.push(k);
  }
  const n = keep.length;
  const out: Proposals = { boxes: new Float32Array(4 * n), landmarks: new Float32Array(10 * n), scores: new Float32Array(n) };
  keep.forEach((k, i) => {
    for (let c = 0; c < 4; c++) out.boxes[4 * i + c] = p.boxes[4 * k + c]! + (c % 2 === 0 ? tile.x : tile.y);
    for (let c = 0; c < 10; c++) out.landmarks[10 * i + c] = p.landmarks[10 * k + c]! + (c % 2 === 0 ? tile.x : tile.y);
    out.scores[i] = p.scores[k]!;
  });
  return out;
}

/** Proposals whose box is at most `side` pixels on its longer side. */
export function notLargerThan(p: Proposals, side: number): Proposals {
  const keep: number[] = [];
  for (let k = 0; k < p.scores.length; k++) {
    if (Math.max(p.boxes[4 * k + 2]! - p.boxes[4 * k]!, p.boxes[4 * k + 3]! - p.boxes[4 * k + 1]!) <= side) keep.push(k);
  }
  return {
    boxes: Float32Array.from(keep.flatMap((k) => Array.from(p.boxes.subarray(4 * k, 4 * k + 4)))),
    landmarks: Float32Array.from(keep.flatMap((k) => Array.from(p.landmarks.subarray(10 * k, 10 * k + 10)))),
    scores: Float32Array.from(keep.map((k) => p.scores[k]!)),
  };
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
 * next band shares with the last are moved up, the rest read from the source.
 */
export function streamBands(src: RowSource, maxRows: number): Bands {
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
        rowsIn += n;
      }
      return { width: src.width, height: rows, data: buf.subarray(0, rows * stride) };
    },
  };
}
