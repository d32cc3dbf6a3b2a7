// A module's output reduced to what the explorer shows and keeps: its statistics (over every
// value, in double) and its channels as 8-bit maps on one colour scale shared by the module's
// channels. The float tensor is dropped once reduced, so a run keeps about a quarter of its
// activations' bytes at most, and less where a map is larger than MAX_KEPT_BYTES allows (each
// channel is then averaged over f x f cells, f the smallest factor that fits).
import type { Tensor } from '../../src/tensor.js';

/** Bytes of 8-bit maps kept per module at most (a channel map larger than its share is averaged down). */
export const MAX_KEPT_BYTES = 4 * 1024 * 1024;

export interface Stats {
  min: number;
  max: number;
  mean: number;
  std: number;
  /** values equal to zero (after a ReLU, the share of dead units) */
  zeros: number;
  count: number;
  /** the 0.1th and 99.9th percentiles (to a 1/2048 of the range): the colour scale's ends, so that a few outliers do not wash out the maps */
  p001: number;
  p999: number;
}

/** Histogram bins of the percentile estimate. */
const BINS = 2048;

/**
 * The colour scale: sequential from lo to hi, or diverging around 0 (lo = -hi) when both signs
 * matter (the smaller side at least a quarter of the larger). Values past the ends take the end
 * colours (`clipped`: some do).
 */
export interface Scale {
  lo: number;
  hi: number;
  diverging: boolean;
  clipped: boolean;
}

export interface Maps {
  /** channels, each `height` x `width` cells of `factor` x `factor` output cells */
  channels: number;
  height: number;
  width: number;
  factor: number;
  scale: Scale;
  /** channel c's map at [c * height * width, (c + 1) * height * width): 0..255 on the scale */
  bytes: Uint8Array;
}

export function stats(t: Tensor): Stats {
  let min = Infinity, max = -Infinity, sum = 0, sq = 0, zeros = 0;
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sq += v * v;
    if (v === 0) zeros++;
  }
  const n = d.length;
  const mean = sum / n;
  const hist = new Uint32Array(BINS);
  const width = (max - min) / BINS;
  if (width > 0) for (let i = 0; i < n; i++) hist[Math.min(BINS - 1, Math.floor((d[i]! - min) / width))]!++;
  const at = (q: number) => {
    if (width === 0) return min;
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      seen += hist[b]!;
      if (seen >= q * n) return min + (b + 1) * width;
    }
    return max;
  };
  return { min, max, mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)), zeros, count: n, p001: Math.max(min, at(0.001) - width), p999: at(0.999) };
}

export function scaleOf(s: Stats): Scale {
  const [lo, hi] = s.p999 > s.p001 ? [s.p001, s.p999] : [s.min, s.max];
  const clipped = lo > s.min || hi < s.max;
  if (lo < 0 && hi > 0 && Math.min(-lo, hi) >= 0.25 * Math.max(-lo, hi)) {
    const m = Math.max(-lo, hi);
    return { lo: -m, hi: m, diverging: true, clipped: -m > s.min || m < s.max };
  }
  return { lo, hi: hi === lo ? lo + 1 : hi, diverging: false, clipped };
}

/**
 * A (C, H, W) map as 8-bit channels on `scale`; a head's (A, k) rows as (anchors per cell x k,
 * H, W) when `cells` (the level's map size) is given: row (y * W + x) * anchors + a, column j is
 * channel a * k + j at (y, x), the order the priors follow.
 */
export function quantize(t: Tensor, scale: Scale, cells?: { height: number; width: number }): Maps {
  let C: number, H: number, W: number;
  let at: (c: number, y: number, x: number) => number;
  if (t.shape.length === 3) {
    [C, H, W] = t.shape as [number, number, number];
    at = (c, y, x) => t.data[(c * H + y) * W + x]!;
  } else if (cells !== undefined && t.shape.length === 2) {
    const [rows, k] = t.shape as [number, number];
    H = cells.height;
    W = cells.width;
    const perCell = rows / (H * W);
    if (!Number.isInteger(perCell)) throw new Error(`explorer: ${rows} rows do not tile a ${H}x${W} map`);
    C = perCell * k;
    at = (c, y, x) => t.data[((y * W + x) * perCell + Math.floor(c / k)) * k + (c % k)]!;
  } else {
    throw new Error(`explorer: no map for a tensor of shape (${t.shape.join(', ')})`);
  }
  let f = 1;
  while (C * Math.ceil(H / f) * Math.ceil(W / f) > MAX_KEPT_BYTES) f++;
  const h = Math.ceil(H / f), w = Math.ceil(W / f);
  const bytes = new Uint8Array(C * h * w);
  const span = scale.hi - scale.lo;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0, n = 0;
        for (let dy = 0; dy < f && y * f + dy < H; dy++) for (let dx = 0; dx < f && x * f + dx < W; dx++, n++) sum += at(c, y * f + dy, x * f + dx);
        const q = Math.round((255 * (sum / n - scale.lo)) / span);
        bytes[(c * h + y) * w + x] = q < 0 ? 0 : q > 255 ? 255 : q;
      }
    }
  }
  return { channels: C, height: h, width: w, factor: f, scale, bytes };
}

/** 256 RGB colours: viridis-like for a sequential scale, blue-white-red for a diverging one. */
export function palette(diverging: boolean): Uint8Array {
  const stops = diverging
    ? [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]]
    : [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const u = (i / 255) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(u));
    const a = u - k;
    for (let ch = 0; ch < 3; ch++) out[3 * i + ch] = Math.round(stops[k]![ch]! * (1 - a) + stops[k + 1]![ch]! * a);
  }
  return out;
}

/** Channel c of `m` as RGBA pixels (alpha as given). */
export function channelImage(m: Maps, c: number, alpha = 255): ImageData {
  const lut = palette(m.scale.diverging);
  const img = new ImageData(m.width, m.height);
  const base = c * m.width * m.height;
  for (let i = 0; i < m.width * m.height; i++) {
    const q = m.bytes[base + i]!;
    img.data[4 * i] = lut[3 * q]!;
    img.data[4 * i + 1] = lut[3 * q + 1]!;
    img.data[4 * i + 2] = lut[3 * q + 2]!;
    img.data[4 * i + 3] = alpha;
  }
  return img;
}

/** The grid's layout: columns and cell size for C maps of h x w in about `width` pixels. */
export function gridLayout(m: Maps, width: number): { cols: number; rows: number; cellW: number; cellH: number } {
  const cols = Math.max(1, Math.min(m.channels, Math.round(Math.sqrt((m.channels * m.height) / m.width * 1.6))));
  const rows = Math.ceil(m.channels / cols);
  const cellW = Math.max(4, Math.floor(width / cols) - 1);
  const cellH = Math.max(3, Math.round((cellW * m.height) / m.width));
  return { cols, rows, cellW, cellH };
}

/** Every channel of `m` into `canvas` as a grid (1 px gaps); returns the layout for hit-testing. */
export function drawGrid(canvas: HTMLCanvasElement, m: Maps, width: number): ReturnType<typeof gridLayout> {
  const L = gridLayout(m, width);
  canvas.width = L.cols * (L.cellW + 1);
  canvas.height = L.rows * (L.cellH + 1);
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  const tile = document.createElement('canvas');
  tile.width = m.width;
  tile.height = m.height;
  const tctx = tile.getContext('2d')!;
  for (let c = 0; c < m.channels; c++) {
    tctx.putImageData(channelImage(m, c), 0, 0);
    ctx.drawImage(tile, (c % L.cols) * (L.cellW + 1), Math.floor(c / L.cols) * (L.cellH + 1), L.cellW, L.cellH);
  }
  return L;
}

/** The colour bar of a scale into a canvas. */
export function drawScaleBar(canvas: HTMLCanvasElement, scale: Scale): void {
  const ctx = canvas.getContext('2d')!;
  const lut = palette(scale.diverging);
  for (let x = 0; x < canvas.width; x++) {
    const q = Math.round((255 * x) / (canvas.width - 1));
    ctx.fillStyle = `rgb(${lut[3 * q]},${lut[3 * q + 1]},${lut[3 * q + 2]})`;
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}
