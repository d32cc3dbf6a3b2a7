// Converts a PyTorch checkpoint (.pth) into the project's tensor file (docs/weights-format.md),
// and loads weights from either kind of file, checking every tensor against the architecture.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RetinaFaceError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkStateDict } from './check.js';
import { ARCHS, type Arch } from '../model/config.js';
import { expectedShapes } from '../model/retinaface.js';
import { describeFsError, writeTensorFile } from './files.js';
import { decodeTensorFile, FORMAT_NAME, MAX_HEADER_BYTES } from './format.js';
import { readCheckpoint, sniffCheckpoint } from './pth.js';

export type { Arch } from '../model/config.js';

export interface ConvertResult {
  arch: Arch;
  /** sha256 of the input checkpoint's bytes, hex */
  sha256: string;
  tensors: number;
}

export interface LoadedWeights {
  arch: Arch;
  /** in the architecture's order, each checked against its expected shape */
  tensors: Map<string, Tensor>;
  /** the tensor file's metadata; for a .pth, what conversion would write */
  metadata: Record<string, string>;
}

/**
 * Reads `input` (.pth, legacy or zip), checks it against the architecture (detected from the
 * keys unless `opts.arch` is given) and writes `output` atomically. On any error nothing is
 * written and an existing `output` is left untouched.
 */
export async function convertCheckpoint(input: string, output: string, opts: { arch?: Arch } = {}): Promise<ConvertResult> {
  const bytes = await readInput(input);
  if (sniffWeights(bytes) === 'tensor-file') {
    throw new RetinaFaceError(`already a ${FORMAT_NAME} weights file, nothing to convert`, { file: input, code: 'EINVAL' });
  }
  await refuseSameFile(input, output);
  const { arch, tensors, metadata } = fromCheckpoint(bytes, input, opts.arch);
  await writeTensorFile(output, tensors, metadata);
  return { arch, sha256: metadata.source_sha256!, tensors: tensors.size };
}

/** Weights from a .pth or a converted file (told apart by content, not by extension). */
export async function loadWeights(file: string, opts: { arch?: Arch } = {}): Promise<LoadedWeights> {
  const bytes = await readInput(file);
  if (sniffWeights(bytes) !== 'tensor-file') return fromCheckpoint(bytes, file, opts.arch);
  const { metadata, tensors } = decodeTensorFile(bytes, file);
  if (metadata.format !== FORMAT_NAME) {
    throw new RetinaFaceError(`a safetensors file but not a ${FORMAT_NAME} weights file (metadata format is ${metadata.format ?? 'missing'})`, { file, code: 'EFORMAT' });
  }
  const arch = metadata.arch;
  if (!isArch(arch)) throw new RetinaFaceError(`weights file metadata arch is ${arch ?? 'missing'}, expected one of ${ARCHS.join(', ')}`, { file, code: 'EFORMAT' });
  if (opts.arch !== undefined && opts.arch !== arch) {
    throw new RetinaFaceError(`weights are for ${arch}, not ${opts.arch}`, { file, code: 'EWEIGHTS' });
  }
  return { arch, tensors: checked(tensors, arch, file), metadata };
}

/** 'tensor-file' (ours / safetensors), 'pth', or null: decided by the first bytes only. */
export function sniffWeights(bytes: Uint8Array): 'tensor-file' | 'pth' | null {
  // safetensors: u64 LE header length (small), then the JSON header's '{'
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
    if (n <= BigInt(MAX_HEADER_BYTES) && 8 + Number(n) <= bytes.length) return 'tensor-file';
  }
  return sniffCheckpoint(bytes) === null ? null : 'pth';
}

/** From the key names: MobileNet's body.stage1.* or ResNet's body.layer1.* */
export function detectArch(keys: Iterable<string>, file: string): Arch {
  const list = [...keys];
  if (list.some((k) => k.startsWith('body.stage1.'))) return 'mobile0.25';
  if (list.some((k) => k.startsWith('body.layer1.'))) return 'resnet50';
  throw new RetinaFaceError(
    `cannot tell the architecture from the keys (no body.stage1.* or body.layer1.*; first keys: ${list.slice(0, 3).join(', ') || 'none'})`,
    { file, code: 'EWEIGHTS' },
  );
}

function fromCheckpoint(bytes: Uint8Array, file: string, forced: Arch | undefined): LoadedWeights {
  const raw = readCheckpoint(bytes, file);
  const arch = forced ?? detectArch(raw.keys(), file);
  const metadata = {
    arch,
    source_sha256: createHash('sha256').update(bytes).digest('hex'),
    source_file: path.basename(file),
  };
  return { arch, tensors: checked(raw, arch, file), metadata };
}

/** Checks against the architecture and returns the tensors in its order. */
function checked(tensors: Map<string, Tensor>, arch: Arch, file: string): Map<string, Tensor> {
  const expected = expectedShapes(arch);
  checkStateDict(tensors, expected, file, arch);
  return new Map([...expected.keys()].map((k) => [k, tensors.get(k)!]));
}

function isArch(s: string | undefined): s is Arch {
  return (ARCHS as readonly string[]).includes(s ?? '');
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
