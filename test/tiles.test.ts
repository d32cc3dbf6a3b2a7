// Tiles under a memory budget (src/detect/tiles.ts) and the streamed image path they enable
// (src/image/jpeg_rows.ts, src/image/png_stream.ts, detectRows, the CLI's --max_network_pixels):
//   - the tile grid: aligned to stride 32, within the budget, overlapping by the overlap, cores
//     that partition the image (hand-computed for the 16384x9200 case of the issue);
//   - the streaming decoder equals jpeg-js byte for byte on JPEGs of every layout it reads, written
//     by PIL and OpenCV at test time (test/torch/jpeg_variants.py), and refuses what it does not;
//   - a tiled run against the untiled one on the selfie: faces far from every tile edge (farther
//     than half the heads' receptive field, from anatomy.ts) have the same scores and boxes, and
//     faces across seams are found once;
//   - the streamed path (detectRows on jpegRows) equals the tiled run on the decoded image, and the
//     CLI's streamed drawing equals the whole image drawn.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../src/cli.js';
import { RetinaFace } from '../src/index.js';
import type { Face } from '../src/detect/postprocess.js';
import { BoxDownscale, coarseFactor, CORE_MARGIN, DEFAULT_TILE_OVERLAP, keepCore, largerThan, maxWholeFace, resolveTileOptions, tileGrid, type TileGrid } from '../src/detect/tiles.js';
import { scaleImage } from '../src/detect/multiscale.js';
import { rgbImage } from '../src/image/image.js';
import { streamedJpeg } from '../src/cli/detect.js';
import { decodeImage } from '../src/image/decode.js';
import { drawDetections } from '../src/image/draw.js';
import { encodeImage } from '../src/image/encode.js';
import { imageRows, jpegRows, jpegStreamRefusal, type RowSource } from '../src/image/jpeg_rows.js';
import { anatomy } from '../src/model/anatomy.js';
import { RetinaFace as RetinaFaceModel } from '../src/model/retinaface.js';
import { RetinaFaceError } from '../src/errors.js';
import { cacheDir, officialCheckpoint, repoRoot, runReferencePython, sharedImage } from './helpers/paths.js';

/**
 * Coordinates of a face whose receptive field lies inside its tile: the network's outputs are the
 * untiled run's, bit for bit (the scores are compared exactly), and only the decode's float32
 * rounding differs (priors normalised by the tile's size instead of the image's, then shifted by
 * the tile's corner): a few ulps of a coordinate below 4096, whose ulp is 2.4e-4 px.
 */
const FAR_PX = 1e-3;

const variants = cacheDir('tiles', 'jpeg');
let made = false;
function jpegVariants(): string[] {
  if (!made) {
    runReferencePython(path.join(repoRoot, 'test', 'torch', 'jpeg_variants.py'), [sharedImage('selfie.jpg'), variants], { PIL: 'python3-pil', cv2: 'python3-opencv', numpy: 'python3-numpy' });
    made = true;
  }
  return readdirSync(variants).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(variants, f));
}

function readAll(src: RowSource, band: number): Uint8Array {
  const out = new Uint8Array(3 * src.width * src.height);
  const buf = new Uint8Array(3 * src.width * band);
  for (let y = 0; ;) {
    const n = src.read(buf, band);
    if (n === 0) return out;
    out.set(buf.subarray(0, 3 * src.width * n), 3 * src.width * y);
    y += n;
  }
}

test('tileGrid: 16384x9200 under 4 MP is 11 x 6 tiles of 1984 px, 32-aligned, overlapping by 512, cores partitioning the image', () => {
  // side: floor(sqrt(4e6) / 32) * 32 = 1984; step 1984 - 512 = 1472; ceil((16384 - 512) / 1472) = 11, ceil((9200 - 512) / 1472) = 6
  const g = tileGrid(16384, 9200, 4_000_000, DEFAULT_TILE_OVERLAP)!;
  assert.is(g.tileWidth, 1984);
  assert.is(g.tileHeight, 1984);
  assert.is(g.tiles.length, 66);
  assert.equal(g.rows.map((r) => r.y), [0, 1472, 2944, 4416, 5888, 7360]);
  assert.is(g.rows[5]!.height, 9200 - 7360);
  for (const t of g.tiles) {
    assert.ok(t.x % 32 === 0 && t.y % 32 === 0, `tile at ${t.x},${t.y} is not aligned to 32`);
    assert.ok(t.width * t.height <= 4_000_000);
    assert.ok(t.x + t.width <= 16384 && t.y + t.height <= 9200);
  }
  assert.is(Math.max(...g.tiles.map((t) => t.x + t.width)), 16384);
  assert.is(Math.max(...g.tiles.map((t) => t.y + t.height)), 9200);
  // neighbours overlap by exactly the overlap; the seam is in its middle
  const row0 = g.tiles.filter((t) => t.y === 0);
  for (let i = 1; i < row0.length; i++) {
    assert.is(row0[i - 1]!.x + row0[i - 1]!.width - row0[i]!.x, 512);
    assert.is(row0[i - 1]!.core.x1, row0[i]!.x + 256);
    assert.is(row0[i]!.core.x0, row0[i - 1]!.core.x1);
  }
  // every point of the image lies in exactly one core, and that core's tile holds it with overlap / 2 to spare
  checkCores(g, 16384, 9200);
});

function checkCores(g: TileGrid, W: number, H: number): void {
  for (let y = 0.5; y < H; y += 97) {
    for (let x = 0.5; x < W; x += 89) {
      const owners = g.tiles.filter((t) => x >= t.core.x0 && x < t.core.x1 && y >= t.core.y0 && y < t.core.y1);
      assert.is(owners.length, 1, `(${x}, ${y}) is in ${owners.length} cores`);
      const t = owners[0]!;
      const margin = g.overlap / 2;
      assert.ok((t.x === 0 || x - t.x >= margin) && (t.x + t.width === W || t.x + t.width - x >= margin), `(${x}, ${y}) too near its tile's left or right edge`);
      assert.ok((t.y === 0 || y - t.y >= margin) && (t.y + t.height === H || t.y + t.height - y >= margin), `(${x}, ${y}) too near its tile's top or bottom edge`);
    }
  }
}

test('tileGrid: an image within the budget is one run; a narrow one gets full-width tiles; options are checked with one line', () => {
  assert.is(tileGrid(2000, 2000, 4_000_000, 512), undefined);
  const narrow = tileGrid(1000, 10_000, 4_000_000, 512)!;
  assert.is(narrow.tileWidth, 1000);
  assert.is(narrow.tileHeight, 4000); // floor(4e6 / 1000 / 32) * 32
  assert.ok(narrow.tiles.every((t) => t.x === 0 && t.width === 1000));
  checkCores(narrow, 1000, 10_000);
  checkCores(tileGrid(2048, 1150, 1 << 20, 256)!, 2048, 1150);
  const refused = (o: Parameters<typeof resolveTileOptions>[0], re: RegExp) => {
    try {
      resolveTileOptions(o);
    } catch (e) {
      assert.instance(e, RetinaFaceError);
      assert.match((e as Error).message, re);
      assert.not.match((e as Error).message, /\n/);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(o)}`);
  };
  refused({ maxNetworkPixels: 5000 }, /maxNetworkPixels: 5000 .*1048576/);
  refused({ maxNetworkPixels: 4_000_000, tileOverlap: 100 }, /tileOverlap: 100 .*multiple of 32/);
  refused({ maxNetworkPixels: 4_000_000, tileOverlap: 0 }, /tileOverlap: 0 .*>= 64/);
  refused({ maxNetworkPixels: 1 << 20, tileOverlap: 544 }, /tileOverlap: 544 .*at most 512, half the side/);
  refused({ tileOverlap: 64 }, /tileOverlap is the overlap of maxNetworkPixels's tiles/);
});

test('keepCore: a candidate is its tile\'s when its box centre is in the core widened by 16 px and it is at most overlap - 32 wide, shifted to image pixels', () => {
  const g = tileGrid(2048, 1150, 1 << 20, 256)!;
  const t = g.tiles[1]!; // x 768..1792, core x [896, 1664), kept centres x [880, 1680)
  assert.equal([t.x, t.core.x0, t.core.x1, CORE_MARGIN, maxWholeFace(256)], [768, 896, 1664, 16, 224]);
  // centres at tile x 111 (image 879: out), 112 (880: in), 911 (1679: in), 912 (1680: out); then a box 225 wide at the core's middle
  const box = (cx: number, half = 10) => [cx - half, 100, cx + half, 120];
  const p = {
    boxes: Float32Array.from([...box(111), ...box(112), ...box(911), ...box(912), ...box(500, 112.5)]),
    landmarks: new Float32Array(50).fill(5), scores: Float32Array.from([0.9, 0.8, 0.7, 0.6, 0.5]),
  };
  const kept = keepCore(p, t, 256);
  assert.equal(Array.from(kept.scores), [Math.fround(0.8), Math.fround(0.7)]);
  assert.equal(Array.from(kept.boxes.subarray(0, 4)), [768 + 102, 100, 768 + 122, 120]);
  assert.equal(Array.from(kept.landmarks.subarray(0, 2)), [773, 5]);
  assert.equal(Array.from(largerThan(p, 224).scores), [Math.fround(0.5)]);
});

test('BoxDownscale: k x k rounded means, the remainder rows and columns left out, the same fed whole or a few rows at a time', () => {
  const img = rgbImage(7, 5, Uint8Array.from({ length: 105 }, (_, i) => (i * 37) % 256));
  const whole = new BoxDownscale(7, 5, 2);
  whole.push(img.data, 5);
  const out = whole.image();
  assert.equal([out.width, out.height], [3, 2]);
  // pixel (1, 1), channel 2: the mean of source pixels x 2..3, y 2..3, rounded half up
  const at = (x: number, y: number, c: number) => img.data[3 * (y * 7 + x) + c]!;
  assert.is(out.data[3 * (1 * 3 + 1) + 2], Math.floor((at(2, 2, 2) + at(3, 2, 2) + at(2, 3, 2) + at(3, 3, 2) + 2) / 4));
  const banded = new BoxDownscale(7, 5, 2);
  for (let y = 0; y < 5; y += 3) banded.push(img.data.subarray(21 * y, 21 * Math.min(5, y + 3)), Math.min(3, 5 - y));
  assert.equal(banded.image().data, out.data);
  assert.is(coarseFactor(16384, 9200, 4_000_000), 7); // 2340 x 1314 = 3.07 MP; 6 would give 2730 x 1533 = 4.19 MP
});

test('drawDetections with a band offset draws what the whole drawing has in those rows', () => {
  const img = rgbImage(40, 33, new Uint8Array(40 * 33 * 3).fill(90));
  const faces: Face[] = [
    { score: 0.9, box: [3.7, 5.2, 30.1, 29.9], landmarks: [[10, 12], [20, 12.5], [15, 18], [11, 24], [19, 24]] },
    { score: 0.7, box: [-4, 20.5, 12, 40], landmarks: [[0, 25], [5, 25], [3, 30], [1, 34], [6, 34]] },
  ];
  const want = drawDetections(img, faces);
  for (let y = 0; y < 33; y += 7) {
    const rows = Math.min(7, 33 - y);
    const band = drawDetections({ width: 40, height: rows, data: img.data.subarray(120 * y, 120 * (y + rows)) }, faces, 0.6, y);
    assert.equal(band.data, want.data.subarray(120 * y, 120 * (y + rows)), `rows ${y}..${y + rows - 1}`);
  }
});

test('jpegRows equals jpeg-js byte for byte: 4:4:4, 4:2:2, 4:2:0, gray, restart intervals, odd sizes (PIL and OpenCV encoders)', () => {
  const files = [...jpegVariants(), sharedImage('wider_group.jpg')];
  assert.ok(files.length >= 9, `variants: ${files.join(', ')}`);
  for (const f of files) {
    const bytes = readFileSync(f);
    assert.is(jpegStreamRefusal(bytes, f), undefined, `${path.basename(f)} should stream`);
    const want = decodeImage(bytes, f);
    for (const band of [1, 13, 64]) {
      const src = jpegRows(bytes, f);
      assert.equal([src.width, src.height], [want.width, want.height]);
      const got = readAll(src, band);
      const diff = got.findIndex((v, i) => v !== want.data[i]);
      assert.is(diff, -1, `${path.basename(f)} in bands of ${band}: first difference at byte ${diff}`);
    }
  }
});

test('jpegRows refuses what it does not stream and names the damage in one line', () => {
  jpegVariants();
  assert.is(jpegStreamRefusal(readFileSync(sharedImage('selfie.jpg')), 'selfie.jpg'), 'it is progressive');
  const baseline = readFileSync(path.join(variants, 'pil-420.jpg'));
  const expectError = (bytes: Uint8Array, re: RegExp) => {
    try {
      readAll(jpegRows(bytes, 'x.jpg'), 16);
    } catch (e) {
      assert.instance(e, RetinaFaceError);
      assert.is((e as RetinaFaceError).file, 'x.jpg');
      assert.match((e as Error).message, re);
      assert.not.match((e as Error).message, /\n/);
      return;
    }
    assert.unreachable('decoded');
  };
  expectError(baseline.subarray(0, baseline.length >> 1), /x.jpg: truncated JPEG: the entropy-coded data ends early/);
  expectError(readFileSync(sharedImage('sample.jpg')), /does not stream: it is progressive/);
  // the frame header declaring 65535x65535 over the same few hundred kilobytes: refused before a band is allocated
  const sof = baseline.findIndex((b, i) => b === 0xff && baseline[i + 1] === 0xc0);
  const bomb = Uint8Array.from(baseline);
  bomb.set([0xff, 0xff, 0xff, 0xff], sof + 5);
  expectError(bomb, /declares 65535x65535, more pixels than its \d+ bytes can code/);
});

let detector: Promise<RetinaFace> | undefined;
const load = () => (detector ??= RetinaFace.load({ arch: 'mobile0.25', weights: officialCheckpoint(), backend: 'cpu-simd', threads: 2 }));

const iou = (a: Face['box'], b: Face['box']) => {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h);
};
/**
 * Near a tile's edge a tile lacks part of the receptive field, which moves scores by a few
 * hundredths (the faces across seams keep their matches), enough to cross the 0.6 visibility
 * threshold only for faces scoring near it: a face the other run lacks must score below 0.6 + this.
 */
const NEAR_THRESHOLD = 0.1;
const centre = (f: Face) => [(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] as const;

test('tiles on the selfie (1 MP, overlap 256: 6 tiles): faces far from tile edges equal the untiled run, faces across seams are found once', async () => {
  const det = await load();
  const img = decodeImage(readFileSync(sharedImage('selfie.jpg')), 'selfie.jpg');
  const budget = { maxNetworkPixels: 1 << 20, tileOverlap: 256 };
  const whole = await det.detectDetailed(img);
  const tiled = await det.detectDetailed(img, budget);
  const g = tileGrid(img.width, img.height, budget.maxNetworkPixels, budget.tileOverlap)!;
  assert.is(tiled.runs[0]!.tiles, 6);
  assert.is(g.tiles.length, 6);
  // half the largest receptive field of the heads' inputs (the SSH outputs), plus one cell of the coarsest stride
  const heads = (await anatomy(new RetinaFaceModel('mobile0.25'), img.height, img.width)).modules.filter((m) => /^ssh\d$/.test(m.path));
  const margin = Math.max(...heads.map((m) => m.geometry!.rf)) / 2 + 32;
  assert.ok(margin > 200 && margin < 400, `margin ${margin}`);
  const seamsX = g.tiles.map((t) => t.core.x1).filter(Number.isFinite), seamsY = g.tiles.map((t) => t.core.y1).filter(Number.isFinite);
  let far = 0, across = 0;
  for (const f of whole.faces) {
    const [cx, cy] = centre(f);
    const tile = g.tiles.find((t) => cx >= t.core.x0 && cx < t.core.x1 && cy >= t.core.y0 && cy < t.core.y1)!;
    const toEdge = Math.min(tile.x === 0 ? Infinity : cx - tile.x, tile.y === 0 ? Infinity : cy - tile.y,
      tile.x + tile.width === img.width ? Infinity : tile.x + tile.width - cx, tile.y + tile.height === img.height ? Infinity : tile.y + tile.height - cy);
    const matches = tiled.faces.filter((h) => iou(f.box, h.box) >= 0.5);
    if (toEdge >= margin) {
      far++;
      assert.is(matches.length, 1, `face at ${f.box.map(Math.round)}: ${matches.length} tiled matches`);
      const m = matches[0]!;
      assert.is(m.score, f.score, `face at ${f.box.map(Math.round)}: score`);
      const err = Math.max(...f.box.map((v, i) => Math.abs(v - m.box[i]!)), ...f.landmarks.flatMap((p, i) => p.map((v, j) => Math.abs(v - m.landmarks[i]![j]!))));
      assert.ok(err <= FAR_PX, `face at ${f.box.map(Math.round)}: ${err} px from the untiled run`);
    }
    if (seamsX.some((s) => f.box[0] < s && f.box[2] > s) || seamsY.some((s) => f.box[1] < s && f.box[3] > s)) {
      across++;
      // found once: one tiled face matches it, and as many tiled faces as untiled ones have their centre inside it (no half-face duplicate)
      assert.is(matches.length, 1, `face across a seam at ${f.box.map(Math.round)}: ${matches.length} tiled matches`);
      const inside = (list: Face[]) => list.filter((h) => { const [x, y] = centre(h); return x > f.box[0] && x < f.box[2] && y > f.box[1] && y < f.box[3]; }).length;
      assert.is(inside(tiled.faces), inside(whole.faces), `face across a seam at ${f.box.map(Math.round)}: a duplicate`);
    }
  }
  assert.ok(far >= 100, `only ${far} faces far from the tile edges`);
  assert.ok(across >= 10, `only ${across} faces across seams`);
  // Every tiled face is an untiled one (IoU >= 0.5), or scores within NEAR_THRESHOLD of the visibility threshold.
  for (const h of tiled.faces) {
    assert.ok(whole.faces.some((f) => iou(f.box, h.box) >= 0.5) || h.score < 0.6 + NEAR_THRESHOLD, `tiled face at ${h.box.map(Math.round)} (${h.score}) has no untiled match`);
  }
});

test('tiles: faces larger than a tile keeps are the coarse run\'s, each once, and no part of a face is reported (the group photo upscaled 4x, 4096x2496, 1 MP tiles)', async () => {
  const det = await load();
  const photo = decodeImage(readFileSync(sharedImage('wider_group.jpg')), 'wider_group.jpg');
  const img = scaleImage(photo, 4);
  const budget = { maxNetworkPixels: 1 << 20, tileOverlap: 256 };
  const whole = await det.detectDetailed(img);
  const tiled = await det.detectDetailed(img, budget);
  const coarse = tiled.runs.find((r) => r.coarse === true);
  assert.ok(coarse !== undefined, 'a coarse run');
  assert.equal([coarse.inputWidth, coarse.inputHeight, coarse.scale], [1024, 624, 1 / 4]); // k = 4: the 4x image box-averaged back
  // what the coarse run can see: the photo at 1x (the 4x image box-averaged 4 x 4 is it, within rounding)
  const atCoarse = (await det.detectDetailed(photo)).faces;
  const side = (f: Face) => Math.max(f.box[2] - f.box[0], f.box[3] - f.box[1]);
  const large = whole.faces.filter((f) => side(f) > maxWholeFace(256) && atCoarse.some((c) => iou(c.box, f.box.map((v) => v / 4) as Face['box']) >= 0.5));
  assert.ok(large.length >= 10, `only ${large.length} faces larger than a tile keeps`);
  for (const f of large) {
    const matches = tiled.faces.filter((h) => iou(f.box, h.box) >= 0.5);
    assert.is(matches.length, 1, `face ${f.box.map(Math.round)} (${Math.round(side(f))} px): ${matches.length} tiled matches`);
  }
  // no part of a face as a face: every tiled face is a face of the whole 4x run or of the coarse one
  for (const h of tiled.faces) {
    const known = whole.faces.some((f) => iou(f.box, h.box) >= 0.5) || atCoarse.some((c) => iou(c.box, h.box.map((v) => v / 4) as Face['box']) >= 0.5);
    assert.ok(known || h.score < 0.6 + NEAR_THRESHOLD, `tiled face ${h.box.map(Math.round)} (${h.score}) is neither the whole run's nor the coarse run's`);
  }
});

test('detectRows: the streamed selfie (baseline JPEG, 1 MP tiles) equals the tiled run on the decoded image; a streamed image that fits is one run', async () => {
  const det = await load();
  const file = path.join(variants, 'selfie-baseline.jpg');
  jpegVariants();
  const bytes = readFileSync(file);
  const opts = { maxNetworkPixels: 1 << 20, visThreshold: 0 };
  const streamed = await det.detectRows(jpegRows(bytes, file), opts, file);
  const whole = await det.detectDetailed(decodeImage(bytes, file), opts);
  assert.is(streamed.runs[0]!.tiles, whole.runs[0]!.tiles);
  assert.equal(streamed.candidates, whole.candidates);
  const small = path.join(variants, 'pil-420.jpg');
  const one = await det.detectRows(jpegRows(readFileSync(small), small), opts);
  assert.equal(one.candidates, (await det.detectDetailed(decodeImage(readFileSync(small), small), { visThreshold: 0 })).candidates);
  const memory = await det.detectRows(imageRows(decodeImage(bytes, file)), opts);
  assert.equal(memory.candidates, whole.candidates);
  try {
    await det.detectRows(jpegRows(bytes, file), { ...opts, scales: [1, 2] });
    assert.unreachable('scales accepted');
  } catch (e) {
    assert.match((e as Error).message, /streamed image runs at its own size/);
  }
});

test('CLI --max_network_pixels: a baseline JPEG streamed, its faces the library\'s, drawn band by band as the whole image is drawn', async () => {
  jpegVariants();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface-tiles-'));
  try {
    const input = path.join(variants, 'selfie-baseline.jpg');
    assert.is((await streamedJpeg(input, { maxNetworkPixels: 1 << 20 }))?.streamed, true, 'the CLI streams this file');
    assert.is((await streamedJpeg(sharedImage('selfie.jpg'), { maxNetworkPixels: 1 << 20 }))?.streamed, false, 'a progressive JPEG is decoded whole');
    const out = path.join(dir, 'drawn.png');
    const err: string[] = [], lines: string[] = [];
    const code = await main(['-i', input, '-s', out, '-w', '-q', '--max_network_pixels', String(1 << 20), '--weights', officialCheckpoint(), '--threads', '2'], { out: (l) => lines.push(l), err: (l) => err.push(l) });
    assert.is(code, 0, err.join('\n'));
    const json = JSON.parse(readFileSync(path.join(dir, 'drawn.json'), 'utf8')) as { faces: Face[] };
    const lib = await (await load()).detectRows(jpegRows(readFileSync(input), input), { maxNetworkPixels: 1 << 20 });
    assert.is(json.faces.length, lib.faces.length);
    // the JSON rounds to 4 decimals: within 5e-5 of the library's numbers
    json.faces.forEach((f, i) => {
      const err = Math.max(Math.abs(f.score - lib.faces[i]!.score), ...f.box.map((v, k) => Math.abs(v - lib.faces[i]!.box[k]!)));
      assert.ok(err <= 5.01e-5, `face ${i}: ${err} from the library's`);
    });
    const drawn = decodeImage(readFileSync(out), out);
    const want = drawDetections(decodeImage(readFileSync(input), input), lib.faces);
    const diff = drawn.data.findIndex((v, i) => v !== want.data[i]);
    assert.is(diff, -1, `the streamed drawing differs from the whole drawing at byte ${diff}`);
    const usage = async (argv: string[], re: RegExp) => {
      const lines: string[] = [];
      assert.is(await main(['-i', input, '-s', out, ...argv], { out: () => undefined, err: (l) => lines.push(l) }), 2, argv.join(' '));
      assert.match(lines.join('\n'), re);
    };
    await usage(['--tile_overlap', '64'], /--tile_overlap .*add --max_network_pixels/);
    await usage(['--max_network_pixels', '4000000', '--tile_overlap', '100'], /--tile_overlap: 100 .*multiple of 32/);
    await usage(['--max_network_pixels', '4000000', '--raw', path.join(dir, 'raw.bin')], /--raw .*--max_network_pixels/);
    // an image that cannot stream is decoded whole: over --max_pixels the message says why and what to pass
    const png = path.join(dir, 'big.png');
    writeFileSync(png, encodeImage(rgbImage(1100, 1000), 'png'));
    const pngErr: string[] = [];
    assert.is(await main(['-i', png, '-s', path.join(dir, 'p.png'), '--max_network_pixels', String(1 << 20), '--max_pixels', '1000000', '--weights', officialCheckpoint()], { out: () => undefined, err: (l) => pngErr.push(l) }), 1);
    assert.match(pngErr.join('\n'), /big\.png: image is 1100x1000 .*over --max_pixels 1000000; it cannot be read in bands \(it is a PNG\), so it is decoded whole .*pass --max_pixels 1100000/);
    // a run that fills --top_k says so
    const topErr: string[] = [];
    assert.is(await main(['-i', sharedImage('wider_group.jpg'), '-s', path.join(dir, 'g.png'), '--top_k', '10', '--weights', officialCheckpoint()], { out: () => undefined, err: (l) => topErr.push(l) }), 0);
    assert.match(topErr.join('\n'), /wider_group\.jpg: a network run reached its --top_k of 10 candidates/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after(async () => (await detector)?.dispose());

test.run();
