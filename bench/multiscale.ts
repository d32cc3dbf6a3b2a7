// What multi-scale and flip testing cost and find (docs/accuracy.md): the CLI on one photo under
// each setting, in its own process: the forward time (-b, all runs of one detection), the peak
// resident memory (bench/peak_rss_hook.ts), and the faces at score >= 0.6 by box width. The
// counts are detections, not recall: recall needs ground truth (WIDER FACE, docs/accuracy.md).
//   node dist/bench/multiscale.js [--image FILE] [--threads N] [--out FILE]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './peers/torch.js';
import { measured, parseStages } from './rss.js';

/** Each setting's CLI flags, in the order of the table. */
export const SETTINGS: { name: string; flags: string[] }[] = [
  { name: 'scale 1 (the reference)', flags: [] },
  { name: '--scales 1,2', flags: ['--scales', '1,2'] },
  { name: '--scales 1,2 --merge vote', flags: ['--scales', '1,2', '--merge', 'vote'] },
  { name: '--scales 1,2 --flip', flags: ['--scales', '1,2', '--flip'] },
  { name: '--scales 1,2,3 --flip', flags: ['--scales', '1,2,3', '--flip'] },
  { name: '--scales 1,2,3 --flip --merge vote', flags: ['--scales', '1,2,3', '--flip', '--merge', 'vote'] },
  { name: '--scales 1,2 --top_k 20000', flags: ['--scales', '1,2', '--top_k', '20000'] },
  { name: '--scales 1,2 --max_network_pixels 4000000', flags: ['--scales', '1,2', '--max_network_pixels', '4000000'] },
  { name: '--scales 1,2,3 --flip --max_network_pixels 4000000', flags: ['--scales', '1,2,3', '--flip', '--max_network_pixels', '4000000'] },
  { name: '--scales 1,2,3 --flip --max_network_pixels 4000000 --keep_top_k 2000', flags: ['--scales', '1,2,3', '--flip', '--max_network_pixels', '4000000', '--keep_top_k', '2000'] },
];

/** Box widths in pixels of the original image: [lo, hi). */
export const BUCKETS: [number, number][] = [[0, 10], [10, 16], [16, 32], [32, Infinity]];

export interface SettingResult {
  setting: string;
  forwardMs: number;
  totalMs: number;
  peakRssMB: number;
  faces: number;
  /** faces per BUCKETS entry */
  byWidth: number[];
}

async function main(argv: readonly string[]): Promise<void> {
  let image = path.join(repoRoot, '..', 'shared', 'images', 'selfie.jpg');
  let threads = os.availableParallelism(), out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--image': image = path.resolve(v()); break;
      case '--threads': threads = Number(v()); break;
      case '--out': out = path.resolve(v()); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/multiscale.ts)`);
    }
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'retinaface-multiscale-'));
  const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');
  const results: SettingResult[] = [];
  try {
    for (const s of SETTINGS) {
      const png = path.join(tmp, 'out.png');
      const r = measured([cli, '-i', image, '--backend', 'cpu-simd', '--threads', String(threads), '-q', '-b', '-c', '1', '-w', '-s', png, ...s.flags], true);
      const stages = parseStages(r.stdout);
      const faces = (JSON.parse(readFileSync(path.join(tmp, 'out.json'), 'utf8')) as { faces: { box: number[] }[] }).faces;
      const byWidth = BUCKETS.map(([lo, hi]) => faces.filter((f) => f.box[2]! - f.box[0]! >= lo && f.box[2]! - f.box[0]! < hi).length);
      const res = { setting: s.name, forwardMs: stages.forward!, totalMs: stages.total!, peakRssMB: r.peakMB, faces: faces.length, byWidth };
      results.push(res);
      console.log(`${s.name}: forward ${res.forwardMs.toFixed(0)} ms, total ${res.totalMs.toFixed(0)} ms, peak RSS ${res.peakRssMB.toFixed(0)} MB, ` +
        `${res.faces} faces (width ${BUCKETS.map(([lo, hi], k) => `${lo}-${hi === Infinity ? '' : hi} px: ${byWidth[k]}`).join(', ')})`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (out !== undefined) {
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ image: path.basename(image), threads, command: `node dist/bench/multiscale.js ${argv.join(' ')}`.trim(), started: new Date().toISOString(), results }, null, 1) + '\n');
  }
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}multiscale.js`)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`bench/multiscale: ${(e as Error).message}`);
    process.exit(1);
  });
}
