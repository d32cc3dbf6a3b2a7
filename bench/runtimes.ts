// `node dist/bench/runtimes.js`: mobile0.25's forward time at 640x640 on each runtime x backend
// this machine can run outside a browser: Node (20 and npm's 22, 24, 26), Deno and Bun through the CLI's -b (median of 5
// runs after one warm-up), and workerd (Miniflare, the Cloudflare Worker example) through the
// timings its /detect answers (median of 5 requests after one). The table of docs/deployment.md.
// Chromium (the browser bundle on the page's thread and in a Web Worker; `--chromium-only`: those
// rows alone), and the Worker isolate's memory (`--workerd-only`: that row alone). Needs `npm run build:worker`
// and `npm ci --prefix test/runtimes` first.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeImage } from '../src/image/decode.js';
import { encodeImage } from '../src/image/encode.js';
import { rgbImage } from '../src/image/image.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const runtimes = path.join(repoRoot, 'test', 'runtimes', 'node_modules');
const shared = path.resolve(repoRoot, '..', 'shared', 'images', 'selfie.jpg');
const RUNS = 5;

/** A 640x640 crop of the selfie (its faces), as PNG: the input every runtime gets. */
function input640(): { file: string; bytes: Uint8Array } {
  const img = decodeImage(readFileSync(shared), 'selfie.jpg');
  const out = new Uint8Array(640 * 640 * 3);
  for (let y = 0; y < 640; y++) out.set(img.data.subarray((y * img.width + 400) * 3, (y * img.width + 400 + 640) * 3), y * 640 * 3);
  const bytes = encodeImage(rgbImage(640, 640, out), 'png');
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'retinaface-runtimes-')), 'selfie-640.png');
  writeFileSync(file, bytes);
  return { file, bytes };
}

function cliForward(runtime: string, exe: string[], backend: string, threads: number, file: string): string {
  const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');
  const r = spawnSync(exe[0]!, [...exe.slice(1), cli, '-i', file, '-s', path.join(path.dirname(file), `${runtime}.png`), '-b', '-c', String(RUNS), '--backend', backend, '--threads', String(threads), '-q'],
    { cwd: repoRoot, encoding: 'utf8', env: process.env });
  if (r.status !== 0) return `failed: ${r.stderr.trim().split('\n').pop()}`;
  const m = /forward ([\d.]+) ms/.exec(r.stdout);
  return m ? `${Number(m[1]).toFixed(0)} ms` : `no timing in: ${r.stdout}`;
}

/** The workerd processes Miniflare started (descendants of this process named workerd). */
function workerdPids(): number[] {
  const parent = new Map<number, number>();
  const names = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      names.set(Number(d), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(d), Number(stat.slice(close + 2).split(' ')[1]));
    } catch { /* gone meanwhile */ }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...names].filter(([pid, name]) => name === 'workerd' && mine(pid)).map(([pid]) => pid);
}

/** Resident and peak resident memory of a process, MB (Linux /proc). */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** A free TCP port on 127.0.0.1 (for workerd's inspector). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface HeapUsage { usedSize: number; totalSize: number; backingStorageSize: number }

/**
 * The user Worker's isolate heap, through workerd's inspector (Chrome DevTools Protocol, the
 * `ws` client that Miniflare installs): the JavaScript heap and the ArrayBuffer backing stores
 * (WebAssembly memories included) of the isolate.
 */
async function isolateHeap(port: number): Promise<() => Promise<HeapUsage>> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json() as { title: string; webSocketDebuggerUrl: string }[];
  const target = targets.find((t) => /worker core:user/.test(t.title));
  if (target === undefined) throw new Error(`no user worker among workerd's inspector targets: ${targets.map((t) => t.title).join(', ')}`);
  const { default: WebSocket } = await import(pathToFileURL(path.join(runtimes, 'ws', 'index.js')).href) as {
    default: new (url: string) => { on(e: string, f: (m: unknown) => void): void; send(s: string): void; close(): void };
  };
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve) => ws.on('open', resolve));
  let id = 0;
  const pending = new Map<number, (r: { result?: unknown; error?: { message: string } }) => void>();
  ws.on('message', (m) => {
    const j = JSON.parse(String(m)) as { id?: number; result?: unknown; error?: { message: string } };
    if (j.id !== undefined) pending.get(j.id)?.(j);
  });
  const send = (method: string) => new Promise<unknown>((resolve, reject) => {
    const i = ++id;
    const timer = setTimeout(() => reject(new Error(`workerd inspector: no answer to ${method} in 30 s`)), 30_000);
    pending.set(i, (r) => { clearTimeout(timer); pending.delete(i); r.error ? reject(new Error(`${method}: ${r.error.message}`)) : resolve(r.result); });
    ws.send(JSON.stringify({ id: i, method, params: {} }));
  });
  // No forced collection first: workerd answers HeapProfiler.collectGarbage only once the
  // isolate next runs a request, so the figures include garbage not yet collected.
  return async () => await send('Runtime.getHeapUsage') as HeapUsage;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/**
 * The Worker example's forward time (median), and memory: the user isolate's heap and
 * ArrayBuffers (through workerd's inspector) with the isolate up and no detector yet, and after
 * the detections; and the whole workerd process's resident memory (runtime included), which
 * bounds the isolate's from above.
 */
async function workerdForward(bytes: Uint8Array): Promise<string> {
  const { Miniflare } = await import(pathToFileURL(path.join(runtimes, 'miniflare', 'dist', 'src', 'index.js')).href) as {
    Miniflare: new (o: object) => { dispatchFetch(url: string, init: object): Promise<Response>; dispose(): Promise<void> };
  };
  const dist = path.join(repoRoot, 'examples', 'cloudflare-worker', 'dist');
  const date = /compatibility_date = "([\d-]+)"/.exec(readFileSync(path.join(dist, '..', 'wrangler.toml'), 'utf8'))![1];
  const inspectorPort = await freePort();
  const mf = new Miniflare({ modules: true, scriptPath: path.join(dist, 'worker.js'), compatibilityDate: date, inspectorPort,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'Data', include: ['**/*.bin'] }] });
  try {
    await (await mf.dispatchFetch('http://localhost/', { method: 'GET' })).arrayBuffer(); // the isolate is up, the detector not yet loaded
    const pids = workerdPids();
    if (pids.length !== 1) throw new Error(`expected one workerd process under this one, found ${pids.length}`);
    const before = memoryMb(pids[0]!);
    const heap = await isolateHeap(inspectorPort);
    const heapBefore = await heap();
    const times: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const j = await (await mf.dispatchFetch('http://localhost/detect', { method: 'POST', body: bytes })).json() as { timings: { forward: number } };
      if (i > 0) times.push(j.timings.forward);
    }
    times.sort((a, b) => a - b);
    const after = memoryMb(pids[0]!);
    const heapAfter = await heap();
    const isolate = (h: HeapUsage) => `${mb(h.totalSize + h.backingStorageSize)} MB (JavaScript heap ${mb(h.usedSize)} MB used of ${mb(h.totalSize)} MB, ArrayBuffers and WebAssembly memory ${mb(h.backingStorageSize)} MB)`;
    workerdMemory = `the Worker's isolate (workerd's inspector, Runtime.getHeapUsage): ${isolate(heapBefore)} up with no detector, ${isolate(heapAfter)} after ${RUNS + 1} detections at 640x640; ` +
      `the whole workerd process (the runtime included) resident: ${before.rss.toFixed(0)} MB, then ${after.rss.toFixed(0)} MB (peak ${after.peak.toFixed(0)} MB)`;
    return `${times[RUNS >> 1]!.toFixed(0)} ms`;
  } finally {
    await mf.dispose();
  }
}

/**
 * Chromium (headless, the project's /usr/bin/chromium or RETINAFACE_CHROMIUM): the browser bundle
 * on a cross-origin isolated page, mobile0.25 on the same 640x640 PNG, median forward of RUNS
 * after a warm-up, on the page's thread (loadDetector) and in a Web Worker (loadWorkerDetector),
 * for cpu-simd on every core, cpu-simd on one thread and cpu.
 */
async function chromiumForward(png: Uint8Array): Promise<string[]> {
  const { serveStatic } = await import('../docs/demo/static_server.js');
  const { resolveWeights } = await import('../src/weights/resolve.js');
  const site = mkdtempSync(path.join(os.tmpdir(), 'retinaface-chromium-'));
  cpSync(path.join(repoRoot, 'dist', 'browser'), path.join(site, 'lib'), { recursive: true });
  cpSync((await resolveWeights('mobile0.25')).file, path.join(site, 'w.safetensors')); // the converted file (resolve converts once, into its cache)
  writeFileSync(path.join(site, 'in.png'), png);
  writeFileSync(path.join(site, 'index.html'), `<!doctype html><meta charset="utf-8"><script type="module">
import { loadDetector, loadWorkerDetector } from './lib/retinaface.js';
const png = new Uint8Array(await (await fetch('in.png')).arrayBuffer());
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
async function time(d) {
  const ms = [];
  for (let i = 0; i <= ${RUNS}; i++) { const t = (await d.detectDetailed(png)).timings.forward; if (i > 0) ms.push(t); }
  d.dispose();
  return median(ms);
}
const out = {};
for (const [label, opts] of [['cpu-simd, every core', { backend: 'cpu-simd' }], ['cpu-simd, 1 thread', { backend: 'cpu-simd', threads: 1 }], ['cpu', { backend: 'cpu' }]]) {
  out[label] = [await time(await loadDetector('w.safetensors', opts)), await time(await loadWorkerDetector('w.safetensors', opts))];
}
out.cores = navigator.hardwareConcurrency;
out.version = navigator.userAgent.match(/Chrome\\/([\\d.]+)/)?.[1];
window.result = out;
</script>`);
  const server = await serveStatic(site, { allowed: [''], index: 'index.html' });
  const { chromium } = await import('playwright-core' as string) as { chromium: { launch(o: object): Promise<{ newPage(): Promise<{ goto(u: string): Promise<unknown>; waitForFunction(f: string, a: unknown, o: object): Promise<unknown>; evaluate(f: string): Promise<unknown> }>; close(): Promise<void> }> } };
  const browser = await chromium.launch({ executablePath: process.env.RETINAFACE_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction('window.result !== undefined', null, { timeout: 600_000 });
    const r = await page.evaluate('window.result') as Record<string, [number, number]> & { cores: number; version: string };
    const cell = (k: string, i: number) => `${r[k]![i]!.toFixed(0)} ms`;
    return [`Chromium ${r.version}, the page's thread (loadDetector)`, `Chromium ${r.version}, a Web Worker (loadWorkerDetector)`].map((name, i) =>
      `| ${name} | ${cell('cpu-simd, every core', i)} (${r.cores} threads) | ${cell('cpu-simd, 1 thread', i)} | ${cell('cpu', i)} |`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(site, { recursive: true, force: true });
  }
}

let workerdMemory = '';
const { file, bytes } = input640();
if (process.argv.includes('--chromium-only')) {
  for (const row of await chromiumForward(bytes)) console.log(row);
  process.exit(0);
}
if (process.argv.includes('--workerd-only')) {
  console.log(`workerd (Miniflare), Worker example: cpu-simd 1 thread (precompiled) ${await workerdForward(bytes)}; ${workerdMemory}`);
  process.exit(0);
}
const exes: [string, string[]][] = [
  ['Node ' + process.version, [process.execPath]],
  ...[22, 24, 26].map((major): [string, string[]] => {
    const exe = path.join(runtimes, `node${major}`, 'bin', 'node');
    return [`Node ${spawnSync(exe, ['--version'], { encoding: 'utf8' }).stdout.trim()}`, [exe]];
  }),
  ['Deno', [path.join(runtimes, '.bin', 'deno'), 'run', '-A']],
  ['Bun', [path.join(runtimes, '.bin', 'bun')]],
];
console.log('| runtime | cpu-simd, 2 threads | cpu-simd, 1 thread | cpu |');
console.log('|---|---|---|---|');
for (const [name, exe] of exes) {
  console.log(`| ${name} | ${cliForward(name, exe, 'cpu-simd', 2, file)} | ${cliForward(name, exe, 'cpu-simd', 1, file)} | ${cliForward(name, exe, 'cpu', 1, file)} |`);
}
console.log(`| workerd (Miniflare), Worker example | no threads in a Worker | ${await workerdForward(bytes)} (precompiled) | not built (the example bundles cpu-simd) |`);
for (const row of await chromiumForward(bytes)) console.log(row);
console.log(`\n${workerdMemory}`);
