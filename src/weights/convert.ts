// Converts a PyTorch checkpoint (.pth) into the project's tensor file (docs/weights-format.md),
// and loads weights from either kind of file, checking every tensor against the architecture.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RetinaFaceError } from '../errors.js';
import type { Arch } from '../model/config.js';
import { describeFsError, writeTensorFile } from './files.js';
import { checkDataSha256, FORMAT_NAME } from './format.js';
import { sniffWeights, weightsFromCheckpoint, weightsFromTensorFile, type LoadedWeights } from './weights.js';

export type { Arch } from '../model/config.js';
export { detectArch, sniffWeights, type LoadedWeights } from './weights.js';

export interface ConvertResult {
  arch: Arch;
  /** sha256 of the input checkpoint's bytes, hex */
  sha256: string;
  tensors: number;
}

/**
 * Reads `input` (.pth, legacy or zip), checks it against the architecture (detected from the
 * keys unless `opts.arch` is given) and writes `output` atomically. On any error nothing is
 * written and an existing `output` is left untouched.
 */
export async function convertCheckpoint(input: string, output: string | ((arch: Arch) => string | Promise<string>), opts: { arch?: Arch } = {}): Promise<ConvertResult & { output: string }> {
  const bytes = await readInput(input);
  if (sniffWeights(bytes) === 'tensor-file') {
    throw new RetinaFaceError(`already a ${FORMAT_NAME} weights file, nothing to convert`, { file: input, code: 'EINVAL' });
  }
  const { arch, tensors, metadata } = fromCheckpoint(bytes, input, opts.arch);
  const out = typeof output === 'string' ? output : await output(arch);
  await refuseSameFile(input, out);
  await writeTensorFile(out, tensors, metadata, { checksum: true });
  return { arch, sha256: metadata.source_sha256!, tensors: tensors.size, output: out };
}

/** Where `retinaface convert IN` writes when no OUT is given: weights/ under the working directory. */
export const DEFAULT_CONVERT_DIR = 'weights';

/**
 * weights/retinaface-<arch>.safetensors (weights/ created if missing), the name the cache and the
 * browser examples use: in a checkout of this project, the git-ignored weights/ beside
 * manifest.json; in an app, a weights/ folder of its own.
 */
export async function defaultConvertOutput(arch: Arch): Promise<string> {
  try {
    await fs.mkdir(DEFAULT_CONVERT_DIR, { recursive: true });
  } catch (e) {
    throw new RetinaFaceError(`cannot create the output folder: ${describeFsError(e)}; give OUT`, { file: DEFAULT_CONVERT_DIR, code: 'EWRITE' });
  }
  return path.join(DEFAULT_CONVERT_DIR, `retinaface-${arch}.safetensors`);
}

/**
 * Weights from a .pth or a converted file (told apart by content, not by extension). A converted
 * file's data section is checked against its data_sha256 metadata when it has one.
 */
export async function loadWeights(file: string, opts: { arch?: Arch } = {}): Promise<LoadedWeights> {
  const bytes = await readInput(file);
  if (sniffWeights(bytes) !== 'tensor-file') return fromCheckpoint(bytes, file, opts.arch);
  const w = weightsFromTensorFile(bytes, file, opts.arch);
  await checkDataSha256(bytes, w.metadata, file, false);
  return w;
}

function fromCheckpoint(bytes: Uint8Array, file: string, forced: Arch | undefined): LoadedWeights {
  return weightsFromCheckpoint(bytes, file, forced, createHash('sha256').update(bytes).digest('hex'));
}

async function readInput(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new RetinaFaceError(describeFsError(e), { file, code: 'ENOENT', cause: e });
  }
}

/** Converting a file onto itself would replace the checkpoint by its conversion. */
async function refuseSameFile(input: string, output: string): Promise<void> {
  const [a, b] = await Promise.all([fs.stat(input), fs.stat(output).catch(() => undefined)]);
  if (b !== undefined && a.dev === b.dev && a.ino === b.ino) {
    throw new RetinaFaceError('is both the input and the output: refusing to overwrite the checkpoint', { file: output, code: 'EINVAL' });
  }
}
