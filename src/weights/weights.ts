// Weights from bytes: a converted tensor file or a PyTorch checkpoint, checked against the
// architecture. Pure (no Node built-ins): convert.ts adds files for Node, fetch.ts adds URLs,
// progress and the sha256 check for the browser.
import { RetinaFaceError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { ARCHS, type Arch } from '../model/config.js';
import { checkWeights } from '../model/retinaface.js';
import { decodeTensorFile, FORMAT_NAME, MAX_HEADER_BYTES } from './format.js';
import { printable } from '../printable.js';
import { readCheckpoint, sniffCheckpoint } from './pth.js';

export interface LoadedWeights {
  arch: Arch;
  /** in the architecture's order, each checked against its expected shape */
  tensors: Map<string, Tensor>;
  /** the tensor file's metadata; for a .pth, what conversion would write */
  metadata: Record<string, string>;
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
    `cannot tell the architecture from the keys (no body.stage1.* or body.layer1.*; first keys: ${list.slice(0, 3).map(printable).join(', ') || 'none'})`,
    { file, code: 'EWEIGHTS' },
  );
}

/** A converted tensor file's weights: format, arch metadata and every tensor checked. */
export function weightsFromTensorFile(bytes: Uint8Array, file: string, forced?: Arch): LoadedWeights {
  const { metadata, tensors } = decodeTensorFile(bytes, file);
  if (metadata.format !== FORMAT_NAME) {
    throw new RetinaFaceError(`a safetensors file but not a ${FORMAT_NAME} weights file (metadata format is ${metadata.format === undefined ? 'missing' : printable(metadata.format)})`, { file, code: 'EFORMAT' });
  }
  const arch = metadata.arch;
  if (!isArch(arch)) throw new RetinaFaceError(`weights file metadata arch is ${arch === undefined ? 'missing' : printable(arch)}, expected one of ${ARCHS.join(', ')}`, { file, code: 'EFORMAT' });
  if (forced !== undefined && forced !== arch) {
    throw new RetinaFaceError(`weights are for ${arch}, not ${forced}`, { file, code: 'EWEIGHTS' });
  }
  return { arch, tensors: checked(tensors, arch, file), metadata };
}

/**
 * A PyTorch checkpoint's weights (read without executing anything, src/weights/pth.ts), with the
 * metadata that conversion writes; `sourceSha256` is the sha256 of `bytes`, computed by the caller.
 */
export function weightsFromCheckpoint(bytes: Uint8Array, file: string, forced: Arch | undefined, sourceSha256: string): LoadedWeights {
  const raw = readCheckpoint(bytes, file);
  const arch = forced ?? detectArch(raw.keys(), file);
  const metadata = { arch, source_sha256: sourceSha256, source_file: baseName(file) };
  return { arch, tensors: checked(raw, arch, file), metadata };
}

/** The last component of a path or URL (metadata never records where a file was). */
function baseName(file: string): string {
  return file.split(/[/\\]/).pop()!.split(/[?#]/)[0]!;
}

/** Checks against the architecture (once: the model built from them trusts the check) and returns the tensors in its order. */
function checked(tensors: Map<string, Tensor>, arch: Arch, file: string): Map<string, Tensor> {
  return checkWeights(arch, tensors, file, arch);
}

export function isArch(s: string | undefined): s is Arch {
  return (ARCHS as readonly string[]).includes(s ?? '');
}
