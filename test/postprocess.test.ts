import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeBoxes, decodeLandmarks } from '../src/detect/decode.js';
import { argsortDescending, nms } from '../src/detect/nms.js';
import { DEFAULT_DETECT_OPTIONS, postprocess, resolveDetectOptions, type DetectOptions, type Face } from '../src/detect/postprocess.js';
import { priorBoxes, priorCount } from '../src/detect/priors.js';
import { RetinaFaceError } from '../src/errors.js';
import { rng } from '../src/harness/random.js';
import { tensor } from '../src/tensor.js';
import { cacheDir, repoRoot, runTorchPython } from './helpers/paths.js';

/**
 * Hand-computed values are exact in real arithmetic; ours are float32 (as PyTorch's). At the
 * pixel scales here (< 256 px) a float32 ulp is <= 1.5e-5 and the decode has ~6 rounded steps.
 */
const HAND_PX_TOL = 1e-4;

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

// ---------------------------------------------------------------- decode

test('decodeBoxes / decodeLandmarks on a hand-made anchor', () => {
  const priors = Float32Array.from([0.5, 0.5, 0.1, 0.2]);
  const size = { width: 100, height: 200 };
  // centre += loc * 0.1 * prior_wh; wh = prior_wh * exp(loc * 0.2): exp(5 ln 2 * 0.2) = 2
  const boxes = decodeBoxes(tensor([1, 4], Float32Array.from([1, -2, 0, 5 * Math.LN2])), priors, size);
  // cx = 0.51, cy = 0.46, w = 0.1, h = 0.4 -> x1 = 0.46 W, y1 = 0.26 H, x2 = 0.56 W, y2 = 0.66 H
  close(boxes, [46, 52, 56, 132], HAND_PX_TOL, 'box');
  const lm = decodeLandmarks(tensor([1, 10], Float32Array.from([1, -2, 0, 0, -1, 1, 10, 0, 0, -10])), priors, size);
  // point = prior_c + ldm * 0.1 * prior_wh, times (W, H)
  close(lm, [51, 92, 50, 100, 49, 104, 60, 100, 50, 60], HAND_PX_TOL, 'landmarks');
  assert.throws(() => decodeBoxes(tensor([2, 4]), priors, size), /loc must be \(1, 4\)/);
});

// ---------------------------------------------------------------- NMS

test('nms: inclusive-pixel IoU, suppression only above the threshold, best first', () => {
  const boxes = Float32Array.from([
    0, 0, 9, 9, //  A: 10 x 10 pixels (areas count x2 - x1 + 1)
    1, 1, 10, 10, // B: IoU with A = 81 / (100 + 100 - 81) = 0.68
    5, 0, 14, 9, //  C: IoU with A = 50 / 150 = 1/3
    20, 20, 29, 29, // D: disjoint
  ]);
  const scores = Float32Array.from([0.9, 0.8, 0.7, 0.95]);
  assert.equal(nms(boxes, scores, 0.4), [3, 0, 2]);
  // IoU == threshold is kept (the reference keeps ovr <= thresh), just above it is suppressed
  assert.equal(nms(boxes, scores, 1 / 3), [3, 0, 2]);
  assert.equal(nms(boxes, scores, 0.33), [3, 0]);
  assert.equal(nms(boxes, scores, 0.7), [3, 0, 1, 2]);
  // touching boxes overlap by one pixel column under the +1 convention: 1 x 10 / (200 - 10)
  assert.equal(nms(Float32Array.from([0, 0, 9, 9, 9, 0, 18, 9]), Float32Array.from([0.5, 0.6]), 0.05), [1]);
  assert.equal(nms(Float32Array.from([0, 0, 9, 9, 9, 0, 18, 9]), Float32Array.from([0.5, 0.6]), 0.06), [1, 0]);
  assert.equal(nms(new Float32Array(0), new Float32Array(0), 0.4), []);
});

test('argsortDescending: ties in the order of a reversed stable argsort', () => {
  assert.equal(argsortDescending([0.5, 0.9, 0.5, 0.1]), [1, 2, 0, 3]);
});

// ---------------------------------------------------------------- postprocess

/** A 64x64 input: 168 anchors, all scores 0 except the ones set. */
function handCase(): { loc: Float32Array; conf: Float32Array; landms: Float32Array } {
  const A = priorCount(64, 64);
  assert.is(A, (64 + 16 + 4) * 2);
  const loc = new Float32Array(A * 4), conf = new Float32Array(A * 2), landms = new Float32Array(A * 10);
  for (let a = 0; a < A; a++) conf[2 * a] = 1;
  const score = (a: number, s: number): void => { conf[2 * a] = 1 - s; conf[2 * a + 1] = s; };
  // anchor 38: level 0, row 2, column 3, 16 px: centre (28, 20) -> box (20, 12, 36, 28)
  score(38, 0.9);
  // anchor 40: row 2, column 4 (centre x 36), moved 8 px left by loc x = -5 (-5 * 0.1 * 16):
  // the same box as anchor 38 with a lower score, so NMS removes it
  score(40, 0.8);
  loc[4 * 40] = -5;
  // anchor 100: exactly the threshold: not kept (scores > 0.02)
  score(100, 0.02);
  // anchor 101: row 6, column 2, 32 px: centre (20, 52) -> box (4, 36, 36, 68), disjoint from 38
  score(101, 0.021);
  landms[10 * 101] = 1; // first point x + 1 * 0.1 * 32 px
  return { loc, conf, landms };
}

function run(opts: Partial<DetectOptions> = {}): Face[] {
  const { loc, conf, landms } = handCase();
  const A = conf.length / 2;
  return postprocess(tensor([A, 4], loc), tensor([A, 2], conf), tensor([A, 10], landms), { height: 64, width: 64 }, opts);
}

test('postprocess: threshold, NMS and order on a hand-made case', () => {
  const faces = run();
  assert.is(faces.length, 2);
  assert.is(faces[0]!.score, Math.fround(0.9));
  close(faces[0]!.box, [20, 12, 36, 28], HAND_PX_TOL, 'face 0 box');
  close(faces[0]!.landmarks.flat(), [28, 20, 28, 20, 28, 20, 28, 20, 28, 20], HAND_PX_TOL, 'face 0 landmarks');
  assert.is(faces[1]!.score, Math.fround(0.021));
  close(faces[1]!.box, [4, 36, 36, 68], HAND_PX_TOL, 'face 1 box');
  close(faces[1]!.landmarks[0], [23.2, 52], HAND_PX_TOL, 'face 1 landmark 0');
});

test('postprocess options: topK, keepTopK, confidenceThreshold, nmsThreshold, scale', () => {
  assert.equal(run({ keepTopK: 1 }).map((f) => f.score), [Math.fround(0.9)]);
  assert.equal(run({ topK: 1 }).map((f) => f.score), [Math.fround(0.9)]);
  assert.equal(run({ confidenceThreshold: 0.5 }).map((f) => f.score), [Math.fround(0.9)]);
  assert.equal(run({ confidenceThreshold: 0 }).length, 3, 'anchor 100 (0.02) passes > 0');
  assert.equal(run({ nmsThreshold: 1 }).map((f) => f.score), [0.9, 0.8, 0.021].map(Math.fround), 'IoU 1 <= 1 keeps anchor 40');
  close(run({ scale: 2 })[0]!.box, [40, 24, 72, 56], HAND_PX_TOL, 'scale 2');
  const s = run({ scale: [2, 3] })[0]!;
  close(s.box, [40, 36, 72, 84], HAND_PX_TOL, 'scale [2, 3]');
  close(s.landmarks[0], [56, 60], HAND_PX_TOL, 'scale [2, 3] landmark');
});

test('options are validated with the option name', () => {
  assert.equal(resolveDetectOptions(), { ...DEFAULT_DETECT_OPTIONS });
  assert.equal(DEFAULT_DETECT_OPTIONS, { confidenceThreshold: 0.02, topK: 5000, nmsThreshold: 0.4, keepTopK: 750, visThreshold: 0.6, scale: 1 });
  const bad: [Partial<DetectOptions>, RegExp][] = [
    [{ confidenceThreshold: NaN }, /confidenceThreshold: NaN/],
    [{ confidenceThreshold: 1.5 }, /confidenceThreshold/],
    [{ nmsThreshold: -0.1 }, /nmsThreshold/],
    [{ visThreshold: Infinity }, /visThreshold/],
    [{ topK: 1.5 }, /topK: 1.5 \(expected an integer >= 1\)/],
    [{ topK: 0 }, /topK/],
    [{ keepTopK: -3 }, /keepTopK/],
    [{ scale: 0 }, /scale/],
    [{ scale: [1, NaN] as [number, number] }, /scale/],
    [{ confidenceThreshold: '0.5' as unknown as number }, /confidenceThreshold/],
    [{ nmsThreshhold: 0.3 } as Partial<DetectOptions>, /unknown option nmsThreshhold/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => resolveDetectOptions(opts), (e: unknown) => e instanceof RetinaFaceError && re.test(e.message), JSON.stringify(opts));
  }
  assert.throws(() => postprocess(tensor([5, 4]), tensor([5, 2]), tensor([5, 10]), { height: 64, width: 64 }), /loc is \(5, 4\), expected \(168, 4\)/);
});

// ---------------------------------------------------------------- against the reference


/**
 * Same float32 steps as torch except exp (Sleef's vs V8's, each within 1 ulp): a box side can
 * differ by an ulp of a few hundred pixels, 3e-5; landmarks have no exp and should match exactly.
 */
const TORCH_PX_TOL = 1e-3;

test('postprocess matches the reference pipeline (PyTorch decode, NumPy NMS) on random heads', () => {
  // 150 x 200: not a multiple of 32, so every level's ceil() matters
  const height = 150, width = 200;
  const A = priorCount(height, width);
  const rand = rng(20240601);
  const loc = Float32Array.from({ length: A * 4 }, () => (rand() - 0.5) * 3);
  const landms = Float32Array.from({ length: A * 10 }, () => (rand() - 0.5) * 6);
  // distinct scores (a shuffled ramp), so the reference's unstable argsort has no ties to break
  const ramp = Array.from({ length: A }, (_, k) => (k + 0.5) / A);
  for (let k = A - 1; k > 0; k--) { const j = Math.floor(rand() * (k + 1)); [ramp[k], ramp[j]] = [ramp[j]!, ramp[k]!]; }
  const conf = new Float32Array(A * 2);
  ramp.forEach((s, a) => { conf[2 * a + 1] = s; conf[2 * a] = 1 - s; });

  const variants: Partial<DetectOptions>[] = [{}, { confidenceThreshold: 0.5, topK: 300, nmsThreshold: 0.3, keepTopK: 40 }];
  const dirs = variants.map((opts, v) => {
    const o = resolveDetectOptions(opts);
    const dir = cacheDir('postprocess-ref', String(v));
    writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({
      height, width, confidence_threshold: o.confidenceThreshold, top_k: o.topK, nms_threshold: o.nmsThreshold, keep_top_k: o.keepTopK,
    }));
    writeFileSync(path.join(dir, 'loc.f32'), loc);
    writeFileSync(path.join(dir, 'conf.f32'), conf);
    writeFileSync(path.join(dir, 'landms.f32'), landms);
    return dir;
  });
  runTorchPython(path.join(repoRoot, 'test', 'torch', 'postprocess_ref.py'), dirs);

  const read = (dir: string, name: string): Float32Array => {
    const b = readFileSync(path.join(dir, name));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  assert.equal(Array.from(priorBoxes(height, width)), Array.from(read(dirs[0]!, 'priors.f32')), 'priors bit-identical to PriorBox');

  variants.forEach((opts, v) => {
    const ref = read(dirs[v]!, 'dets.f32');
    const faces = postprocess(tensor([A, 4], loc), tensor([A, 2], conf), tensor([A, 10], landms), { height, width }, opts);
    assert.is(faces.length, ref.length / 15, `variant ${v}: number of faces`);
    assert.ok(faces.length > (v === 0 ? 100 : 20), `variant ${v}: NMS has work to do (${faces.length} faces)`);
    faces.forEach((face, i) => {
      const r = ref.subarray(15 * i, 15 * i + 15);
      assert.is(face.score, r[4], `variant ${v} face ${i}: score (order)`);
      const ours = [...face.box, ...face.landmarks.flat()];
      const theirs = [...r.subarray(0, 4), ...r.subarray(5)];
      close(ours, theirs, TORCH_PX_TOL, `variant ${v} face ${i}`);
    });
  });
});

test.run();
