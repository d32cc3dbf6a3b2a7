import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_PRIOR_CONFIG, priorBoxes, priorCount } from '../src/detect/priors.js';

const f = Math.fround;

function anchor(p: Float32Array, a: number): number[] {
  return Array.from(p.subarray(4 * a, 4 * a + 4));
}

test('config is the reference cfg_mnet / cfg_re50 values', () => {
  assert.equal(DEFAULT_PRIOR_CONFIG.minSizes, [[16, 32], [64, 128], [256, 512]]);
  assert.equal(DEFAULT_PRIOR_CONFIG.steps, [8, 16, 32]);
  assert.equal(DEFAULT_PRIOR_CONFIG.variance, [0.1, 0.2]);
});

test('anchor counts: 16800 at 640x640, 96768 at 2048x1150', () => {
  // (80 * 80 + 40 * 40 + 20 * 20) * 2
  assert.is(priorCount(640, 640), 16800);
  assert.is(priorBoxes(640, 640).length, 16800 * 4);
  // ceil(1150 / 8) = 144, ceil(2048 / 8) = 256; 72 x 128; 36 x 64; two anchors per cell
  assert.is(priorCount(1150, 2048), (144 * 256 + 72 * 128 + 36 * 64) * 2);
  assert.is(priorCount(1150, 2048), 96768);
  assert.is(priorBoxes(1150, 2048).length, 96768 * 4);
  assert.is(priorCount(1, 1), 6);
});

test('anchor values at 2048x1150 follow prior_box.py, by hand', () => {
  const H = 1150, W = 2048;
  const p = priorBoxes(H, W);
  // level 0 (step 8), row 0, column 0, min sizes 16 then 32
  assert.equal(anchor(p, 0), [f(0.5 * 8 / W), f(0.5 * 8 / H), f(16 / W), f(16 / H)]);
  assert.equal(anchor(p, 1), [f(4 / 2048), f(4 / 1150), f(32 / 2048), f(32 / 1150)]);
  // level 0, row i = 1, column j = 2, second min size: ((1 * 256) + 2) * 2 + 1
  assert.equal(anchor(p, 517), [f(20 / 2048), f(12 / 1150), f(32 / 2048), f(32 / 1150)]);
  // first anchor of level 1 (after 144 * 256 * 2 = 73728): centre (0.5 * 16) px, min size 64
  assert.equal(anchor(p, 73728), [f(8 / 2048), f(8 / 1150), f(64 / 2048), f(64 / 1150)]);
  // last anchor: level 2, row 35, column 63, min size 512; its centre lies past the bottom
  // edge's last full cell (35.5 * 32 = 1136 < 1150), and clip is False
  assert.equal(anchor(p, 96767), [f(63.5 * 32 / 2048), f(1136 / 1150), f(0.25), f(512 / 1150)]);
});

test('priors are cached per size, bounded', () => {
  const a = priorBoxes(100, 120);
  assert.ok(priorBoxes(100, 120) === a, 'same size: cached array');
  for (const s of [101, 102, 103, 104, 105]) priorBoxes(s, s);
  const b = priorBoxes(100, 120);
  assert.ok(b !== a, 'evicted after more sizes than the cache holds');
  assert.equal(Array.from(b), Array.from(a));
  assert.throws(() => priorBoxes(0, 10), /positive integers/);
  assert.throws(() => priorBoxes(10.5, 10), /positive integers/);
});

test.run();
