// The architecture explorer (docs/explore/index.html): one photo through the network with every
// module observed, browsed by PyTorch module path. Per module: the output shape, MACs,
// parameters, stride and receptive field from the network's trace (src/model/anatomy.ts), its
// time on the chosen backend (module reports stamped during untapped passes, median of
// TIMED_PASSES), its values' statistics and its channels as heatmaps on one colour scale
// (activations.ts). The heads view: the anchors of each level over the photo, and a face's
// decode step by step (heads.ts).
//
// Memory stays bounded: the observed outputs are read in passes of at most TAP_BUDGET_BYTES,
// each reduced to statistics and 8-bit maps, then dropped; only the reductions are kept.
//
// window.explore exposes the state for the Chromium test (test/explore.test.ts).
import * as lib from '../../src/browser.js';
import type { Arch, BackendSpec, Face, RetinaFaceDetector, Tensor } from '../../src/browser.js';
import { anatomy, attribute, stamper, type Anatomy, type ModuleAnatomy } from '../../src/model/anatomy.js';
import { RetinaFace } from '../../src/model/retinaface.js';
import { toNetworkInput } from '../../src/image/preprocess.js';
import { proposals, resolveDetectOptions, suppress, type Proposals } from '../../src/detect/postprocess.js';
import { nms } from '../../src/detect/nms.js';
import type { RgbImage } from '../../src/image/image.js';
import { quantize, scaleOf, stats, type Maps, type Stats } from './activations.js';
import { showModule, renderTree, type ModuleView } from './modules_view.js';
import { chooseFace, renderHeads, shownDecode, type HeadsRun } from './heads_view.js';
import type { DemoAssets as Assets } from '../demo/build.js';

/** Float bytes of observed outputs read back per pass at most (`?tap_mb=N` sets another). */
const TAP_BUDGET_BYTES = (Number(new URLSearchParams(location.search).get('tap_mb')) || 64) * 1024 * 1024;
/** Untapped passes timed per run (each module's time is the median). */
const TIMED_PASSES = 3;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`explorer: #${id} is missing from index.html`);
  return el as T;
};
const ui = {
  file: $<HTMLInputElement>('file'), sample: $<HTMLSelectElement>('sample'), arch: $<HTMLSelectElement>('arch'),
  backend: $<HTMLSelectElement>('backend'), run: $<HTMLButtonElement>('run'), progress: $<HTMLProgressElement>('progress'),
  status: $<HTMLParagraphElement>('status'), error: $<HTMLParagraphElement>('error'),
  tabModules: $<HTMLButtonElement>('tab-modules'), tabHeads: $<HTMLButtonElement>('tab-heads'),
  modulesView: $<HTMLElement>('modules-view'), headsView: $<HTMLElement>('heads-view'),
};

/** A finished run: what the views show. */
export interface ExploreRun {
  arch: Arch;
  backend: string;
  image: RgbImage;
  name: string;
  anatomy: Anatomy;
  views: Map<string, ModuleView>;
  heads: HeadsRun;
  forwardMs: number;
  passes: number;
}

let assets: Assets = { weights: [], missing: {}, samples: [] };
let detector: { key: string; d: RetinaFaceDetector } | null = null;
let image: { bytes: Uint8Array; name: string } | null = null;
let current: ExploreRun | null = null;
let busy: Promise<void> = Promise.resolve();
let selected: string | null = null;

const api = {
  ready: false,
  error: null as string | null,
  runs: 0,
  /** the last run: arch, backend, image size, module count, passes */
  summary: null as null | { arch: string; backend: string; width: number; height: number; modules: number; passes: number; faces: number; keptBytes: number; floatBytes: number; passBytes: number[]; budgetBytes: number },
  whenIdle: () => busy,
  /** A module of the last run as shown: shape, statistics (of the float values), time. */
  module(path: string) {
    const v = current?.views.get(path);
    return v === undefined ? null : { shape: v.info.shape, stats: v.stats, ms: v.ms, macs: v.info.macs, params: v.info.params, geometry: v.info.geometry ?? null, maps: v.maps === null ? null : { channels: v.maps.channels, factor: v.maps.factor } };
  },
  selected: () => selected,
  /** The heads view's decode of the chosen face (chooseFace(i) picks another). */
  decode: () => shownDecode,
  chooseFace: (i: number) => chooseFace(i),
  faces: () => current?.heads.faces.map((f) => ({ score: f.face.score, box: f.face.box, landmarks: f.face.landmarks, anchor: f.anchor })) ?? [],
};
(window as unknown as { explore: typeof api }).explore = api;

function status(text: string): void {
  ui.status.textContent = text;
}
function showError(e: unknown): void {
  const message = e instanceof lib.RetinaFaceError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  api.error = message.split('\n')[0]!;
  ui.error.textContent = api.error;
  ui.error.hidden = false;
  status('Stopped on an error (below); the page still works: pick another photo, arch or backend.');
}

/** One task at a time; errors shown, never thrown to an event handler. */
function serial(task: () => Promise<void>): Promise<void> {
  busy = busy.then(async () => {
    ui.run.disabled = true;
    ui.error.hidden = true;
    api.error = null;
    try {
      await task();
    } catch (e) {
      showError(e);
    } finally {
      ui.run.disabled = false;
      ui.progress.hidden = true;
    }
  });
  return busy;
}

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

async function currentDetector(): Promise<RetinaFaceDetector> {
  const arch = ui.arch.value as Arch;
  const backend = ui.backend.value as BackendSpec;
  const entry = assets.weights.find((w) => w.arch === arch);
  if (entry === undefined) throw new lib.RetinaFaceError(assets.missing[arch] ?? `no ${arch} weights on this page (npm run demo converts them)`, { code: 'ENOWEIGHTS' });
  const key = `${entry.url}|${backend}`;
  if (detector?.key === key) return detector.d;
  detector?.d.dispose();
  detector = null;
  status(`Loading ${arch} weights onto ${backend}…`);
  const d = await lib.loadDetector(new URL(`../demo/${entry.url}`, location.href).href, { backend, sha256: entry.sha256 });
  detector = { key, d };
  return d;
}

const isJpegOrPng = (b: Uint8Array) => (b[0] === 0xff && b[1] === 0xd8) || (b[0] === 0x89 && b[1] === 0x50);

/** The image as the detector decodes it: JPEG and PNG by the library (the Node build's pixels), others by the browser. */
async function decodeShown(d: RetinaFaceDetector, bytes: Uint8Array, name: string): Promise<RgbImage> {
  if (isJpegOrPng(bytes)) return d.decode(bytes, {}, name);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)]));
  } catch {
    throw new lib.RetinaFaceError(`cannot be decoded: not an image format this browser reads (${bytes.length} bytes)`, { file: name, code: 'EFORMAT' });
  }
  try {
    return d.decode(bitmap, {}, name);
  } finally {
    bitmap.close();
  }
}

/** The level map (rows, columns) each head's rows tile: ClassHead.k, BboxHead.k, LandmarkHead.k read ssh(k+1). */
function headCells(a: Anatomy, path: string): { height: number; width: number } | undefined {
  const m = /^(?:ClassHead|BboxHead|LandmarkHead)\.(\d)$/.exec(path);
  if (m === null) return undefined;
  const ssh = a.modules.find((x) => x.path === `ssh${Number(m[1]) + 1}`);
  return ssh === undefined ? undefined : { height: ssh.shape[1]!, width: ssh.shape[2]! };
}

/** Observed outputs in passes of at most TAP_BUDGET_BYTES, each reduced as it arrives. */
async function observe(d: RetinaFaceDetector, input: Tensor, a: Anatomy, onPass: (done: number, of: number) => void): Promise<{ reduced: Map<string, { stats: Stats; maps: Maps | null }>; passBytes: number[] }> {
  const windows: string[][] = [[]];
  const passBytes = [0];
  let bytes = 0;
  for (const m of a.modules) {
    const b = 4 * m.shape.reduce((x, y) => x * y, 1);
    if (windows.at(-1)!.length > 0 && bytes + b > TAP_BUDGET_BYTES) {
      windows.push([]);
      passBytes.push(0);
      bytes = 0;
    }
    windows.at(-1)!.push(m.path);
    bytes += b;
    passBytes[passBytes.length - 1] = bytes;
  }
  const reduced = new Map<string, { stats: Stats; maps: Maps | null }>();
  for (const [k, paths] of windows.entries()) {
    const out = await d.forward(input, paths);
    for (const p of paths) {
      const t = out.taps.get(p)!;
      const s = stats(t);
      const cells = headCells(a, p);
      const maps = t.shape.length === 3 || cells !== undefined ? quantize(t, scaleOf(s), cells) : null;
      reduced.set(p, { stats: s, maps });
      out.taps.delete(p);
    }
    onPass(k + 1, windows.length);
    await frame();
  }
  return { reduced, passBytes };
}

/** Each module's time: module reports stamped during TIMED_PASSES untapped passes, the median of each. */
async function timeModules(d: RetinaFaceDetector, input: Tensor): Promise<{ own: Map<string, number>; total: Map<string, number>; forward: number }> {
  const owns = new Map<string, number[]>(), totals = new Map<string, number[]>(), forwards: number[] = [];
  for (let i = 0; i < TIMED_PASSES; i++) {
    const s = stamper(() => performance.now(), false);
    await d.forward(input, s.selection);
    forwards.push(performance.now() - s.start);
    for (const [p, v] of attribute(s.stamps, s.start)) {
      owns.set(p, [...(owns.get(p) ?? []), v.own]);
      totals.set(p, [...(totals.get(p) ?? []), v.total]);
    }
    await frame();
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const med = (m: Map<string, number[]>) => new Map([...m].map(([k, v]) => [k, median(v)]));
  return { own: med(owns), total: med(totals), forward: median(forwards) };
}

async function runNow(): Promise<void> {
  if (image === null) throw new lib.RetinaFaceError('no photo: pick one, or a sample', { code: 'EINPUT' });
  const d = await currentDetector();
  const img = await decodeShown(d, image.bytes, image.name);
  const input = toNetworkInput(img);
  const arch = d.arch;
  status(`Tracing ${arch} at ${img.width}x${img.height}…`);
  const a = await anatomy(new RetinaFace(arch), img.height, img.width);
  ui.progress.hidden = false;
  ui.progress.value = 0;
  status(`Running ${arch} on ${d.backendName}: warm-up pass…`);
  const raw = await d.forward(input);
  status(`Timing ${TIMED_PASSES} passes…`);
  const times = await timeModules(d, input);
  ui.progress.value = 0.3;
  status('Observing every module…');
  const { reduced, passBytes } = await observe(d, input, a, (k, of) => { ui.progress.value = 0.3 + 0.7 * (k / of); status(`Observing every module: pass ${k} of ${of}…`); });
  const passes = passBytes.length;
  const views = new Map<string, ModuleView>();
  for (const m of a.modules) {
    const r = reduced.get(m.path)!;
    views.set(m.path, { info: m, stats: r.stats, maps: r.maps, ms: { own: times.own.get(m.path) ?? NaN, total: times.total.get(m.path) ?? NaN } });
  }
  // The reference's post-processing, kept apart so that each face keeps its anchor.
  const o = resolveDetectOptions({});
  const p: Proposals = proposals(raw.loc, raw.conf, raw.landms, { height: img.height, width: img.width }, o);
  const keep = nms(p.boxes, p.scores, o.nmsThreshold, o.keepTopK);
  const all: Face[] = suppress(p, o);
  const heads: HeadsRun = {
    raw, proposals: p, keep, width: img.width, height: img.height, image: img,
    faces: all.map((face, i) => ({ face, anchor: p.anchors![keep[i]!]!, candidate: keep[i]! })).filter((f) => f.face.score >= Math.fround(o.visThreshold)),
  };
  current = { arch, backend: d.backendName, image: img, name: image.name, anatomy: a, views, heads, forwardMs: times.forward, passes };
  api.runs++;
  api.summary = {
    arch, backend: d.backendName, width: img.width, height: img.height, modules: a.modules.length, passes, faces: heads.faces.length,
    keptBytes: [...views.values()].reduce((n, v) => n + (v.maps?.bytes.length ?? 0), 0),
    floatBytes: a.modules.reduce((n, m) => n + 4 * m.shape.reduce((x, y) => x * y, 1), 0), passBytes, budgetBytes: TAP_BUDGET_BYTES,
  };
  const gpu = d.backendName.startsWith('gpujs') ? ' gpu.js queues work on the GPU, so a module\'s time is mostly its launch; the forward total includes the wait.' : '';
  status(`${arch} on ${d.backendName}, ${img.width}x${img.height}: forward ${times.forward.toFixed(1)} ms (median of ${TIMED_PASSES}), ` +
    `${a.modules.length} module outputs observed in ${passes} pass${passes === 1 ? '' : 'es'}, ${heads.faces.length} faces at score >= ${o.visThreshold}.${gpu}`);
  renderTree(current, select);
  select(selected !== null && views.has(selected) ? selected : a.modules[0]!.path);
  renderHeads(current.heads);
}

function select(path: string): void {
  if (current === null) return;
  const v = current.views.get(path);
  if (v === undefined) return;
  selected = path;
  showModule(current, v);
}

function showTab(heads: boolean): void {
  ui.modulesView.hidden = heads;
  ui.headsView.hidden = !heads;
  ui.tabModules.setAttribute('aria-selected', String(!heads));
  ui.tabHeads.setAttribute('aria-selected', String(heads));
}

async function openSample(url: string): Promise<void> {
  const r = await fetch(new URL(`../demo/${url}`, location.href));
  if (!r.ok) throw new lib.RetinaFaceError(`HTTP ${r.status}`, { file: url, code: 'EFETCH' });
  image = { bytes: new Uint8Array(await r.arrayBuffer()), name: url.split('/').pop()! };
}

async function init(): Promise<void> {
  const r = await fetch('../demo/assets.json');
  if (!r.ok) throw new lib.RetinaFaceError('../demo/assets.json is missing: run `npm run demo` (or `npm run demo -- --build-only`) to build the pages', { code: 'EFETCH' });
  assets = await r.json() as Assets;
  ui.arch.replaceChildren(...(['mobile0.25', 'resnet50'] as const).map((arch) => {
    const o = document.createElement('option');
    o.value = arch;
    o.textContent = arch === 'mobile0.25' ? 'MobileNet-0.25' : 'ResNet-50';
    o.disabled = !assets.weights.some((w) => w.arch === arch);
    o.title = assets.missing[arch] ?? '';
    return o;
  }));
  ui.sample.replaceChildren(...assets.samples.map((s) => {
    const o = document.createElement('option');
    o.value = s;
    o.textContent = s.split('/').pop()!;
    return o;
  }));
  const params = new URLSearchParams(location.search);
  const wanted = params.get('sample');
  const pick = assets.samples.find((s) => s.endsWith(`/${wanted}`)) ?? assets.samples.find((s) => s.includes('group')) ?? assets.samples[0];
  if (pick !== undefined) ui.sample.value = pick;
  const availability = await lib.probeBackends();
  ui.backend.replaceChildren(...availability.map((b) => {
    const o = document.createElement('option');
    o.value = b.spec;
    o.textContent = b.ok ? b.spec : `${b.spec} (not here)`;
    o.disabled = !b.ok;
    o.title = b.reason;
    return o;
  }));
  if (params.get('backend') !== null) ui.backend.value = params.get('backend')!;
  ui.tabModules.addEventListener('click', () => showTab(false));
  ui.tabHeads.addEventListener('click', () => showTab(true));
  ui.run.addEventListener('click', () => void serial(runNow));
  ui.sample.addEventListener('change', () => void serial(async () => { await openSample(ui.sample.value); await runNow(); }));
  ui.file.addEventListener('change', () => {
    const f = ui.file.files?.[0];
    if (f !== undefined) void serial(async () => { image = { bytes: new Uint8Array(await f.arrayBuffer()), name: f.name }; await runNow(); });
  });
  for (const el of [ui.arch, ui.backend]) el.addEventListener('change', () => void serial(runNow));
  if (pick !== undefined) await openSample(pick);
  status(pick === undefined ? 'No samples on this page: pick a photo.' : 'Ready: press Run (or pick another photo).');
  if (params.get('run') !== '0' && pick !== undefined) await runNow();
}

void serial(init).then(() => { api.ready = true; });
