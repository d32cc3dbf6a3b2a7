// Aligned crops (issue 17) against the Python references at test time (test/torch/align_ref.py):
// the matrix against skimage's SimilarityTransform.estimate (Umeyama) on the landmarks of real
// detections and on seeded random point sets, near-degenerate ones included; the crops against
// cv2.warpAffine (INTER_LINEAR, BORDER_CONSTANT) on the same PNG pixels, for faces at the border,
// the EXIF-rotated photo and the tiny faces of the selfie. Then the `retinaface align` command.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { alignFace, ARCFACE_TEMPLATE, RetinaFace, RetinaFaceError, type Face, type Point, type RgbImage } from '../src/index.js';
import { applyMatrix, estimateSimilarity, type Matrix2x3 } from '../src/align/similarity.js';
import { decodeImage } from '../src/image/decode.js';
import { encodeImage } from '../src/image/encode.js';
import { exifApp1, insertAfterSoi } from './helpers/images.js';
import { cacheDir, officialCheckpoint, repoRoot, runReferencePython, sharedImage } from './helpers/paths.js';
import { rng } from '../src/harness/random.js';

process.env.RETINAFACE_CACHE = cacheDir('home');
process.env.RETINAFACE_WEIGHTS_DIR = path.dirname(officialCheckpoint());
process.env.RETINAFACE_OFFLINE = '1';

/**
 * The bounds. Matrix: both sides solve the same least-squares problem in float64 (ours in
 * its closed 2-D form, skimage through an SVD), so they agree to rounding, far inside 1e-4.
 * Crops: warp.ts follows OpenCV's fixed-point arithmetic (positions in 1/32 px, weights in 2^-15),
 * so they agree where the float steps before the rounding agree; a position that lands on a
 * rounding boundary in one and not the other moves a pixel by a level or two.
 */
const MATRIX_TOL = 1e-4;
const CROP_WITHIN_2_LEVELS = 0.99;
const CROP_MEAN_ABS = 0.5;

const dir = cacheDir('align');
mkdirSync(dir, { recursive: true });
const SCRIPT = path.join(repoRoot, 'test', 'torch', 'align_ref.py');
const MODULES = { cv2: 'python3-opencv', skimage: 'python3-skimage', numpy: 'python3-numpy' };

interface Estimate { src: Point[]; dst: Point[] }
interface Warp { image: string; matrix: Matrix2x3; size: number; border: [number, number, number]; out: string }

/** Runs align_ref.py once on all cases: skimage's matrices, and cv2's crops read back as RGB. */
function reference(estimates: Estimate[], warps: Warp[], tag: string): { matrices: (Matrix2x3 | null)[]; crops: RgbImage[]; versions: Record<string, string> } {
  const cases = path.join(dir, `${tag}-cases.json`), out = path.join(dir, `${tag}-out.json`);
  writeFileSync(cases, JSON.stringify({ estimates, warps }));
  runReferencePython(SCRIPT, [cases, out], MODULES);
  const r = JSON.parse(readFileSync(out, 'utf8')) as { estimates: (Matrix2x3 | null)[]; versions: Record<string, string> };
  return { matrices: r.estimates, crops: warps.map((w) => decodeImage(readFileSync(w.out), w.out)), versions: r.versions };
}

function maxMatrixDiff(a: Matrix2x3, b: Matrix2x3): number {
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i]![j]!))));
}

function cropDiff(a: RgbImage, b: RgbImage): { within2: number; mean: number; max: number; equal: number } {
  let within2 = 0, sum = 0, max = 0, equal = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (d <= 2) within2++;
    if (d === 0) equal++;
    sum += d;
    max = Math.max(max, d);
  }
  const n = a.data.length;
  return { within2: within2 / n, mean: sum / n, max, equal: equal / n };
}

let detector: RetinaFace;
/** The photos as the detector decoded them, saved as PNG for cv2 (same pixels on both sides). */
const photos: { name: string; img: RgbImage; png: string; faces: Face[] }[] = [];

test.before(async () => {
  detector = await RetinaFace.load({ backend: 'cpu-simd', threads: 2 });
  const group = readFileSync(sharedImage('wider_group.jpg'));
  const inputs: [string, Uint8Array][] = [
    ['group', group],
    ['group-exif6', insertAfterSoi(group, exifApp1(6))], // rotated 90 degrees clockwise on decoding
    ['selfie', readFileSync(sharedImage('selfie.jpg'))], // hundreds of tiny faces
  ];
  for (const [name, bytes] of inputs) {
    const img = decodeImage(bytes, name);
    const png = path.join(dir, `${name}.png`);
    writeFileSync(png, encodeImage(img, 'png'));
    photos.push({ name, img, png, faces: await detector.detect(img) });
  }
});

test.after(() => detector?.dispose());

test('hand-computed: the template onto itself is the identity; a known similarity is recovered', () => {
  const id = estimateSimilarity(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE);
  assert.ok(maxMatrixDiff(id, [[1, 0, 0], [0, 1, 0]]) < 1e-12, JSON.stringify(id));
  // scale 2, rotation 90 degrees: (x, y) -> (-2y + 5, 2x - 3); the inverse maps it back
  const known: Matrix2x3 = [[0, -2, 5], [2, 0, -3]];
  const moved = ARCFACE_TEMPLATE.map((p) => applyMatrix(known, p));
  assert.ok(maxMatrixDiff(estimateSimilarity(ARCFACE_TEMPLATE, moved), known) < 1e-12);
  assert.throws(() => estimateSimilarity([[3, 4], [3, 4], [3, 4], [3, 4], [3, 4]], ARCFACE_TEMPLATE),
    (e: unknown) => e instanceof RetinaFaceError && e.code === 'EDEGENERATE');
});

test('matrices equal skimage SimilarityTransform.estimate: real landmarks and seeded random sets, near-degenerate included', () => {
  const cases: (Estimate & { label: string })[] = [];
  for (const p of photos) for (const f of p.faces) cases.push({ label: `${p.name} face`, src: f.landmarks, dst: [...ARCFACE_TEMPLATE] });
  const r = rng(17);
  const pts = (n: number, f: (i: number) => Point) => Array.from({ length: n }, (_, i) => f(i));
  for (let k = 0; k < 100; k++) {
    cases.push({ label: 'random', src: pts(5, () => [r() * 2000 - 500, r() * 2000 - 500]), dst: pts(5, () => [r() * 112, r() * 112]) });
  }
  for (let k = 0; k < 20; k++) {
    const a = r() * Math.PI, t = r() * 100;
    // nearly collinear: on a line, off it by 1e-6 px
    cases.push({ label: 'near-collinear', src: pts(5, (i) => [t + i * Math.cos(a) * 10 + (r() - 0.5) * 1e-6, i * Math.sin(a) * 10 + (r() - 0.5) * 1e-6]), dst: [...ARCFACE_TEMPLATE] });
    // nearly coincident: all five within 1e-3 px
    cases.push({ label: 'near-coincident', src: pts(5, () => [t + r() * 1e-3, t + r() * 1e-3]), dst: [...ARCFACE_TEMPLATE] });
    // mirrored: the best similarity of a reflection (det < 0: Umeyama's reflection correction)
    const src = pts(5, () => [r() * 100, r() * 100]);
    cases.push({ label: 'mirrored', src, dst: src.map(([x, y]) => [-x + 50, y]) });
  }
  const ref = reference(cases.map(({ src, dst }) => ({ src, dst })), [], 'estimates');
  let worst = 0, worstLabel = '';
  cases.forEach((c, i) => {
    const want = ref.matrices[i];
    assert.ok(want !== null && want !== undefined, `${c.label} #${i}: skimage found a matrix`);
    const d = maxMatrixDiff(estimateSimilarity(c.src, c.dst), want!);
    if (d > worst) { worst = d; worstLabel = c.label; }
    assert.ok(d <= MATRIX_TOL, `${c.label} #${i}: matrix differs from skimage's by ${d}`);
  });
  console.log(`  [align] ${cases.length} matrices vs skimage ${ref.versions.skimage}: worst ${worst.toExponential(2)} (${worstLabel})`);
});

test('crops equal cv2.warpAffine: every visible face of the group, the EXIF-rotated group and the selfie (tiny faces), border faces', () => {
  const warps: Warp[] = [];
  const ours: { label: string; crop: RgbImage }[] = [];
  let border = 0, tiny = 0;
  for (const p of photos) {
    p.faces.forEach((f, k) => {
      const size = k % 3 === 2 ? 224 : 112; // the template scaled, too
      const fill: [number, number, number] = k % 2 ? [10, 200, 30] : [0, 0, 0];
      const crop = alignFace(p.img, f, { size, borderValue: fill });
      // a crop corner mapped back outside the photo: the border value is in play
      const inv = estimateSimilarity(ARCFACE_TEMPLATE.map(([x, y]) => [x * size / 112, y * size / 112]), f.landmarks);
      if ([[0, 0], [size, 0], [0, size], [size, size]].some((c) => { const [x, y] = applyMatrix(inv, c as Point); return x < 0 || y < 0 || x > p.img.width || y > p.img.height; })) border++;
      if (f.box[2] - f.box[0] < 16) tiny++;
      const out = path.join(dir, `cv2-${p.name}-${k}.png`);
      warps.push({ image: p.png, matrix: crop.matrix, size, border: fill, out });
      ours.push({ label: `${p.name} face ${k} (score ${f.score.toFixed(3)}, ${size}px)`, crop });
    });
  }
  assert.ok(border >= 1, `some crops reach past the photo (${border})`);
  assert.ok(tiny >= 10, `tiny faces (< 16 px wide) are included (${tiny})`);
  assert.ok(photos[1]!.img.width === 624 && photos[1]!.faces.length > 0, 'the EXIF-rotated photo, rotated, with faces');
  const ref = reference([], warps, 'warps');
  let equal = 0, total = 0, worstMean = 0, worstWithin = 1, worstMax = 0;
  ours.forEach(({ label, crop }, i) => {
    const d = cropDiff(crop, ref.crops[i]!);
    assert.equal([crop.width, crop.height], [ref.crops[i]!.width, ref.crops[i]!.height], label);
    assert.ok(d.within2 >= CROP_WITHIN_2_LEVELS, `${label}: ${(d.within2 * 100).toFixed(2)}% of values within 2 levels`);
    assert.ok(d.mean <= CROP_MEAN_ABS, `${label}: mean abs diff ${d.mean}`);
    equal += d.equal * crop.data.length; total += crop.data.length;
    worstMean = Math.max(worstMean, d.mean); worstWithin = Math.min(worstWithin, d.within2); worstMax = Math.max(worstMax, d.max);
  });
  console.log(`  [align] ${ours.length} crops vs cv2.warpAffine (OpenCV ${ref.versions.opencv}; ${border} past the border, ${tiny} tiny): ` +
    `${(100 * equal / total).toFixed(4)}% of values equal, worst crop ${(worstWithin * 100).toFixed(2)}% within 2 levels, mean ${worstMean.toFixed(4)}, max ${worstMax}`);
});

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

test('retinaface align: <stem>_<k>.png best first and <stem>.json; stale crops of an earlier run removed; bad input', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'retinaface align-'));
  const group = sharedImage('wider_group.jpg');
  const r = await cli('align', '-i', group, '-s', out, '-q');
  assert.is(r.code, 0, r.err.join('\n'));
  const json = JSON.parse(readFileSync(path.join(out, 'wider_group.json'), 'utf8')) as { image: string; width: number; height: number; size: number; faces: { score: number; box: number[]; landmarks: number[][]; matrix: number[][]; crop: string }[] };
  const g = photos[0]!;
  assert.equal([json.width, json.height, json.size], [1024, 624, 112]);
  assert.is(json.faces.length, g.faces.length);
  json.faces.forEach((f, k) => {
    assert.is(f.crop, `wider_group_${k}.png`);
    assert.ok(k === 0 || f.score <= json.faces[k - 1]!.score, 'best first');
    const crop = decodeImage(readFileSync(path.join(out, f.crop)), f.crop);
    const mine = alignFace(g.img, g.faces[k]!);
    assert.equal(crop.data, mine.data, `${f.crop} is alignFace's crop`);
    assert.ok(maxMatrixDiff(f.matrix as Matrix2x3, mine.matrix) < 1e-7, 'the JSON matrix (8 decimals)');
  });
  // a stricter threshold: fewer crops, and those of the first run beyond them are gone
  const strict = await cli('align', '-i', group, '-s', out, '-q', '--vis_thres', '0.99', '--size', '64');
  assert.is(strict.code, 0, strict.err.join('\n'));
  const n = (JSON.parse(readFileSync(path.join(out, 'wider_group.json'), 'utf8')) as { faces: unknown[] }).faces.length;
  assert.ok(n > 0 && n < g.faces.length, `${n} faces at 0.99`);
  assert.equal(readdirSync(out).filter((f) => f.endsWith('.png')).length, n, 'no stale crop left');
  assert.is(decodeImage(readFileSync(path.join(out, 'wider_group_0.png')), 'c').width, 64);

  const bad = path.join(out, 'text.jpg');
  writeFileSync(bad, 'not an image');
  const b = await cli('align', '-i', bad, '-s', out);
  assert.is(b.code, 1);
  assert.equal(b.err, [`retinaface: ${bad}: unrecognised format, expected a JPEG or PNG image`]);
  assert.not.ok(existsSync(path.join(out, 'text.json')), 'nothing written for a bad input');
  const missing = await cli('align', '-i', group, '-s', path.join(out, 'nope'));
  assert.is(missing.code, 1);
  assert.match(missing.err[0]!, /the savepath directory does not exist/);
  const noDir = await cli('align', '-i', group);
  assert.is(noDir.code, 2);
  assert.match(noDir.err[0]!, /--savepath DIR is required/);
});

test.run();
