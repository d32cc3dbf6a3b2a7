// Weights for the gpu.js network tests, isolated in one function so that the lead's
// loadTestWeights(arch) can replace it: mobile0.25 from the official checkpoint (converted by
// PyTorch into .cache/ until the TypeScript .pth reader lands), resnet50 from seeded random
// values (no official resnet50 weights are shipped), scaled so activations stay O(1) through
// 50 layers.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Arch } from '../../src/model/config.js';
import { buildRetinaFace, type RetinaFace } from '../../src/model/retinaface.js';
import { readTensorFile } from '../../src/weights/files.js';
import { cacheDir, officialCheckpoint, repoRoot, runTorchPython } from './paths.js';
import { seededWeights } from './seeded_weights.js';

export async function loadGpuTestModel(arch: Arch): Promise<RetinaFace> {
  if (arch === 'resnet50') return buildRetinaFace(arch, seededWeights(arch), 'seeded resnet50');
  const file = path.join(cacheDir('weights'), 'mobilenet0.25_Final.rfw');
  if (!existsSync(file)) runTorchPython(path.join(repoRoot, 'test', 'helpers', 'convert_pth.py'), [officialCheckpoint(), file]);
  const { tensors } = await readTensorFile(file);
  return buildRetinaFace(arch, tensors, file);
}
