// Multi-scale and flip testing (src/detect/multiscale.ts, merge.ts, resize_linear.ts) against an
// independent Python implementation (test/torch/multiscale_ref.py: the reference's decode in torch,
// NumPy pooling, py_cpu_nms and box voting) fed the same network outputs, and cv2.resize for the
// upscale; plus the invariants that need no reference: scales [1] is today's detector, and a
// flipped run of a mirrored photo is the mirror of the same run on the photo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RetinaFace } from '../src/index.js';
import type { Face } from '../src/detect/postprocess.js';
import { mirrorImage, scaleImage } from '../src/detect/multiscale.js';
import { rgbImage, type RgbImage } from '../src/image/image.js';
import { readImageFile } from '../src/image/read.js';
import { toNetworkInput } from '../src/image/preprocess.js';
import { resizeLinear } from '../src/image/resize_linear.js';
import { rng } from '../src/harness/random.js';
import { cacheDir, officialCheckpoint, repoRoot, runReferencePython, sharedImage } from './helpers/paths.js';

const PY_MODULES = { torch: 'python3-torch', numpy: 'python3-numpy', cv2: 'python3-opencv' };

/**
 * Coordinates from the two sides: decoded by the same float32 steps except exp (V8's against
 * Sleef's in torch, each within an ulp: test/postprocess.test.ts), then mapped in float64 and
 * stored as float32 both sides, and suppressed by the same float32 IoU test; with 'vote' the
 * float64 weighted means differ further only in summation order (~1e-12 px). An ulp of exp moves
 * a box side of a few hundred pixels by ~3e-5 px: 1e-3 px, as postprocess.test.ts.
 */
const PX = 1e-3;

function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const out = rgbImage(w, h);
  for (let r = 0; r < h; r++) out.data.set(img.data.subarray(3 * ((y + r) * img.width + x), 3 * ((y + r) * img.width + x + w)), 3 * r * w);
  return out;
}

let detector: Promise<RetinaFace> | undefined;
const load = () => (detector ??= RetinaFace.load({ arch: 'mobile0.25', weights: officialCheckpoint(), backend: 'cpu-simd', threads: 1 }));
/** 400x300 of the selfie's crowd (faces of 6-20 px): where scale 2 finds what scale 1 misses. */
const photo = async () => crop(await readImageFile(sharedImage('selfie.jpg')), 900, 420, 400, 300);

test('resizeLinear equals cv2.resize INTER_LINEAR byte for byte (integer and fractional factors, widths not a multiple of 8)', () => {
  const dir = cacheDir('multiscale-ref', 'resize');
  mkdirSync(dir, { recursive: true });
  const rand = rng(31);
  const sizes: [number, number, number, number][] = [[37, 23, 74, 46], [40, 21, 100, 53], [13, 7, 40, 21], [64, 48, 96, 72], [101, 67, 303, 201], [5, 5, 17, 11], [1, 3, 4, 9]];
  const cases = sizes.map(([w, h, dw, dh], k) => {
    const img = rgbImage(w, h, Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rand() * 256)));
    const src = path.join(dir, `src-${k}.bin`), out = path.join(dir, `cv2-${k}.bin`);
    writeFileSync(src, img.data);
    return { img, dw, dh, json: { src, width: w, height: h, dw, dh, out } };
  });
  writeFileSync(path.join(dir, 'cases.json'), JSON.stringify({ resize: cases.map((c) => c.json) }));
  runReferencePython(path.join(repoRoot, 'test', 'torch', 'multiscale_ref.py'), [dir], PY_MODULES);
  for (const c of cases) {
    const want = new Uint8Array(readFileSync(c.json.out));
    const got = resizeLinear(c.img, c.dw, c.dh).data;
    assert.is(got.length, want.length);
    const diff = got.findIndex((v, i) => v !== want[i]);
    assert.is(diff, -1, `${c.img.width}x${c.img.height} -> ${c.dw}x${c.dh}: first difference at byte ${diff} (ours ${got[diff]}, cv2 ${want[diff]})`);
  }
});

test('scales [1] without flip is the detector of the reference (the same faces, the same numbers)', async () => {
  const d = await load();
  const img = await photo();
  const plain = await d.detectDetailed(img, { visThreshold: 0 });
  const explicit = await d.detectDetailed(img, { visThreshold: 0, scales: [1], flip: false, merge: 'vote' });
  assert.ok(plain.candidates.length > 50, `${plain.candidates.length} candidates`);
  assert.equal(explicit.candidates, plain.candidates);
  assert.is(explicit.runs.length, 1);
});

function facesOf(json: number[][]): Face[] {
  return json.map((r) => ({ score: r[0]!, box: [r[1]!, r[2]!, r[3]!, r[4]!], landmarks: [0, 1, 2, 3, 4].map((i) => [r[5 + 2 * i]!, r[6 + 2 * i]!]) as Face['landmarks'] }));
}

function assertSameFaces(got: Face[], want: Face[], what: string): void {
  assert.is(got.length, want.length, `${what}: number of faces`);
  got.forEach((f, i) => {
    const w = want[i]!;
    assert.is(f.score, Math.fround(w.score), `${what} face ${i}: score (order)`);
    const err = Math.max(...f.box.map((v, k) => Math.abs(v - w.box[k]!)), ...f.landmarks.flatMap((p, k) => [Math.abs(p[0] - w.landmarks[k]![0]), Math.abs(p[1] - w.landmarks[k]![1])]));
    assert.ok(err <= PX, `${what} face ${i}: coordinates differ by ${err} px (> ${PX})`);
  });
}

test('scales [0.5, 1, 2] with flip, nms and vote: the faces the Python reference merges from the same network outputs', async () => {
  const d = await load();
  const img = await photo();
  const dir = cacheDir('multiscale-ref', 'merge');
  mkdirSync(dir, { recursive: true });
  const scales = [0.5, 1, 2];
  const runs = [];
  for (const s of scales) {
    for (const flip of [false, true]) {
      const scaled = scaleImage(img, s);
      const net = flip ? mirrorImage(scaled) : scaled;
      const raw = await d.forward(toNetworkInput(net));
      const sub = `run-${s}-${flip}`;
      mkdirSync(path.join(dir, sub), { recursive: true });
      writeFileSync(path.join(dir, sub, 'loc.f32'), raw.loc.data);
      writeFileSync(path.join(dir, sub, 'conf.f32'), raw.conf.data);
      writeFileSync(path.join(dir, sub, 'landms.f32'), raw.landms.data);
      runs.push({ dir: sub, width: net.width, height: net.height, flip });
    }
  }
  const base = { width: img.width, height: img.height, runs, confidence_threshold: 0.02, top_k: 5000, nms_threshold: 0.4, keep_top_k: 750 };
  const merges = ['nms', 'vote'] as const;
  writeFileSync(path.join(dir, 'cases.json'), JSON.stringify({ merge: merges.map((m) => ({ ...base, merge: m, out: path.join(dir, `${m}.json`) })) }));
  runReferencePython(path.join(repoRoot, 'test', 'torch', 'multiscale_ref.py'), [dir], PY_MODULES);
  const counts: string[] = [];
  for (const merge of merges) {
    const got = await d.detectDetailed(img, { visThreshold: 0, scales, flip: true, merge });
    assert.equal(got.runs.map((r) => [r.scale, r.flip, r.inputWidth, r.inputHeight]), runs.map((r, k) => [scales[k >> 1], r.flip, r.width, r.height]));
    const want = facesOf(JSON.parse(readFileSync(path.join(dir, `${merge}.json`), 'utf8')) as number[][]);
    assertSameFaces(got.candidates, want, merge);
    counts.push(`${merge}: ${got.candidates.length} candidates, ${got.candidates.filter((f) => f.score >= Math.fround(0.6)).length} at score >= 0.6`);
  }
  console.log(`  [multiscale] 400x300 selfie crop, scales 0.5,1,2 + flip (6 runs): ${counts.join('; ')}`);
});

test('flip: the merged faces of the mirrored photo are the mirror of the photo\'s', async () => {
  const d = await load();
  const img = await photo();
  const W = img.width;
  const a = (await d.detectDetailed(img, { visThreshold: 0.3, flip: true })).faces;
  const b = (await d.detectDetailed(mirrorImage(img), { visThreshold: 0.3, flip: true })).faces;
  const mirrored = b.map((f): Face => ({
    score: f.score,
    box: [W - f.box[2], f.box[1], W - f.box[0], f.box[3]],
    landmarks: [1, 0, 2, 4, 3].map((k) => [W - f.landmarks[k]![0], f.landmarks[k]![1]]) as Face['landmarks'],
  }));
  assert.ok(a.length > 10, `${a.length} faces`);
  // The same pool of proposals in both (the two runs trade places), so the same faces; float32
  // rounding of W - x differs between the two sides by an ulp of a few hundred pixels.
  assert.is(mirrored.length, a.length);
  const byScore = (xs: Face[]) => [...xs].sort((p, q) => q.score - p.score || p.box[0] - q.box[0]);
  byScore(mirrored).forEach((f, i) => {
    const g = byScore(a)[i]!;
    assert.is(f.score, g.score);
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(f.box[k]! - g.box[k]!) < 1e-3, `face ${i} box[${k}]: ${f.box[k]} vs ${g.box[k]}`);
    for (let k = 0; k < 5; k++) assert.ok(Math.abs(f.landmarks[k]![0] - g.landmarks[k]![0]) < 1e-3, `face ${i} landmark ${k}`);
  });
});

test('scale 2 finds faces of the crowd that scale 1 misses', async () => {
  const d = await load();
  const img = await photo();
  const one = (await d.detectDetailed(img, {})).faces.length;
  const two = (await d.detectDetailed(img, { scales: [1, 2] })).faces.length;
  console.log(`  [multiscale] faces at score >= 0.6: scale 1 ${one}, scales 1,2 ${two}`);
  assert.ok(two > one, `scales 1,2 found ${two}, scale 1 ${one}`);
});

test('options: bad scales, flip, merge and rescale with scales are one EOPTION error each', async () => {
  const d = await load();
  const img = rgbImage(64, 48);
  for (const [opts, re] of [
    [{ scales: [] }, /invalid option scales: \[\] \(expected 1 to 16 numbers/],
    [{ scales: [0] }, /invalid option scales: \[0\]/],
    [{ scales: [1, 1] }, /each scale once/],
    [{ scales: [17] }, /invalid option scales/],
    [{ scales: '1,2' }, /invalid option scales/],
    [{ flip: 'yes' }, /invalid option flip: "yes" \(expected true or false\)/],
    [{ merge: 'wbf' }, /invalid option merge: "wbf" \(expected 'nms' or 'vote'\)/],
    [{ rescale: 2, scales: [1, 2] }, /rescale and scales\/flip together/],
  ] as [Record<string, unknown>, RegExp][]) {
    try {
      await d.detect(img, opts as never);
      assert.unreachable(`${JSON.stringify(opts)} accepted`);
    } catch (e) {
      assert.is((e as { code?: string }).code, 'EOPTION', String(e));
      assert.match(String((e as Error).message), re);
    }
  }
});

test.after(async () => (await detector)?.dispose());

test.run();
