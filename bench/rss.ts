// The CLI on one image, against onnxruntime-node: peak resident memory of each process and the
// CLI's time per stage. The target (issue 7): on the 2048x1150 selfie with mobile0.25, the CLI's
// peak RSS (decode, network, post-processing, drawing and the PNG written) is no larger than
// onnxruntime-node's for the same forward pass plus the decoded image (bench/rss_peer.ts, same
// decoder), and no stage but the forward pass and JPEG decoding takes over 10% of the total.
//   node dist/bench/rss.js [--image FILE] [--arch ARCH] [--threads N] [--runs N] [--out FILE]
// With --tiled (issue 18): the CLI's peak RSS on the selfie upscaled 2x and 8x (16384x9200) under a
// 4 MP tile budget (--max_network_pixels), and untiled where that fits the whole-image path:
//   node dist/bench/rss.js --tiled [--budget N] [--factors 2,8] [--threads N] [--out FILE]
// (each --tiled row is one process, measured once: the 16384x9200 run takes minutes).
// Every process is measured alone, one after the other, three times (the median is reported).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isArch, type Arch } from '../src/model/config.js';
import { prepareArch } from './e2e.js';
import { repoRoot } from './peers/torch.js';
import { median } from './stats.js';

export interface CliRssResult {
  image: string;
  arch: Arch;
  threads: number;
  backend: string;
  /** Peak RSS in MB, median of the repeats: our CLI, and onnxruntime-node's decode + forward. */
  cliPeakRssMB: number;
  peerPeakRssMB: number;
  peer: string;
  /** The CLI's --benchmark medians (ms) and each stage's share of the total. */
  stagesMs: Record<string, number>;
  shares: Record<string, number>;
  command: string;
  started: string;
}

const dist = path.join(repoRoot, 'dist');
const hook = pathToFileURL(path.join(dist, 'bench', 'peak_rss_hook.js')).href;

/** Runs `node [--import hook] args` to completion; its peak RSS (MB) and stdout. Throws with its stderr on failure. */
export function measured(args: string[], withHook: boolean): { peakMB: number; stdout: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface-rss-'));
  const file = path.join(dir, 'peak');
  try {
    const r = spawnSync(process.execPath, [...(withHook ? ['--import', hook] : []), ...args], {
      encoding: 'utf8', env: { ...process.env, RETINAFACE_PEAK_RSS_FILE: file }, timeout: 600_000, maxBuffer: 1 << 24,
    });
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || String(r.error ?? '')).trim().split('\n').pop()}`);
    return { peakMB: withHook ? Number(readFileSync(file, 'utf8')) : NaN, stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}


/** "... median of 5 runs after one warm-up: decode 1.0 ms, preprocess 2.0 ms, ..." -> { decode: 1, ... } */
export function parseStages(line: string): Record<string, number> {
  const tail = /median of \d+ runs after one warm-up: (.*)$/m.exec(line)?.[1];
  if (tail === undefined) throw new Error(`no --benchmark line in the CLI's output: ${line.trim().split('\n')[0]}`);
  return Object.fromEntries(tail.split(', ').map((p) => {
    const m = /^(\w+) ([\d.]+) ms$/.exec(p.trim());
    if (m === null) throw new Error(`unreadable stage "${p}" in: ${tail}`);
    return [m[1]!, Number(m[2])];
  }));
}

export interface TiledRssRow {
  image: string;
  width: number;
  height: number;
  /** --max_network_pixels, or null for the untiled run */
  budget: number | null;
  peakRssMB: number;
  wallS: number;
  faces: number;
}

/** The selfie upscaled `factor` times (ffmpeg, bilinear, baseline JPEG), made once into the cache. */
function upscaledSelfie(factor: number, cache: string): string {
  const file = path.join(cache, `selfie-x${factor}.jpg`);
  if (existsSync(file)) return file;
  mkdirSync(cache, { recursive: true });
  const selfie = path.join(repoRoot, '..', 'shared', 'images', 'selfie.jpg');
  const r = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', selfie, '-vf', `scale=iw*${factor}:ih*${factor}:flags=bilinear`, '-q:v', '3', `${file}.tmp.jpg`], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(`ffmpeg could not make ${path.basename(file)} (apt-get install -y ffmpeg): ${(r.stderr || String(r.error)).trim().split('\n').pop()}`);
  renameSync(`${file}.tmp.jpg`, file);
  return file;
}

/**
 * --tiled (issue 18): the CLI's peak RSS on the selfie upscaled by each --factors (8: 16384x9200,
 * 150.7 MP) under --budget network pixels per tile, drawn to a PNG with its JSON; and untiled
 * where the image is at most 50 MP (the whole-image path's default limit).
 */
async function tiledMain(argv: readonly string[]): Promise<TiledRssRow[]> {
  let budget = 4_000_000, factors = [2, 8], threads = os.availableParallelism(), out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--tiled': break;
      case '--budget': budget = Number(v()); break;
      case '--factors': factors = v().split(',').map(Number); break;
      case '--threads': threads = Number(v()); break;
      case '--out': out = path.resolve(v()); break;
      default: throw new Error(`unknown option ${argv[i]} with --tiled (see the header of bench/rss.ts)`);
    }
  }
  const cache = path.join(repoRoot, '.cache', 'bench');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'retinaface-rss-tiled-'));
  const rows: TiledRssRow[] = [];
  try {
    for (const factor of factors) {
      const image = upscaledSelfie(factor, cache);
      const width = 2048 * factor, height = 1150 * factor;
      for (const b of width * height <= 50_000_000 ? [null, budget] : [budget]) {
        const png = path.join(tmp, `x${factor}-${b ?? 'whole'}.png`);
        const args = [path.join(dist, 'src', 'cli.js'), '-i', image, '-a', 'mobile0.25', '--backend', 'cpu-simd', '--threads', String(threads), '-q', '-w', '-s', png,
          ...(b === null ? [] : ['--max_network_pixels', String(b)])];
        const t0 = Date.now();
        const { peakMB } = measured(args, true);
        const faces = (JSON.parse(readFileSync(png.replace(/\.png$/, '.json'), 'utf8')) as { faces: unknown[] }).faces.length;
        rows.push({ image: path.basename(image), width, height, budget: b, peakRssMB: peakMB, wallS: (Date.now() - t0) / 1000, faces });
        console.log(`${path.basename(image)} ${width}x${height}, ${b === null ? 'whole image' : `tiles of <= ${b} px`}: peak RSS ${peakMB.toFixed(0)} MB, ${rows.at(-1)!.wallS.toFixed(1)} s, ${faces} faces`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log('\n| image | size | network | peak RSS | wall | faces (score >= 0.6) |\n|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.image} | ${r.width}x${r.height} (${(r.width * r.height / 1e6).toFixed(1)} MP) | ${r.budget === null ? 'whole image' : `tiles, --max_network_pixels ${r.budget}`} | ${r.peakRssMB.toFixed(0)} MB | ${r.wallS.toFixed(1)} s | ${r.faces} |`);
  }
  if (out !== undefined) {
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ command: `node dist/bench/rss.js ${argv.join(' ')}`, threads, started: new Date().toISOString(), rows }, null, 1) + '\n');
  }
  return rows;
}

export async function main(argv: readonly string[]): Promise<CliRssResult | TiledRssRow[]> {
  if (argv.includes('--tiled')) return tiledMain(argv);
  let image = path.join(repoRoot, '..', 'shared', 'images', 'selfie.jpg');
  let arch: Arch = 'mobile0.25', threads = os.availableParallelism(), runs = 5, out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--image': image = path.resolve(v()); break;
      case '--arch': { const a = v(); if (!isArch(a)) throw new Error(`unknown arch ${a}`); arch = a; break; }
      case '--threads': threads = Number(v()); break;
      case '--runs': runs = Number(v()); break;
      case '--out': out = path.resolve(v()); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/rss.ts)`);
    }
  }
  if (!Number.isInteger(threads) || threads < 1) throw new Error('--threads must be a positive integer');
  const cache = path.join(repoRoot, '.cache', 'bench');
  const prep = await prepareArch(arch, cache, (s) => console.log(s));
  if (prep.onnx === undefined) throw new Error(`no ONNX model to compare with: ${prep.onnxSkipped}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'retinaface-rss-out-'));
  const cli = path.join(dist, 'src', 'cli.js');
  const cliArgs = [cli, '-i', image, '-a', arch, '--backend', 'cpu-simd', '--threads', String(threads), '-q'];
  try {
    const ours: number[] = [], peer: number[] = [];
    for (let k = 0; k < 3; k++) {
      ours.push(measured([...cliArgs, '-s', path.join(tmp, 'out.png')], true).peakMB);
      peer.push(measured([path.join(dist, 'bench', 'rss_peer.js'), image, prep.onnx, String(threads)], true).peakMB);
      console.log(`round ${k + 1}: CLI ${ours.at(-1)!.toFixed(0)} MB, onnxruntime-node ${peer.at(-1)!.toFixed(0)} MB`);
    }
    // -s into the temporary folder: without it the CLI would write output.png into the working directory.
    const stagesMs = parseStages(measured([...cliArgs, '-b', '-c', String(runs), '-s', path.join(tmp, 'bench.png')], false).stdout);
    const total = stagesMs.total ?? Object.values(stagesMs).reduce((s, x) => s + x, 0);
    const shares = Object.fromEntries(Object.entries(stagesMs).filter(([k]) => k !== 'total').map(([k, ms]) => [k, ms / total]));
    const result: CliRssResult = {
      image: path.basename(image), arch, threads, backend: 'cpu-simd', cliPeakRssMB: median(ours), peerPeakRssMB: median(peer),
      peer: `onnxruntime-node ${threads} thread(s), decode + forward`, stagesMs, shares,
      command: `node dist/bench/rss.js ${argv.join(' ')}`.trim(), started: new Date().toISOString(),
    };
    console.log(`peak RSS: CLI ${result.cliPeakRssMB.toFixed(0)} MB, onnxruntime-node ${result.peerPeakRssMB.toFixed(0)} MB ` +
      `(ratio ${(result.cliPeakRssMB / result.peerPeakRssMB).toFixed(2)})`);
    console.log(`CLI stages: ${Object.entries(stagesMs).map(([k, ms]) => `${k} ${ms.toFixed(1)} ms${k === 'total' ? '' : ` (${(100 * shares[k]!).toFixed(0)} %)`}`).join(', ')}`);
    if (out !== undefined) {
      mkdirSync(path.dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(result, null, 1) + '\n');
      console.log(`wrote ${path.relative(process.cwd(), out)}`);
    }
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}rss.js`)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`bench/rss: ${(e as Error).message}`);
    process.exit(1);
  });
}
