// The demo page (docs/demo/), built as `npm run demo` builds it and opened in headless Chromium
// from 127.0.0.1: it loads without console errors; on the group photo every browser backend
// finds the faces that the Node CPU backend finds (same decoder, jpeg-js); the score threshold
// redraws without a forward pass; a bad file dropped on it shows a message and the page keeps
// working; from a host without COOP/COEP it still detects (cpu-simd on one thread); the
// camera mode runs 15 frames of Chromium's fake capture device with WebGL textures, WebGPU
// buffers and the JS heap flat after warm-up, its Smooth toggle flipped midway and its frames
// per second shown; a screenshot is written for docs/demo/README.md.
// Chromium is required: without it these tests fail, with the reason.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildDemo, demoDir, type DemoAssets } from '../docs/demo/build.js';
import { serveStatic, type StaticServer } from '../docs/demo/static_server.js';
import { RetinaFaceDetector } from '../src/detector.js';
import type { Face } from '../src/detect/postprocess.js';
import { loadWeights } from '../src/weights/convert.js';
import { alignFace } from '../src/align/align.js';
import { decodeImage } from '../src/image/decode.js';
import { encodeImage } from '../src/image/encode.js';
import { launchChromium, type Browser, type CdpSession, type Page } from '../src/harness/chromium.js';
import { installDeviceObjectCounters, type DeviceObjects } from './browser/device_objects.js';
import { compareFaces, GPU_FACES_TOLERANCE } from './helpers/faces.js';
import { sharedDir, sharedImage, GPU_FULL } from './helpers/paths.js';

/** The backends the issue names (cpu, webasm, webgl2, webgpu), ours and gpu.js's, fastest first: the page must offer each. */
const BACKENDS = ['cpu-simd', 'cpu', 'gpujs-webasm', 'gpujs-cpu', 'gpujs-webgl2', 'gpujs-webgpu'] as const;
/**
 * Those whose faces on the whole group photo are compared with Node's: ours (cpu-simd and cpu).
 * The gpu.js modes take 10-55 s per 1024x624 pass on this machine's software renderers; each is
 * still checked whole-network against PyTorch at a small odd size (webgl2 and webgpu in this
 * Chromium, test/browser.test.ts; cpu, webasm and headlessgl in Node, test/gpu_network.test.ts),
 * webgl2 and webasm run the camera below, and the full list runs here with RETINAFACE_GPU_FULL=1.
 */
const GROUP_BACKENDS = GPU_FULL ? BACKENDS : (['cpu-simd', 'cpu'] as const);
const GROUP = 'wider_group.jpg';
/** Faces are compared at detect.py's drawing threshold: the faces the page shows by default. */
const VIS = 0.6;
/**
 * The camera runs on webgl2, where a leak would be a texture per frame, at 160x120 (a frame takes
 * 1-2 s on SwiftShader). 5 frames warm up (kernels compiled, buffers at size); then 10 more must
 * leave the device objects equal and the JS heap (after a forced GC) within 1 MB: a retained frame
 * (160x120 RGBA is 77 KB, the RGB copy 58 KB, every output tensor ~90 KB) per frame would add
 * 1.35 MB or more over 10 frames, where the heap moved by 0.3 MB over 25 frames when measured
 * (0.22 MB over 15).
 */
const CAMERA = { backend: 'gpujs-webgl2', size: '160x120', warmup: 5, frames: 15, heapSlackBytes: 1024 * 1024 } as const;

interface PageResult { faces: Face[]; timings: Record<string, number>; width: number; height: number; backend: string }
interface DemoApi {
  ready: boolean;
  backends: { spec: string; ok: boolean; reason: string }[];
  forwards: number;
  result: PageResult | null;
  error: string | null;
  camera: { running: boolean; paused: boolean; frames: number; frameMs: number; fps: number; liveTracks: number; smooth: boolean; ids: number[]; fpsText: string | null };
  whenIdle(): Promise<void>;
  pauseCamera(): Promise<void>;
  resumeCamera(): void;
}
/** In page callbacks (serialized into the page: they may not call functions of this file). */
type W = { demo: DemoApi };

let browser: Browser | null = null;
let server: StaticServer | null = null;
let page: Page;
let cdp: CdpSession;
let assets: DemoAssets;
const consoleErrors: string[] = [];
let nodeFaces: Face[] = [];
const timings: string[] = [];

test.before(async () => { try { await setup(); } catch (e) { console.error("  [demo] setup failed:", e); throw e; } });
async function setup(): Promise<void> {
  ({ assets } = await buildDemo({ imagesDir: path.join(sharedDir, 'images'), download: false, log: () => {} }));
  const mobile = assets.weights.find((w) => w.arch === 'mobile0.25');
  if (mobile === undefined) throw new Error(`the demo build found no mobile0.25 weights: ${assets.missing['mobile0.25']}`);
  // The Node CPU backend on the same file and the same weights file the page loads.
  const w = await loadWeights(path.join(demoDir, mobile.url));
  const d = await RetinaFaceDetector.fromTensors(w.tensors, { arch: 'mobile0.25', backend: 'cpu' });
  nodeFaces = (await d.detect(readFileSync(sharedImage(GROUP)))).filter((f) => f.score >= VIS);
  d.dispose();

  browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
  server = await serveStatic(demoDir, { allowed: [''], index: 'index.html' });
  page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 1000 });
  page.on('console', (m) => { if (m.type?.() === 'error') consoleErrors.push(m.text?.() ?? ''); });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  await page.addInitScript(installDeviceObjectCounters);
  cdp = await page.context().newCDPSession(page);
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => (window as unknown as Partial<W>).demo?.ready === true, '', { timeout: 120_000 });
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
}

test.after(async () => {
  await browser?.close();
  await server?.close();
  if (timings.length > 0) console.log(`  [demo] forward pass on the ${GROUP} photo in headless Chromium (SwiftShader: software WebGL/WebGPU):\n    ${timings.join('\n    ')}`);
});

const state = () => page.evaluate(() => { const d = (window as unknown as W).demo; return { result: d.result, error: d.error, forwards: d.forwards, camera: d.camera }; }, null);

test('demo: the page loads from 127.0.0.1 without console errors and shows the group photo', async () => {
  const s = await state();
  assert.equal(consoleErrors, [], 'console errors');
  assert.is(s.error, null);
  assert.ok(s.result !== null, 'the default sample was detected at load');
  assert.is(`${s.result!.width}x${s.result!.height}`, '1024x624');
  const backends = await page.evaluate(() => (window as unknown as W).demo.backends, null);
  for (const spec of BACKENDS) {
    const b = backends.find((x) => x.spec === spec);
    assert.ok(b?.ok === true, `${spec} is offered (${b?.reason ?? 'not listed'})`);
  }
});

for (const spec of GROUP_BACKENDS) {
  test(`demo: ${spec} finds the Node CPU backend's faces on the group photo (boxes and landmarks ${GPU_FACES_TOLERANCE.px} px, scores ${GPU_FACES_TOLERANCE.score})`, async () => {
    await page.selectOption('#backend', spec);
    await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
    const first = await state();
    assert.is(first.error, null);
    // A second pass: steady state, without compilation. On the gpu.js modes a pass takes 5-35 s
    // here (SwiftShader, plain JavaScript), so their second pass runs with RETINAFACE_GPU_FULL=1.
    const again = GPU_FULL || !spec.startsWith('gpujs-');
    if (again) {
      await page.click('#detect');
      await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
    }
    const s = await state();
    assert.is(s.error, null);
    const faces = s.result!.faces.filter((f) => f.score >= VIS);
    const diff = compareFaces(faces, nodeFaces);
    if (diff.failures.length > 0) assert.unreachable(`${spec}: ${diff.failures.slice(0, 6).join('; ')}`);
    assert.ok(s.result!.backend.startsWith(spec), `backend used: ${s.result!.backend}`);
    assert.ok(s.result!.backend.endsWith('(worker)'), `by default the page runs the detector in a Web Worker: ${s.result!.backend}`);
    timings.push(`${spec.padEnd(13)} first ${first.result!.timings.forward!.toFixed(0).padStart(6)} ms, then ${again ? `${s.result!.timings.forward!.toFixed(0).padStart(6)} ms` : '     - (RETINAFACE_GPU_FULL=1)'}` +
      ` (${faces.length} faces, max ${diff.maxPx.toFixed(4)} px, score ${diff.maxScore.toExponential(1)}; ${s.result!.backend})`);
  });
}

test('demo: the score threshold redraws the canvas and the list without a forward pass', async () => {
  await page.selectOption('#backend', 'cpu-simd');
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  const canvasSum = () => page.evaluate(() => {
    const c = document.getElementById('canvas') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s = (s * 31 + d[i]! + 7 * d[i + 1]! + 13 * d[i + 2]!) % 1_000_000_007;
    return s;
  }, null);
  const setThreshold = (v: string) => page.evaluate((value) => {
    const el = document.getElementById('threshold') as HTMLInputElement;
    el.value = value;
    el.dispatchEvent(new Event('input'));
  }, v);
  const listed = () => page.evaluate(() => document.querySelectorAll('#faces li').length, null);
  const before = await state();
  const sum06 = await canvasSum();
  assert.is(await listed(), before.result!.faces.filter((f) => f.score >= 0.6).length);
  await setThreshold('0.95');
  const after = await state();
  assert.is(after.forwards, before.forwards, 'no forward pass');
  assert.is(await listed(), before.result!.faces.filter((f) => f.score >= 0.95).length);
  assert.ok(before.result!.faces.filter((f) => f.score >= 0.95).length < before.result!.faces.filter((f) => f.score >= 0.6).length, 'the photo has faces between 0.6 and 0.95');
  assert.is.not(await canvasSum(), sum06, 'fewer faces drawn');
  await setThreshold('0.6');
  assert.is(await canvasSum(), sum06, 'back to the same drawing');
});

test('demo: the aligned crops of the visible faces are shown under the photo, 112x112, downloadable, as Node\'s alignFace makes them', async () => {
  await page.selectOption('#backend', 'cpu-simd');
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  const crops = await page.evaluate(() => [...document.querySelectorAll<HTMLAnchorElement>('#crops a')].map((a) => {
    const c = a.querySelector('canvas')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const rgb: number[] = [];
    for (let i = 0; i < d.length; i += 4) rgb.push(d[i]!, d[i + 1]!, d[i + 2]!);
    return { download: a.download, width: c.width, height: c.height, rgb };
  }), null);
  assert.is(crops.length, nodeFaces.length, 'one crop per visible face');
  assert.equal(crops.map((c) => c.download), nodeFaces.map((_, k) => `wider_group_${k}.png`));
  // The page decodes the JPEG with jpeg-js as Node does, so the pixels are the same; its faces
  // differ from Node's by < 1e-3 px (cpu-simd against cpu), which can move a warped sample by a
  // level: the issue's bounds for crops (99% within 2 levels, mean <= 0.5) apply.
  const img = decodeImage(readFileSync(sharedImage(GROUP)), GROUP);
  let worstMean = 0, worstWithin = 1;
  crops.forEach((c, k) => {
    assert.equal([c.width, c.height], [112, 112]);
    const want = alignFace(img, nodeFaces[k]!).data;
    let sum = 0, within = 0;
    for (let i = 0; i < want.length; i++) { const d = Math.abs(c.rgb[i]! - want[i]!); sum += d; if (d <= 2) within++; }
    worstMean = Math.max(worstMean, sum / want.length);
    worstWithin = Math.min(worstWithin, within / want.length);
  });
  console.log(`  [demo crops] ${crops.length} crops vs Node's alignFace: worst mean ${worstMean.toFixed(4)}, worst ${(100 * worstWithin).toFixed(2)}% within 2 levels`);
  assert.ok(worstMean <= 0.5 && worstWithin >= 0.99, `mean ${worstMean}, within ${worstWithin}`);
});

test('demo: a screenshot of the drawn result is written for docs/demo/README.md', async () => {
  const file = path.join(demoDir, 'screenshot.png');
  const png = await page.screenshot({ path: file, fullPage: true });
  assert.ok(png.length > 50_000, `${png.length} bytes`);
  assert.equal([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  console.log(`  [demo] screenshot: ${path.relative(path.resolve(demoDir, '../..'), file)} (${(png.length / 1024).toFixed(0)} KB)`);
});

/** Drops a file on the page's drop zone, as a user dragging it from the desktop would. */
async function dropFile(name: string, bytes: Uint8Array): Promise<void> {
  await page.evaluate(([n, b64]) => {
    const bin = atob(b64);
    const data = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
    const dt = new DataTransfer();
    dt.items.add(new File([data], n, { type: 'image/jpeg' }));
    document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [name, Buffer.from(bytes).toString('base64')] as [string, string]);
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
}

test('demo: a bad file dropped on the page shows a readable message and the page keeps working', async () => {
  const group = readFileSync(sharedImage(GROUP));
  const cases: [string, Buffer, RegExp][] = [
    ['notes.jpg', Buffer.from('These are my notes, not a photo.\n'), /^notes\.jpg: cannot be decoded: not a JPEG, and not an image format this browser reads/],
    ['cut.jpg', group.subarray(0, group.length >> 1), /^cut\.jpg: truncated or corrupt JPEG/],
  ];
  for (const [name, buffer, message] of cases) {
    const before = (await state()).forwards;
    await dropFile(name, buffer);
    const s = await state();
    assert.match(s.error ?? '', message, `${name}: ${s.error}`);
    assert.is(s.forwards, before, `${name}: no forward pass`);
    const shown = await page.evaluate(() => document.getElementById('error')!.hidden, null);
    assert.is(shown, false, 'the message is visible');
  }
  await dropFile('group.jpg', group);
  const s = await state();
  assert.is(s.error, null, 'the error is cleared');
  const diff = compareFaces(s.result!.faces.filter((f) => f.score >= VIS), nodeFaces);
  assert.equal(diff.failures, [], 'the next photo is detected as before');
  // and the file picker, the other way in
  await page.setInputFiles('#file', { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: cases[0]![1] });
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  assert.match((await state()).error ?? '', cases[0]![2]);
  assert.equal(consoleErrors, [], 'console errors');
});

test(`demo: the camera runs ${CAMERA.frames} frames on ${CAMERA.backend} with device objects and JS heap flat after ${CAMERA.warmup}, and stops cleanly`, async () => {
  // On the page's own thread ("in a Web Worker" unticked): the device-object counters wrap the
  // page's WebGL and WebGPU calls, which a worker's OffscreenCanvas does not go through.
  await page.click('#in-worker');
  await page.selectOption('#backend', CAMERA.backend);
  await page.selectOption('#camera-size', CAMERA.size);
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  await page.click('#camera-start');
  const measure = async (frames: number): Promise<DeviceObjects & { heap: number; frames: number }> => {
    await page.waitForFunction((n) => (window as unknown as W).demo.camera.frames >= Number(n) || (window as unknown as W).demo.error !== null, String(frames), { timeout: 300_000 });
    await page.evaluate(() => (window as unknown as W).demo.pauseCamera(), null);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = Number((await cdp.send('Runtime.getHeapUsage')).usedSize);
    const objects = await page.evaluate(() => (globalThis as unknown as { __deviceObjects: () => DeviceObjects }).__deviceObjects(), null);
    const n = (await state()).camera.frames;
    await page.evaluate(() => (window as unknown as W).demo.resumeCamera(), null);
    return { ...objects, heap, frames: n };
  };
  const warm = await measure(CAMERA.warmup);
  // The Smooth toggle (what is drawn of the tracker's output) flips while the camera runs.
  assert.is((await state()).camera.smooth, true, 'smoothing is on by default');
  await page.click('#smooth');
  const end = await measure(CAMERA.frames);
  const s = await state();
  assert.is(s.error, null);
  assert.is(s.camera.smooth, false, 'the toggle turned smoothing off');
  assert.ok(s.camera.fps > 0, `frames per second: ${s.camera.fps}`);
  assert.match(s.camera.fpsText ?? '', /^\d+\.\d frames\/s$/, 'frames per second shown');
  assert.ok(Array.isArray(s.camera.ids), 'the tracked faces of the last frame');
  await page.click('#camera-stop');
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  const stopped = await state();
  assert.is(stopped.camera.running, false, 'the loop stopped');
  assert.is(s.camera.liveTracks, 1, 'the camera was streaming');
  assert.is(stopped.camera.liveTracks, 0, 'the camera track is stopped');
  assert.ok(end.frames >= CAMERA.frames, `${end.frames} frames`);
  assert.is(end.textures, warm.textures, `live WebGL textures after frame ${warm.frames} and ${end.frames}`);
  assert.is(end.buffers, warm.buffers, 'live WebGPU buffers');
  assert.ok(end.heap - warm.heap < CAMERA.heapSlackBytes, `JS heap grew by ${((end.heap - warm.heap) / 1024).toFixed(0)} KB over ${end.frames - warm.frames} frames`);
  assert.ok(warm.textures > 0, 'the webgl2 backend holds textures (the count is real)');
  assert.ok(!s.result!.backend.endsWith('(worker)'), `on the page's thread: ${s.result!.backend}`);
  await page.click('#in-worker');
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  console.log(`  [demo camera ${CAMERA.backend} ${CAMERA.size}] frames ${warm.frames} -> ${end.frames}: textures ${warm.textures} -> ${end.textures}, ` +
    `heap ${(warm.heap / 1e6).toFixed(2)} -> ${(end.heap / 1e6).toFixed(2)} MB; last frame ${s.camera.frameMs.toFixed(0)} ms, ${s.camera.fpsText}`);
  assert.equal(consoleErrors, [], 'console errors');
});

test('demo: gpujs-webasm runs the camera after a still photo of another size (the photo\'s kernels, and their WebAssembly memories, are let go)', async () => {
  // a small photo (a 200x136 crop of the group photo): gpu.js WebAssembly on the whole 1024x624 photo
  // takes a minute in Chromium here, and any size other than the camera's makes the point
  const group = decodeImage(readFileSync(sharedImage(GROUP)), GROUP);
  const crop = { width: 200, height: 136, data: new Uint8Array(200 * 136 * 3) };
  for (let y = 0; y < 136; y++) crop.data.set(group.data.subarray(3 * ((150 + y) * group.width + 400), 3 * ((150 + y) * group.width + 600)), 3 * 200 * y);
  await dropFile('crop.png', encodeImage(crop, 'png'));
  await page.selectOption('#backend', 'gpujs-webasm');
  await page.selectOption('#camera-size', '160x120');
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  const still = await state();
  assert.is(still.error, null);
  assert.is(still.result!.width, 200, 'the photo ran first');
  assert.is(still.result!.backend.startsWith('gpujs-webasm'), true, still.result!.backend);
  await page.click('#camera-start');
  await page.waitForFunction(() => (window as unknown as W).demo.camera.frames >= 3 || (window as unknown as W).demo.error !== null, '', { timeout: 120_000 });
  const s = await state();
  await page.click('#camera-stop');
  await page.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
  assert.is(s.error, null);
  assert.ok(s.camera.frames >= 3, `${s.camera.frames} frames`);
});

test('demo: from a static host without COOP/COEP headers the page still detects, cpu-simd on one thread', async () => {
  const plain = await serveStatic(demoDir, { allowed: [''], index: 'index.html', isolate: false });
  const p = await browser!.newPage();
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message ?? ''));
  try {
    await p.goto(`${plain.url}/`);
    await p.waitForFunction(() => (window as unknown as Partial<W>).demo?.ready === true, '', { timeout: 120_000 });
    await p.evaluate(() => (window as unknown as W).demo.whenIdle(), null);
    const s = await p.evaluate(() => { const d = (window as unknown as W).demo; return { result: d.result, error: d.error, backends: d.backends }; }, null);
    assert.is(s.error, null);
    assert.is(s.result!.backend, 'cpu-simd, 1 thread (worker)');
    assert.match(s.backends.find((b) => b.spec === 'cpu-simd')!.reason, /1 thread: the page is not cross-origin isolated/);
    const diff = compareFaces(s.result!.faces.filter((f) => f.score >= VIS), nodeFaces);
    assert.equal(diff.failures, []);
    assert.equal(errors, []);
  } finally {
    await p.close();
    await plain.close();
  }
});

test('demo: the README\'s minimal page (docs/demo/minimal.html) runs on the bundle and finds the Node faces', async () => {
  const html = readFileSync(path.join(demoDir, 'minimal.html'), 'utf8');
  const script = /<script type="module">[\s\S]*?<\/script>/.exec(html)![0];
  assert.ok(readFileSync(path.join(demoDir, '..', '..', 'README.md'), 'utf8').includes(script), 'the README shows the page\'s script verbatim');
  const p = await browser!.newPage();
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message ?? ''));
  p.on('console', (m) => { if (m.type?.() === 'error') errors.push(m.text?.() ?? ''); });
  try {
    await p.goto(`${server!.url}/minimal.html`);
    await p.waitForFunction(() => /faces in/.test(document.getElementById('out')!.textContent ?? ''), '', { timeout: 120_000 });
    const text = await p.evaluate(() => document.getElementById('out')!.textContent!, null);
    const lines = text.split('\n');
    assert.match(lines[0]!, new RegExp(`^${nodeFaces.length} faces in \\d+ ms on cpu-simd$`), 'the visible faces, on the default backend (auto: cpu-simd)');
    // The page prints scores to 3 decimals and boxes to whole pixels: the bounds plus half a printed unit.
    const printed = lines.slice(1).map((l) => l.match(/-?[\d.]+/g)!.map(Number));
    assert.is(printed.length, nodeFaces.length);
    nodeFaces.forEach((f, i) => {
      const [score, ...box] = printed[i]!;
      assert.ok(Math.abs(score! - f.score) <= GPU_FACES_TOLERANCE.score + 5e-4, `face ${i}: score ${score} vs ${f.score}`);
      box.forEach((v, j) => assert.ok(Math.abs(v - f.box[j]!) <= GPU_FACES_TOLERANCE.px + 0.5, `face ${i}: box ${box} vs ${f.box}`));
    });
    assert.equal(errors, []);
  } finally {
    await p.close();
  }
});

test.run();
