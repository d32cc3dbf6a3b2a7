// The browser build's inputs in headless Chromium (issue 14, item 6): PNG bytes decoded by the
// bundle's own PNG reader (no pngjs, no Node zlib), and every DOM image source a page holds,
// read through one reused canvas. Each is made from the same PNG and must give the detector the
// same pixels as Node's decoder, hence the same faces as Node on the same weights and backend.
// Also: the page's default backend ('auto') and the one-line errors for sources without pixels.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../docs/demo/build.js';
import { decodeImage } from '../src/image/decode.js';
import type { Face } from '../src/detect/postprocess.js';
import { openHarnessPage, type HarnessPage } from '../src/harness/chromium.js';
import type { SourceResult } from './browser/inputs_page.js';
import { compareFaces } from './helpers/faces.js';
import { convertedWeightsUrl } from './helpers/gpu_weights.js';
import { fnv1a } from './helpers/hash.js';
import { repoRoot } from './helpers/paths.js';
import { GROUP_CROP, groupCropPng, nodeCpuFaces } from './helpers/group_crop.js';

/** A 320x240 crop of the group photo with several faces (test/helpers/group_crop.ts): small enough for the cpu backend 8 times. */
const CROP = GROUP_CROP;
/**
 * cpu-simd (WebAssembly SIMD, in the page) against cpu (plain JavaScript, in Node): the same
 * network with sums in another order (GEMM blocking, Winograd), float32 rounding apart. The gpu
 * backends' bound (0.5 px, 1e-3) holds with room; measured differences are printed.
 */
const SIMD_VS_CPU = { px: 0.5, score: 1e-3 };

let harness: HarnessPage;
let weightsUrl: string;
let pngUrl: string;
let nodeFaces: Face[];
let nodePixels: number;

test.before(async () => {
  await buildBundle();
  weightsUrl = await convertedWeightsUrl('mobile0.25');
  const crop = groupCropPng('inputs');
  pngUrl = crop.url;
  nodePixels = fnv1a(decodeImage(crop.png, 'group-crop.png').data);
  nodeFaces = await nodeCpuFaces(weightsUrl, crop.png);
  harness = await openHarnessPage(repoRoot, 'test/browser/inputs.html', 'inputs');
});

test.after(async () => {
  await harness?.close();
});

type Run = { backend: string; why: string; results: SourceResult[] };
const run = (backend: string | undefined) =>
  harness.page.evaluate(([w, p, b]) => (globalThis as any).inputs.run(w, p, b), [weightsUrl, pngUrl, backend]) as Promise<Run>;

test('every browser input gives Node\'s pixels and Node\'s faces (cpu backend on both sides)', async () => {
  assert.ok(nodeFaces.length >= 3, `${nodeFaces.length} faces in the crop`);
  const r = await run('cpu');
  assert.is(r.backend, 'cpu-fast');
  assert.equal(r.results.map((x) => x.kind), ['PNG bytes', 'HTMLImageElement', 'HTMLCanvasElement', 'OffscreenCanvas', 'ImageBitmap', 'ImageData', 'VideoFrame', 'HTMLVideoElement']);
  for (const x of r.results) {
    console.log(`  [chromium ${x.kind}] ${x.error ?? `${x.width}x${x.height}, pixels ${x.pixels === nodePixels ? '= Node\'s' : `up to ${x.maxDiff} levels from Node's`}, ${x.faces.length} faces`}`);
    assert.is(x.error, undefined, `${x.kind}: ${x.error}`);
    assert.equal([x.width, x.height], [CROP.width, CROP.height], x.kind);
    if (x.kind === 'HTMLVideoElement') {
      // A <video> shows the stream's frames through the media pipeline (YUV 4:2:0 and back), so
      // its pixels are not the PNG's: what must hold is that the detector reads the frame the page
      // itself sees (a fresh canvas's drawImage of the same element).
      assert.is(x.pixels, x.ownRead, 'HTMLVideoElement: the detector reads the frame the page draws');
      continue;
    }
    assert.is(x.pixels, nodePixels, `${x.kind}: the pixels the detector read equal Node's decode of the PNG`);
    assert.equal(x.faces, nodeFaces, `${x.kind}: the faces equal Node's`);
  }
});

test('the page\'s default backend is auto: cpu-simd, with its reason; faces as Node\'s within the SIMD bound', async () => {
  const r = await run(undefined);
  assert.is(r.backend, 'cpu-simd');
  assert.is(r.why, 'auto chose cpu-simd: WebAssembly SIMD compiles here');
  const png = r.results[0]!;
  assert.is(png.error, undefined, png.error);
  const d = compareFaces(png.faces, nodeFaces, SIMD_VS_CPU);
  console.log(`  [chromium auto] ${r.backend}: ${png.faces.length} faces, max ${d.maxPx.toExponential(2)} px, score ${d.maxScore.toExponential(2)} from Node's cpu`);
  assert.equal(d.failures, []);
});

test('sources without pixels and bad bytes: one RetinaFaceError each, saying why', async () => {
  const lines = await harness.page.evaluate((w) => (globalThis as any).inputs.refusals(w), weightsUrl) as string[];
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^pending <img>: EIMAGE .*the <img> has not loaded \(await img\.decode\(\) first\)/);
  assert.match(lines[1]!, /^closed VideoFrame: EIMAGE .*the VideoFrame is closed/);
  assert.match(lines[2]!, /^a string: EIMAGE .*expected JPEG or PNG bytes, pixels .* or a browser image source, got string/);
  assert.match(lines[3]!, /^corrupt PNG: E\w+ .*PNG/);
});

test.run();
