// Weights of the gpu.js tests: the same checkpoints as the CPU network tests (test/network.test.ts),
// read by the project's own .pth reader: mobile0.25 from the official checkpoint, resnet50 from
// seeded random weights that PyTorch saved (no official ResNet-50 checkpoint is reachable here).
// The browser pages get them converted (retinaface convert) into the git-ignored .cache/weights/.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../src/model/config.js';
import { buildRetinaFace, type RetinaFace } from '../../src/model/retinaface.js';
import { convertCheckpoint, loadWeights } from '../../src/weights/convert.js';
import { cacheDir, officialCheckpoint, repoRoot } from './paths.js';
import { randomCheckpoint } from './reference.js';

/** The checkpoint (.pth) the tests run `arch` with; PyTorch's reference runs the same file. */
export async function gpuTestCheckpoint(arch: Arch): Promise<string> {
  return arch === 'mobile0.25' ? officialCheckpoint() : randomCheckpoint('resnet50', 0, 'zip');
}

const models = new Map<Arch, RetinaFace>();
export async function loadGpuTestModel(arch: Arch): Promise<RetinaFace> {
  let m = models.get(arch);
  if (m === undefined) {
    const file = await gpuTestCheckpoint(arch);
    m = buildRetinaFace(arch, (await loadWeights(file, { arch })).tensors, file);
    models.set(arch, m);
  }
  return m;
}

/** The checkpoint converted into .cache/weights/ (named after its source file): its URL path from the repository root. */
export async function convertedWeightsUrl(arch: Arch): Promise<string> {
  const pth = await gpuTestCheckpoint(arch);
  const file = path.join(cacheDir('weights'), `${path.basename(pth, '.pth')}.rfw`);
  if (!existsSync(file)) await convertCheckpoint(pth, file, { arch });
  return '/' + path.relative(repoRoot, file).split(path.sep).join('/');
}
