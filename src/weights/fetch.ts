// Weights for a page (or any runtime with fetch): from a URL, with progress, or from bytes the
// page already holds (an ArrayBuffer, a Uint8Array, a dropped File). Pure: no Node built-ins.
//
// A converted file (`retinaface convert`) must carry data_sha256, the SHA-256 of its data
// section, and the bytes received are checked against it: a truncated download, a proxy that
// rewrote the body or an edited file fails here instead of producing wrong faces. A PyTorch
// checkpoint (.pth) is accepted too and converted in memory, as `retinaface convert` would.
// `sha256` pins the whole file's hash when the page knows it in advance.
import { RetinaFaceError } from '../errors.js';
import type { Arch } from '../model/config.js';
import { checkDataSha256 } from './format.js';
import { sha256Hex } from './sha256.js';
import { sniffWeights, weightsFromCheckpoint, weightsFromTensorFile, type LoadedWeights } from './weights.js';

/**
 * 512 MB: ResNet-50's converted file is 105 MB and its checkpoint about as large; a response
 * that declares more is refused before a byte is read, one that streams more is cut off there.
 */
export const DEFAULT_MAX_WEIGHTS_BYTES = 512 * 1024 * 1024;

export interface WeightsProgress {
  /** bytes received so far */
  loaded: number;
  /** the response's Content-Length, when it gave one (compressed size under a Content-Encoding: loaded may pass it) */
  total: number | null;
}

export interface FetchWeightsOptions {
  /** Refuse weights for another architecture. */
  arch?: Arch;
  /** Called as bytes arrive (URL sources), at most once per network chunk. */
  onProgress?: (p: WeightsProgress) => void;
  /** sha256 (hex) of the whole file, when the caller knows it; checked before anything is parsed. */
  sha256?: string;
  /** default DEFAULT_MAX_WEIGHTS_BYTES */
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface FetchedWeights extends LoadedWeights {
  /** the size of the file received */
  bytes: number;
  /** what was checked: 'data_sha256' for a converted file, 'sha256' for a pinned one, both, or 'none' for a .pth */
  checked: string;
}

/** Something a page can hand over as weights. */
export type WeightsSource = string | URL | ArrayBuffer | Uint8Array | Blob;

/**
 * Loads, checks and returns the weights. Errors are RetinaFaceErrors naming the source:
 * HTTP status, a network failure, the size limit, a checksum mismatch, or what is wrong with
 * the file itself (decodeTensorFile, checkStateDict).
 */
export async function fetchWeights(source: WeightsSource, opts: FetchWeightsOptions = {}): Promise<FetchedWeights> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_WEIGHTS_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RetinaFaceError(`invalid option maxBytes: ${String(maxBytes)} (expected an integer >= 1)`, { code: 'EOPTION' });
  }
  const name = sourceName(source);
  let bytes: Uint8Array;
  if (typeof source === 'string' || source instanceof URL) bytes = await download(String(source), name, maxBytes, opts);
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (source instanceof Uint8Array) bytes = source;
  else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    if (source.size > maxBytes) throw tooLarge(name, source.size, maxBytes);
    bytes = new Uint8Array(await source.arrayBuffer());
  } else {
    throw new RetinaFaceError('weights must be a URL, an ArrayBuffer, a Uint8Array or a Blob', { code: 'EOPTION' });
  }
  if (bytes.length > maxBytes) throw tooLarge(name, bytes.length, maxBytes);

  const checked: string[] = [];
  if (opts.sha256 !== undefined) {
    const got = await sha256Hex(bytes);
    if (got !== opts.sha256.toLowerCase()) {
      throw new RetinaFaceError(`sha256 is ${got}, expected ${opts.sha256}`, { file: name, code: 'ECHECKSUM' });
    }
    checked.push('sha256');
  }
  const kind = sniffWeights(bytes);
  if (kind === 'tensor-file') {
    const w = weightsFromTensorFile(bytes, name, opts.arch);
    await checkDataSha256(bytes, w.metadata, name, true);
    checked.push('data_sha256');
    return { ...w, bytes: bytes.length, checked: checked.join(', ') };
  }
  if (kind === 'pth') {
    const w = weightsFromCheckpoint(bytes, name, opts.arch, await sha256Hex(bytes));
    return { ...w, bytes: bytes.length, checked: checked.join(', ') || 'none' };
  }
  throw new RetinaFaceError(`${bytes.length} bytes that are neither a converted weights file nor a PyTorch checkpoint`, { file: name, code: 'EFORMAT' });
}

function sourceName(source: WeightsSource): string {
  if (typeof source === 'string' || source instanceof URL) return String(source);
  if (typeof File !== 'undefined' && source instanceof File) return source.name;
  return '<weights bytes>';
}

function tooLarge(name: string, size: number, maxBytes: number): RetinaFaceError {
  return new RetinaFaceError(`${size} bytes is over the ${maxBytes}-byte limit for weights (option maxBytes)`, { file: name, code: 'ETOOLARGE' });
}

async function download(url: string, name: string, maxBytes: number, opts: FetchWeightsOptions): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, opts.signal === undefined ? {} : { signal: opts.signal });
  } catch (e) {
    throw new RetinaFaceError(`cannot fetch: ${(e as Error).message}`, { file: name, code: 'EDOWNLOAD', cause: e });
  }
  if (!res.ok) throw new RetinaFaceError(`HTTP ${res.status} ${res.statusText}`.trim(), { file: name, code: 'EDOWNLOAD' });
  const header = res.headers.get('content-length');
  const total = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  if (total !== null && total > maxBytes) throw tooLarge(name, total, maxBytes);
  if (res.body === null) return new Uint8Array(await res.arrayBuffer());
  // Read chunk by chunk for the progress callback, into one buffer when the size is known.
  const reader = res.body.getReader();
  let buf = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  opts.onProgress?.({ loaded, total });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (loaded + value.length > maxBytes) throw tooLarge(name, loaded + value.length, maxBytes);
      if (loaded + value.length > buf.length) {
        const grown = new Uint8Array(Math.min(maxBytes, Math.max(2 * buf.length, loaded + value.length)));
        grown.set(buf.subarray(0, loaded));
        buf = grown;
      }
      buf.set(value, loaded);
      loaded += value.length;
      opts.onProgress?.({ loaded, total });
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    if (e instanceof RetinaFaceError) throw e;
    throw new RetinaFaceError(`download interrupted after ${loaded} bytes: ${(e as Error).message}`, { file: name, code: 'EDOWNLOAD', cause: e });
  }
  // No check of loaded against Content-Length: under a Content-Encoding it counts the compressed
  // bytes. A short or damaged body fails the data_sha256 check instead.
  return buf.subarray(0, loaded);
}
