// A network built from a .pth checkpoint by the project's own reader, cached per file, and the same
// checkpoint converted into the git-ignored .cache/weights/ for pages that fetch it (the Chromium
// test page, bench/gpu_large.ts). Node only.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../model/config.js';
import { buildRetinaFace, type RetinaFace } from '../model/retinaface.js';
import { convertCheckpoint, loadWeights } from '../weights/convert.js';
import { cacheDir, repoRoot } from './paths.js';

const models = new Map<string, RetinaFace>();

/** `arch` with the weights of the checkpoint `pth` (built once per file). */
export async function checkpointModel(pth: string, arch: Arch): Promise<RetinaFace> {
  let m = models.get(pth);
  if (m === undefined) {
    m = buildRetinaFace(arch, (await loadWeights(pth, { arch })).tensors, pth);
    models.set(pth, m);
  }
  return m;
}

/** The checkpoint converted into .cache/weights/ (named after its source file): its URL path from the repository root. */
export async function convertedCheckpointUrl(pth: string, arch: Arch): Promise<string> {
  const file = path.join(cacheDir('weights'), `${path.basename(pth, '.pth')}.rfw`);
  if (!existsSync(file)) await convertCheckpoint(pth, file, { arch });
  return '/' + path.relative(repoRoot, file).split(path.sep).join('/');
}
