// `node dist/bench/runtimes.js`: mobile0.25's forward time at 640x640 on each runtime x backend
// this machine can run outside a browser: Node (20 and npm's 22, 24, 26), Deno and Bun through the CLI's -b (median of 5
// runs after one warm-up), and workerd (Miniflare, the Cloudflare Worker example) through the
// timings its /detect answers (median of 5 requests after one). The table of docs/deployment.md.
// Needs `npm run build:worker` and `npm ci --prefix test/runtimes` first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

async function workerdForward(bytes: Uint8Array): Promise<string> {
  const { Miniflare } = await import(pathToFileURL(path.join(runtimes, 'miniflare', 'dist', 'src', 'index.js')).href) as {
    Miniflare: new (o: object) => { dispatchFetch(url: string, init: object): Promise<Response>; dispose(): Promise<void> };
  };
  const dist = path.join(repoRoot, 'examples', 'cloudflare-worker', 'dist');
  const date = /compatibility_date = "([\d-]+)"/.exec(readFileSync(path.join(dist, '..', 'wrangler.toml'), 'utf8'))![1];
  const mf = new Miniflare({ modules: true, scriptPath: path.join(dist, 'worker.js'), compatibilityDate: date,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'Data', include: ['**/*.bin'] }] });
  try {
    const times: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const j = await (await mf.dispatchFetch('http://localhost/detect', { method: 'POST', body: bytes })).json() as { timings: { forward: number } };
      if (i > 0) times.push(j.timings.forward);
    }
    times.sort((a, b) => a - b);
    return `${times[RUNS >> 1]!.toFixed(0)} ms`;
  } finally {
    await mf.dispose();
  }
}

const { file, bytes } = input640();
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
