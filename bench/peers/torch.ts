// Peer: PyTorch CPU through /usr/bin/python3 (Debian's python3-torch), one process per thread
// count, driven over JSON lines (bench/torch/torch_bench.py). Skipped, with the reason, when
// that Python has no torch or the reference script is not on this branch.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Unavailable } from '../backends.js';
import type { Reply, Request } from '../protocol.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const torchScripts = path.join(repoRoot, 'bench', 'torch');

/** The Python with torch, or Unavailable with the reason. $RETINAFACE_TORCH_PYTHON overrides. */
export function torchPython(): { python: string; version: string } {
  const python = process.env.RETINAFACE_TORCH_PYTHON ?? '/usr/bin/python3';
  if (!existsSync(python)) throw new Unavailable(`${python} is not present`);
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Unavailable(`${python} cannot import torch (apt-get install python3-torch)`);
  return { python, version: r.stdout.trim() };
}

/** A line-protocol child process: one request, one reply, in order. */
export class LineProcess {
  private waiting: ((r: Reply) => void)[] = [];
  private stderr = '';
  private exited: string | undefined;
  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (l) => this.waiting.shift()?.(JSON.parse(l) as Reply));
    child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-2000); });
    child.on('exit', (code) => {
      this.exited = `exited with code ${code}: ${this.stderr.trim().split('\n').pop() ?? ''}`;
      for (const w of this.waiting.splice(0)) w({ type: 'init', skipped: this.exited } as Reply);
    });
  }
  request(msg: Request): Promise<Reply> {
    if (this.exited !== undefined) return Promise.resolve({ type: 'init', skipped: this.exited } as Reply);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
  }
  kill(): void {
    this.child.kill();
  }
}

export function startTorch(python: string): LineProcess {
  return new LineProcess(spawn(python, [path.join(torchScripts, 'torch_bench.py')], { stdio: ['pipe', 'pipe', 'pipe'] }));
}
