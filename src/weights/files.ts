// Node-side file I/O for tensor files: read with a clear error, write atomically (a temporary
// file renamed into place) so that nothing half-written is ever left under the final name.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RetinaFaceError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { decodeTensorFile, encodeTensorFile, type EncodeOptions, type TensorFile } from './format.js';

export async function readTensorFile(file: string): Promise<TensorFile> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new RetinaFaceError(describeFsError(e), { file, code: 'ENOENT', cause: e });
  }
  return decodeTensorFile(bytes, file);
}

export async function writeTensorFile(
  file: string,
  tensors: Iterable<[string, Tensor]>,
  metadata: Record<string, string> = {},
  opts: EncodeOptions = {},
): Promise<void> {
  await writeFileAtomic(file, encodeTensorFile(tensors, metadata, opts));
}

export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await fs.writeFile(tmp, bytes, { flag: 'wx' });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new RetinaFaceError(`cannot write: ${describeFsError(e)}`, { file, code: 'EWRITE', cause: e });
  }
}

export function describeFsError(e: unknown): string {
  const code = (e as { code?: string }).code;
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EISDIR': return 'is a directory, expected a file';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'EEXIST': return 'already exists';
    case 'ENOSPC': return 'no space left on device';
    default: return (e as Error).message ?? String(e);
  }
}
