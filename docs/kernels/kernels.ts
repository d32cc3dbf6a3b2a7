// The kernel benchmark page (docs/kernels/index.html): the kernel suite of `npm run bench`
// (bench/kernel_suite.ts, the one case list: every distinct convolution shape of both archs,
// upsample + add, concat, softmax; each case checked against the naive loops before it is timed)
// and the forward pass, in this browser, on every backend it has, within the user's time budget.
// GFLOP/s per convolution and forward ms per resolution are drawn live with the report's chart
// (bench/chart.ts); the run downloads as JSON in bench/results' schema (serializeRun), the machine
// described from what the browser reports, which `node dist/bench/report.js run.json --out DIR`
// renders like docs/benchmarks.md.
//
// The forward pass is timed as the Node bench times its forward stage (bench/e2e_worker.ts): the
// input already on the backend, the three outputs read back; the weights are random and seeded
// (src/harness/weights.ts, as bench/e2e.ts), and each backend is first checked on a 160x123 input
// against the naive CPU backend with the end-to-end tolerance.
//
// Bundled whole by docs/demo/build.ts buildPage('kernels') into lib/kernels.js, with cpu-simd's
// worker and gpu.js's browser build beside it. window.kernels exposes the state for the Chromium
// test (test/kernels_page.test.ts): ready, running, progress, run(options) (resolves when the run
// ends), stop(), result() and json().
import type { BackendSpec } from '../../src/backend.js';
import { BROWSER_BACKENDS, probeBackends, type BackendAvailability } from '../../src/backends/availability.js';
import { CpuBackend } from '../../src/backends/cpu.js';
import { createBackend } from '../../src/backends/index.js';
import { RetinaFaceError } from '../../src/errors.js';
import { compareTensors } from '../../src/harness/compare.js';
import type { ToleranceKey } from '../../src/harness/tolerances.js';
import { fillRandomWeights, syntheticInput } from '../../src/harness/weights.js';
import { ARCHS, type Arch } from '../../src/model/config.js';
import { buildRetinaFace, type RetinaFace } from '../../src/model/retinaface.js';
import { runNetwork, runUploaded, uploadInput, type NetworkOutput } from '../../src/model/run.js';
import { svgChart, type Series } from '../../bench/chart.js';
import { BUDGETS, CHECK_SIZE, E2E_TOLERANCE, SEED, megapixels, resolutionName, type Budget, type Resolution } from '../../bench/config.js';
import { countCells, runKernelCases, type SuiteBackend } from '../../bench/kernel_suite.js';
import { CHECK_REPEAT_MS } from '../../bench/protocol.js';
import { recordCheck, SCHEMA_VERSION, serializeRun, type Check, type E2EResult, type KernelResult, type Machine, type Participant, type RunResult } from '../../bench/results.js';
import { networkMacs } from '../../bench/shapes.js';
import { sampleBatched, summarize } from '../../bench/stats.js';

/** The sizes offered (WIDTHxHEIGHT), the ticked ones first: small, so that a first run on a laptop ends in a couple of minutes. */
const OFFERED_RESOLUTIONS = ['160x120', '320x240', '640x480', '640x640', '1280x720', '1920x1080', '2048x1150'] as const;
const DEFAULT_RESOLUTIONS: readonly string[] = ['320x240', '640x640'];
/** gpu.js's webasm and cpu modes are offered unticked: reference paths, slow on every machine. */
const DEFAULT_OFF: readonly BackendSpec[] = ['gpujs-webasm', 'gpujs-cpu'];
/** The kernels' share of the time budget when forward passes are asked for too (the Node bench: 800 s and 800 s). */
const KERNEL_SHARE = 0.6;
/** The per-case budget of `npm run bench` (--full): samples, seconds per case, the cap on one call, the checked channels. */
const CASE_BUDGET = BUDGETS.full;
/** Below this many MACs at the check size the naive CPU backend is the forward pass's reference, else cpu-fast (as bench/e2e.ts). */
const NAIVE_REFERENCE_MACS = 2e8;
const FORWARD_ONLY = 'decode, preprocess, postprocess: the kernel page times the forward pass only';

/** What a run is asked to do: the form's fields, or the test's options. */
export interface PageRunOptions {
  /** WIDTHxHEIGHT */
  resolutions: string[];
  backends: BackendSpec[];
  /** cpu-simd's worker threads */
  threads: number;
  /** the networks whose forward pass is timed after the kernels ([]: kernels only) */
  archs: Arch[];
  /** the time budget of the whole run */
  seconds: number;
  /** a regular expression on the case ids ('': every case) */
  filter: string;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`kernels: #${id} is missing from index.html`);
  return el as T;
};
const ui = {
  resolutions: $<HTMLDivElement>('resolutions'), more: $<HTMLInputElement>('more-resolutions'),
  backends: $<HTMLDivElement>('backends'), threads: $<HTMLInputElement>('threads'), threadsNote: $<HTMLSpanElement>('threads-note'),
  seconds: $<HTMLInputElement>('seconds'), filter: $<HTMLInputElement>('filter'),
  start: $<HTMLButtonElement>('start'), stop: $<HTMLButtonElement>('stop'), download: $<HTMLButtonElement>('download'),
  progress: $<HTMLProgressElement>('progress'), status: $<HTMLSpanElement>('status'), error: $<HTMLParagraphElement>('error'),
  chartKernels: $<HTMLDivElement>('chart-kernels'), chartForward: $<HTMLDivElement>('chart-forward'),
  kernelTable: $<HTMLTableElement>('kernel-table'), kernelRows: $<HTMLTableElement>('kernel-table').tBodies[0]!,
  showSkipped: $<HTMLInputElement>('show-skipped'), skippedSummary: $<HTMLSpanElement>('skipped-summary'), forwardRows: $<HTMLTableElement>('forward-table').tBodies[0]!,
  machineRows: $<HTMLTableSectionElement>('machine-rows'),
};
const archBox = (arch: Arch) => $<HTMLInputElement>(`arch-${arch}`);

// ---- state ---------------------------------------------------------------------------------
let available: BackendAvailability[] = [];
let machine: Machine | null = null;
const versions: Record<string, string> = {};
let run: RunResult | null = null;
let running: Promise<void> | null = null;
let stopRequested = false;
const cells = { done: 0, total: 0 };

/** cpu-simd's most threads here: every core when the page may share memory with its workers, else one. */
const maxThreads = (): number => (globalThis.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1);

// ---- messages ------------------------------------------------------------------------------
function status(text: string): void {
  ui.status.textContent = text;
}
/** A form field the run cannot use: its message names the field and what it expects. */
class FieldError extends Error {}

function showError(e: unknown): void {
  const message = e instanceof RetinaFaceError || e instanceof FieldError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  ui.error.textContent = message.split('\n')[0]!;
  ui.error.hidden = false;
}
function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}
const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0]!;

// ---- the form ------------------------------------------------------------------------------
function checkbox(parent: HTMLElement, id: string, text: string, checked: boolean, disabled = false, title = ''): HTMLInputElement {
  const label = document.createElement('label');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = id;
  box.checked = checked && !disabled;
  box.disabled = disabled;
  label.append(box, ` ${text}`);
  if (title !== '') label.title = title;
  if (disabled) label.classList.add('unavailable');
  parent.append(label);
  return box;
}

function parseResolution(s: string, field: string): Resolution {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (m === null || Number(m[1]) < 32 || Number(m[2]) < 32) throw new FieldError(`${field}: ${JSON.stringify(s)} is not WIDTHxHEIGHT with both at least 32`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** The form's fields as options; every error names the field and what it expects. */
function readForm(): PageRunOptions {
  const resolutions = OFFERED_RESOLUTIONS.filter((r) => $<HTMLInputElement>(`res-${r}`).checked) as string[];
  for (const r of ui.more.value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    parseResolution(r, 'More resolutions');
    if (!resolutions.includes(r)) resolutions.push(r);
  }
  const backends = available.filter((a) => a.ok && $<HTMLInputElement>(`be-${a.spec}`).checked).map((a) => a.spec);
  const threads = Number(ui.threads.value);
  if (!Number.isInteger(threads) || threads < 1 || threads > maxThreads()) throw new FieldError(`cpu-simd threads: ${ui.threads.value} is not a whole number from 1 to ${maxThreads()}`);
  const seconds = Number(ui.seconds.value);
  if (!(seconds >= 5)) throw new FieldError(`Time budget: ${ui.seconds.value} is not a number of seconds, at least 5`);
  return { resolutions, backends, threads, archs: ARCHS.filter((a) => archBox(a).checked), seconds, filter: ui.filter.value };
}

/** Options into the form (what window.kernels.run(options) does before it starts, so a run is always the form's). */
function writeForm(o: Partial<PageRunOptions>): void {
  if (o.resolutions !== undefined) {
    for (const r of OFFERED_RESOLUTIONS) $<HTMLInputElement>(`res-${r}`).checked = o.resolutions.includes(r);
    ui.more.value = o.resolutions.filter((r) => !(OFFERED_RESOLUTIONS as readonly string[]).includes(r)).join(', ');
  }
  if (o.backends !== undefined) {
    for (const spec of o.backends) {
      const a = available.find((x) => x.spec === spec);
      if (a === undefined || !a.ok) throw new FieldError(`Backends: ${spec} is not available in this browser${a !== undefined ? `: ${a.reason}` : ''}`);
    }
    for (const a of available) if (a.ok) $<HTMLInputElement>(`be-${a.spec}`).checked = o.backends.includes(a.spec);
  }
  if (o.threads !== undefined) ui.threads.value = String(o.threads);
  if (o.archs !== undefined) for (const a of ARCHS) archBox(a).checked = o.archs.includes(a);
  if (o.seconds !== undefined) ui.seconds.value = String(o.seconds);
  if (o.filter !== undefined) ui.filter.value = o.filter;
}

// ---- the machine, as the browser describes it ------------------------------------------------
interface WebGpuAdapterInfo { vendor?: string; architecture?: string; device?: string; description?: string }
interface WebGpuAdapter { info?: WebGpuAdapterInfo; requestAdapterInfo?(): Promise<WebGpuAdapterInfo> }
type WebGpuNavigator = Navigator & { gpu?: { requestAdapter(): Promise<WebGpuAdapter | null> }; deviceMemory?: number; userAgentData?: { platform?: string; brands?: { brand: string; version: string }[] } };

/** The WebGL renderer: the unmasked one (WEBGL_debug_renderer_info) where the browser gives it, else RENDERER. */
function webglRenderer(): string | undefined {
  const canvas = document.createElement('canvas');
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
  if (gl === null) return undefined;
  try {
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    return String(debug !== null ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  } finally {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

/** The WebGPU adapter's vendor, architecture, device and description (adapter.info, or requestAdapterInfo() in older browsers). */
async function webgpuAdapter(): Promise<string | undefined> {
  const gpu = (navigator as WebGpuNavigator).gpu;
  if (gpu === undefined) return undefined;
  try {
    const adapter = await gpu.requestAdapter();
    if (adapter === null) return 'no adapter';
    const info = adapter.info ?? await adapter.requestAdapterInfo?.();
    const text = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s !== undefined && s !== '').join(', ');
    return text === '' ? 'an adapter that describes nothing' : text;
  } catch (e) {
    return `error: ${firstLine(e)}`;
  }
}

async function describeMachine(): Promise<Machine> {
  const nav = navigator as WebGpuNavigator;
  const m: Machine = {
    cpu: 'not reported by browsers',
    cores: navigator.hardwareConcurrency || 1,
    os: nav.userAgentData?.platform || navigator.platform || 'unknown',
    browser: navigator.userAgent,
  };
  if (typeof nav.deviceMemory === 'number') m.memoryGB = nav.deviceMemory;
  const gl = webglRenderer();
  if (gl !== undefined) m.webgl = gl;
  const gpu = await webgpuAdapter();
  if (gpu !== undefined) m.webgpu = gpu;
  return m;
}

/** gpu.js's version, from the header of its browser build beside this script (absent when it cannot be read). */
async function gpujsVersion(): Promise<string | undefined> {
  try {
    const r = await fetch(new URL('./gpu-browser.min.js', import.meta.url));
    if (!r.ok) return undefined;
    return /@version\s+(\S+)/.exec((await r.text()).slice(0, 1000))?.[1];
  } catch {
    return undefined;
  }
}

function showMachine(m: Machine): void {
  const rows: [string, string][] = [['cores', String(m.cores)], ['memory', m.memoryGB !== undefined ? `${m.memoryGB} GB (navigator.deviceMemory)` : 'not reported'],
    ['OS', m.os], ['browser', m.browser ?? ''], ['WebGL renderer', m.webgl ?? 'no WebGL'], ['WebGPU adapter', m.webgpu ?? 'no WebGPU'],
    ['cross-origin isolated', String(globalThis.crossOriginIsolated === true)], ...Object.entries(versions)];
  ui.machineRows.replaceChildren(...rows.map(([k, v]) => row([k, v])));
}

// ---- tables and charts ---------------------------------------------------------------------
function row(cellsText: string[], cls = '', numericFrom = Infinity): HTMLTableRowElement {
  const tr = document.createElement('tr');
  if (cls !== '') tr.className = cls;
  cellsText.forEach((text, i) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (i >= numericFrom) td.className = 'num';
    tr.append(td);
  });
  return tr;
}

const fmtMs = (ms: number | undefined): string =>
  ms === undefined || Number.isNaN(ms) ? '' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
const fmtCheck = (c: Check | undefined): string => (c === undefined ? '' : `${c.ok ? 'ok' : 'FAILED'} (${c.maxAbsError.toExponential(1)})`);

function kernelRow(r: KernelResult): HTMLTableRowElement {
  if (r.skipped !== undefined) {
    // A cell that ran and failed its check (or threw) is shown; one skipped before it ran only on request.
    const ran = r.check !== undefined || r.skipped.startsWith('error:');
    const tr = row([r.resolution, r.backend, r.id, fmtCheck(r.check), `skipped: ${r.skipped}`, '', ''], r.check?.ok === false ? 'failed' : ran ? '' : 'skipped');
    tr.cells[4]!.colSpan = 3;
    tr.cells[6]!.remove();
    tr.cells[5]!.remove();
    return tr;
  }
  const t = r.timing!;
  const rate = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '';
  return row([r.resolution, r.backend, r.id, fmtCheck(r.check), fmtMs(t.samples > 0 ? t.medianMs : t.firstMs), rate, fmtMs(t.firstMs)], '', 4);
}

function forwardRow(r: E2EResult): HTMLTableRowElement {
  if (r.skipped !== undefined) {
    const tr = row([r.arch, r.resolution, r.contestant, fmtCheck(r.check), `skipped: ${r.skipped}`, '', ''], r.check?.ok === false ? 'failed' : 'skipped');
    tr.cells[4]!.colSpan = 3;
    tr.cells[6]!.remove();
    tr.cells[5]!.remove();
    return tr;
  }
  const f = r.stages.forward!;
  const ms = f.samples > 0 ? f.medianMs : f.firstMs;
  return row([r.arch, r.resolution, r.contestant, fmtCheck(r.check), fmtMs(ms), fmtMs(f.firstMs), (2 * r.macs / (ms * 1e6)).toFixed(2)], '', 4);
}

/** An SVG of bench/chart.ts into `div`, given a viewBox so that it scales to the column's width. */
function showChart(div: HTMLElement, svg: string): void {
  div.innerHTML = svg;
  const el = div.querySelector('svg');
  if (el !== null) el.setAttribute('viewBox', `0 0 ${el.getAttribute('width')} ${el.getAttribute('height')}`);
}

/** Both charts from the run so far. */
function drawCharts(): void {
  const r = run;
  const conv = r?.kernels.filter((k) => k.op === 'conv' && k.gflops !== undefined) ?? [];
  const kernelSeries: Series[] = [...new Set(conv.map((k) => k.backend))].map((b) => ({
    name: b, points: conv.filter((k) => k.backend === b).map((k) => [k.macs!, k.gflops!] as [number, number]),
  }));
  showChart(ui.chartKernels, svgChart({ title: 'Convolution GFLOP/s per shape and resolution (x: its MACs)', xLabel: 'multiply-accumulates of the shape', yLabel: 'GFLOP/s', series: kernelSeries, lines: false }));
  const fwd = r?.e2e.filter((e) => e.skipped === undefined && e.stages.forward !== undefined) ?? [];
  const fwdSeries: Series[] = [...new Set(fwd.map((e) => `${e.contestant} ${e.arch}`))].map((name) => ({
    name, points: fwd.filter((e) => `${e.contestant} ${e.arch}` === name).map((e) => [e.megapixels, e.stages.forward!.samples > 0 ? e.stages.forward!.medianMs : e.stages.forward!.firstMs] as [number, number]),
  }));
  showChart(ui.chartForward, svgChart({ title: 'Forward pass, ms vs megapixels (log-log)', xLabel: 'megapixels', yLabel: 'ms', series: fwdSeries }));
}

/** Cells skipped before they ran (deadline, cap, stopped), by reason: the table hides them unless asked. */
function summarizeSkipped(): void {
  const reasons = new Map<string, number>();
  for (const k of run?.kernels ?? []) {
    if (k.skipped === undefined || k.check !== undefined || k.skipped.startsWith('error:')) continue;
    const why = k.skipped.replace(/predicted [\d.]+ s/, 'predicted time');
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  ui.skippedSummary.textContent = [...reasons].map(([why, n]) => `${n} skipped: ${why}`).join('; ');
}

/** Rows not yet in the tables: the page changes between cells only, in batches, never while a cell is timed. */
const pendingRows: { body: HTMLTableSectionElement; row: HTMLTableRowElement }[] = [];
let lastShown = 0;
/** How often the tables, charts and progress bar change during a run. */
const SHOW_EVERY_MS = 250;

/** The tables, charts, progress and status from the run so far. */
function showProgress(): void {
  for (const { body, row: tr } of pendingRows.splice(0)) body.append(tr);
  ui.progress.value = cells.total > 0 ? Math.min(1, cells.done / cells.total) : 0;
  status(`${stopRequested ? 'Stopping' : 'Running'}: ${cells.done} of ${cells.total} cells`);
  drawCharts();
  summarizeSkipped();
}

/**
 * One cell more. Every SHOW_EVERY_MS the page is updated and painted before the next cell starts:
 * a style, layout and paint of the tables and charts would otherwise land in the middle of the
 * next cell's timed calls (cpu-simd's and the GPUs' calls leave the event loop free while they run).
 */
async function cellDone(body: HTMLTableSectionElement, row: HTMLTableRowElement): Promise<void> {
  cells.done++;
  pendingRows.push({ body, row });
  if (performance.now() - lastShown < SHOW_EVERY_MS) return;
  showProgress();
  await painted();
  lastShown = performance.now();
}

/** Resolves after the next frame has been drawn. */
const painted = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

// ---- backends ------------------------------------------------------------------------------
/** A backend of the run: its name in the tables (as the Node bench names it), its tolerance row, its thread count. */
interface PageBackend extends SuiteBackend {
  threads: number;
}

function describeSpec(spec: BackendSpec, threads: number): { name: string; tolerance: ToleranceKey; threads: number } {
  if (spec === 'cpu-simd') return { name: `cpu-simd-${threads}t`, tolerance: 'cpu-simd', threads };
  if (spec === 'cpu') return { name: 'cpu-fast', tolerance: 'cpu-fast', threads: 1 };
  return { name: spec, tolerance: spec as ToleranceKey, threads: 1 };
}

async function openBackends(o: PageRunOptions, participants: Participant[]): Promise<PageBackend[]> {
  const live: PageBackend[] = [];
  for (const a of available) {
    const d = describeSpec(a.spec, a.spec === 'cpu-simd' ? o.threads : 1);
    if (!a.ok) { participants.push({ name: d.name, description: a.spec, threads: d.threads, skipped: a.reason }); continue; }
    if (!o.backends.includes(a.spec)) continue;
    status(`Starting ${d.name}…`);
    try {
      const backend = await createBackend(a.spec, { threads: d.threads });
      live.push({ ...d, backend });
      participants.push({ name: d.name, description: a.reason, threads: d.threads });
    } catch (e) {
      participants.push({ name: d.name, description: a.reason, threads: d.threads, skipped: `failed to start: ${firstLine(e)}` });
    }
  }
  return live;
}

// ---- forward passes ------------------------------------------------------------------------
function checkOutputs(name: string, got: NetworkOutput, want: NetworkOutput): Check {
  const checks = (['loc', 'conf', 'landms'] as const).map((k) => compareTensors(`${name} ${k}`, got[k], want[k], E2E_TOLERANCE));
  const bad = checks.find((c) => !c.ok);
  return bad !== undefined ? recordCheck(bad) : { ok: true, compared: 'loc, conf, landms on the check input', maxAbsError: Math.max(...checks.map((c) => c.maxAbsError)) };
}

/** One forward pass on a prepared backend, the input uploaded before the clock starts (the Node bench's forward stage). */
async function timedForward(b: PageBackend, model: RetinaFace, x: { shape: number[]; data: Float32Array }): Promise<number> {
  const [, h, w] = x.shape as [number, number, number];
  const handle = uploadInput(b.backend, { shape: [3, h, w], write: (dst) => dst.set(x.data) });
  const t0 = performance.now();
  await runUploaded(b.backend, model, handle);
  return performance.now() - t0;
}

/**
 * Per arch (an equal share of the time each), per resolution (an equal share of the arch's):
 * every backend checked once on the check input, then a first forward pass and steady ones in
 * interleaved rounds (at least one), as bench/e2e.ts does across processes. A resolution whose
 * share has run out is skipped, except the first.
 */
async function runForwards(live: PageBackend[], archs: readonly Arch[], budget: Budget, deadline: number, onResult: (r: E2EResult) => Promise<void>): Promise<string[]> {
  const notes: string[] = [];
  for (const [ai, arch] of archs.entries()) {
    const archDeadline = performance.now() + (deadline - performance.now()) / (archs.length - ai);
    const model = buildRetinaFace(arch);
    fillRandomWeights(model, SEED, true);
    const input = syntheticInput(CHECK_SIZE.height, CHECK_SIZE.width, SEED + 11);
    const ref = new CpuBackend(networkMacs(arch, CHECK_SIZE) < NAIVE_REFERENCE_MACS ? 'naive' : 'fast');
    status(`${arch}: the reference pass on ${ref.name}…`);
    await ref.prepare(model);
    const want = await runNetwork(ref, model, input);
    ref.dispose();
    notes.push(`${arch}: every backend checked on a ${resolutionName(CHECK_SIZE)} input against ${ref.name} (abs ${E2E_TOLERANCE.abs}, rel ${E2E_TOLERANCE.rel}); forward pass only, input uploaded before the clock starts`);

    // Checked once per arch; a backend that fails (or throws) is skipped at every resolution with the reason.
    const ready: { b: PageBackend; check: Check; msPerMac: number }[] = [];
    const out: Map<string, Partial<E2EResult>> = new Map();
    for (const b of live) {
      if (stopRequested) { out.set(b.name, { skipped: 'stopped' }); continue; }
      status(`${arch}: checking ${b.name}…`);
      try {
        await b.backend.prepare(model);
        let t0 = performance.now();
        const got = await runNetwork(b.backend, model, input);
        let ms = performance.now() - t0;
        const check = checkOutputs(b.name, got, want);
        if (!check.ok) { out.set(b.name, { check, skipped: `failed check: ${check.message}` }); continue; }
        if (ms < CHECK_REPEAT_MS) {
          t0 = performance.now();
          await runNetwork(b.backend, model, input);
          ms = performance.now() - t0;
        }
        ready.push({ b, check, msPerMac: ms / networkMacs(arch, CHECK_SIZE) });
      } catch (e) {
        out.set(b.name, { skipped: `error: ${firstLine(e)}` });
      }
    }

    for (const [ri, res] of budget.resolutions.entries()) {
      const resDeadline = performance.now() + (archDeadline - performance.now()) / (budget.resolutions.length - ri);
      const rname = resolutionName(res);
      const macs = networkMacs(arch, res);
      const base = (b: PageBackend): E2EResult => ({ arch, resolution: rname, megapixels: megapixels(res), contestant: b.name, kind: 'ours', threads: b.threads, stages: {}, macs, missingStages: FORWARD_ONLY });
      for (const b of live) {
        const early = out.get(b.name);
        if (early !== undefined) await onResult({ ...base(b), ...early } as E2EResult);
      }
      const x = syntheticInput(res.height, res.width, SEED + res.width);
      const timing: { e: typeof ready[number]; r: E2EResult; first?: number; steady: number[] }[] = [];
      for (const e of ready) {
        const r: E2EResult = { ...base(e.b), check: e.check };
        const predicted = e.msPerMac * macs;
        if (stopRequested) r.skipped = 'stopped';
        // The first resolution always runs (a first and a steady pass): every run has a forward figure per backend.
        else if (ri > 0 && performance.now() > resDeadline) r.skipped = 'this resolution\'s share of the forward passes\' time reached';
        else if (predicted > budget.e2eMaxCallSeconds * 1000) r.skipped = `predicted ${(predicted / 1000).toFixed(1)} s per forward > cap ${budget.e2eMaxCallSeconds} s`;
        if (r.skipped !== undefined) await onResult(r);
        else timing.push({ e, r, steady: [] });
      }
      // Round 0: every backend's first pass (kernels compiled, buffers sized); then steady rounds, interleaved.
      if (timing.length > 0) {
        status(`${arch} ${rname}: forward passes on ${timing.map((t) => t.e.b.name).join(', ')}…`);
        await painted();
      }
      for (let round = 0; round <= budget.rounds; round++) {
        if (round > 1 && (performance.now() > resDeadline || stopRequested)) break;
        for (const t of timing) {
          if (t.r.skipped !== undefined) continue;
          try {
            const ms = await timedForward(t.e.b, model, x);
            if (round === 0) t.first = ms;
            else t.steady.push(ms);
          } catch (e) {
            t.r.skipped = `error: ${firstLine(e)}`;
          }
        }
      }
      for (const t of timing) {
        if (t.r.skipped === undefined && t.first !== undefined) {
          t.r.stages.forward = summarize(t.first, t.steady);
          t.e.msPerMac = (t.steady.length > 0 ? t.r.stages.forward.medianMs : t.first) / macs;
        }
        await onResult(t.r);
      }
    }
  }
  return notes;
}

// ---- a run ---------------------------------------------------------------------------------
function caseFilter(filter: string): (id: string) => boolean {
  if (filter.trim() === '') return () => true;
  let re: RegExp;
  try {
    re = new RegExp(filter);
  } catch (e) {
    throw new FieldError(`Cases: ${JSON.stringify(filter)} is not a regular expression (${firstLine(e)})`);
  }
  return (id) => re.test(id);
}

async function start(o: PageRunOptions): Promise<void> {
  const only = caseFilter(o.filter);
  const resolutions = o.resolutions.map((r) => parseResolution(r, 'Resolutions'));
  if (resolutions.length === 0) throw new FieldError('Resolutions: tick at least one');
  if (o.backends.length === 0) throw new FieldError('Backends: tick at least one');
  stopRequested = false;
  // The counts of the last run go before anything awaits: whoever watches them (the Stop button,
  // the test) must not see the previous run's.
  cells.done = 0;
  cells.total = 0;
  ui.kernelRows.replaceChildren();
  ui.forwardRows.replaceChildren();
  const t0 = performance.now();
  const kernelSeconds = o.archs.length > 0 ? o.seconds * KERNEL_SHARE : o.seconds;
  const budget: Budget = { ...CASE_BUDGET, resolutions, sectionSeconds: { probe: 0, kernels: kernelSeconds, e2e: o.seconds - kernelSeconds } };
  const r: RunResult = {
    schema: SCHEMA_VERSION, mode: 'page', started: new Date().toISOString(), durationS: 0,
    command: `docs/kernels page: ${o.resolutions.join(',')}; ${o.filter === '' ? 'every case' : `cases /${o.filter}/`}; ${o.archs.length > 0 ? `forward ${o.archs.join(',')}` : 'no forward pass'}; budget ${o.seconds} s`,
    machine: machine ?? await describeMachine(), versions: { ...versions }, backends: [], peers: [], kernels: [], e2e: [], notes: [],
  };
  run = r;
  const live = await openBackends(o, r.backends);
  try {
    cells.done = 0;
    pendingRows.length = 0;
    lastShown = 0;
    cells.total = countCells(budget, only, live.length) + o.archs.length * resolutions.length * live.length;
    showProgress();
    await painted();
    const kernelsEnd = performance.now() + kernelSeconds * 1000;
    await runKernelCases(live, {
      budget, only, deadline: kernelsEnd, log: () => {}, shortCalls: sampleBatched,
      stopped: () => stopRequested,
      onResult: async (k) => { r.kernels.push(k); await cellDone(ui.kernelRows, kernelRow(k)); },
    });
    r.notes.push(`kernel section: ${((performance.now() - t0) / 1000).toFixed(0)} s; short calls sampled as means of calls lasting >= 1 ms (bench/stats.ts sampleBatched), in place of the Node bench's benny`);
    if (o.archs.length > 0) {
      // The forward passes keep their share when a kernel call that started before the kernels' deadline ran past it.
      const forwardEnd = Math.max(t0 + o.seconds * 1000, performance.now() + (o.seconds - kernelSeconds) * 1000);
      r.notes.push(...await runForwards(live, o.archs, budget, forwardEnd, async (e) => {
        r.e2e.push(e);
        await cellDone(ui.forwardRows, forwardRow(e));
      }));
    }
  } finally {
    for (const b of live) b.backend.dispose();
    r.durationS = (performance.now() - t0) / 1000;
    showProgress();
  }
  const timed = r.kernels.filter((k) => k.timing !== undefined).length + r.e2e.filter((e) => e.stages.forward !== undefined).length;
  status(`${stopRequested ? 'Stopped' : 'Done'} in ${r.durationS.toFixed(0)} s: ${timed} of ${cells.total} cells timed${timed < cells.total ? ' (the tables say why not the others)' : ''}.`);
}

/** The run as a form or the test asks for it: one at a time; its errors shown on the page and rethrown to the caller. */
function runFromForm(options?: Partial<PageRunOptions>): Promise<void> {
  if (running !== null) return Promise.reject(new Error('a run is in progress: Stop it first'));
  clearError();
  const task = (async () => {
    ui.start.disabled = true;
    ui.stop.disabled = false;
    ui.download.disabled = true;
    try {
      if (options !== undefined) writeForm(options);
      await start(readForm());
    } catch (e) {
      showError(e);
      status('Stopped on an error (above); the page still works.');
      throw e;
    } finally {
      ui.start.disabled = false;
      ui.stop.disabled = true;
      ui.download.disabled = run === null;
      running = null;
    }
  })();
  running = task;
  return task;
}

function download(): void {
  if (run === null) return;
  const blob = new Blob([serializeRun(run)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `retinaface-kernels-${run.started.slice(0, 19).replace(/:/g, '-')}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// ---- start-up ------------------------------------------------------------------------------
const api = {
  ready: false,
  get running() { return running !== null; },
  get progress() { return ui.progress.value; },
  cells,
  get backends() { return available; },
  get error() { return ui.error.hidden ? null : ui.error.textContent; },
  /** Sets the form from `options` (the rest as it is), runs, resolves when the run ends. */
  run: (options?: Partial<PageRunOptions>) => runFromForm(options),
  stop: () => { stopRequested = true; },
  result: (): RunResult | null => run,
  json: (): string | null => (run === null ? null : serializeRun(run)),
};
(window as unknown as { kernels: typeof api }).kernels = api;

async function init(): Promise<void> {
  for (const r of OFFERED_RESOLUTIONS) checkbox(ui.resolutions, `res-${r}`, r, DEFAULT_RESOLUTIONS.includes(r));
  ui.threads.max = String(maxThreads());
  ui.threads.value = String(maxThreads());
  ui.threadsNote.textContent = globalThis.crossOriginIsolated
    ? `(up to ${maxThreads()}: this page is cross-origin isolated)`
    : '(1: this page is not cross-origin isolated, so it cannot share memory with workers)';
  status('Probing the backends this browser can run…');
  available = await probeBackends(BROWSER_BACKENDS);
  ui.backends.replaceChildren();
  for (const a of available) checkbox(ui.backends, `be-${a.spec}`, a.spec, !DEFAULT_OFF.includes(a.spec), !a.ok, a.reason);
  status('Describing the machine…');
  const gv = await gpujsVersion();
  if (gv !== undefined) versions['gpu.js'] = gv;
  machine = await describeMachine();
  showMachine(machine);
  drawCharts();
  ui.start.addEventListener('click', () => { void runFromForm().catch(() => {}); });
  ui.stop.addEventListener('click', () => { stopRequested = true; status('Stopping after the cell in progress…'); });
  ui.download.addEventListener('click', download);
  ui.showSkipped.addEventListener('change', () => ui.kernelTable.classList.toggle('show-skipped', ui.showSkipped.checked));
  ui.start.disabled = false;
  status('Ready: tick resolutions and backends, then Start.');
  api.ready = true;
}

init().catch((e: unknown) => {
  showError(e);
  status('The page did not start (above).');
});
