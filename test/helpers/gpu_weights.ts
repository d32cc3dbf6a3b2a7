// Weights of the gpu.js tests: the same checkpoints as the CPU network tests (test/network.test.ts),
// read by the project's own .pth reader: mobile0.25 from the official checkpoint, resnet50 from
// seeded random weights that PyTorch saved (no official ResNet-50 checkpoint is reachable here).
// The browser pages get them converted (retinaface convert) into the git-ignored .cache/weights/.
import type { Arch } from '../../src/model/config.js';
import type { RetinaFace } from '../../src/model/retinaface.js';
import { checkpointModel, convertedCheckpointUrl } from '../../src/harness/checkpoint_model.js';
import { officialCheckpoint } from './paths.js';
import { randomCheckpoint } from './reference.js';

/** The checkpoint (.pth) the tests run `arch` with; PyTorch's reference runs the same file. */
export async function gpuTestCheckpoint(arch: Arch): Promise<string> {
  return arch === 'mobile0.25' ? officialCheckpoint() : randomCheckpoint('resnet50', 0, 'zip');
}

export async function loadGpuTestModel(arch: Arch): Promise<RetinaFace> {
  return checkpointModel(await gpuTestCheckpoint(arch), arch);
}

/** The checkpoint converted into .cache/weights/ (named after its source file): its URL path from the repository root. */
export async function convertedWeightsUrl(arch: Arch): Promise<string> {
  return convertedCheckpointUrl(await gpuTestCheckpoint(arch), arch);
}
