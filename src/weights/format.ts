// The project's tensor container, for weights and for PyTorch reference tensors alike.
// It is byte-compatible with safetensors (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of JSON header, space-padded to a multiple of 8 | raw data
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets into
// the data section) and holds string metadata under "__metadata__". docs/weights-format.md
// specifies it. This module is pure (no Node built-ins) so that the browser build can use it.
import { RetinaFaceError } from '../errors.js';
import { numel, type Tensor } from '../tensor.js';
import { printable } from '../printable.js';
import { sha256Hex, sha256HexSync } from './sha256.js';

export const FORMAT_NAME = 'retinaface-ts';
export const FORMAT_VERSION = '1';
/** Metadata key: SHA-256 (hex) of the data section (EncodeOptions.checksum). */
export const DATA_SHA256 = 'data_sha256';
/** safetensors refuses headers over 100 MB; so do we (a hostile length must not allocate). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Tensors are written back to back; the data section starts on this boundary. */
const HEADER_ALIGN = 8;

const DTYPE_BYTES = { F32: 4, F16: 2 } as const;
export type DType = keyof typeof DTYPE_BYTES;

export interface TensorFile {
  metadata: Record<string, string>;
  tensors: Map<string, Tensor>;
}

export interface EncodeOptions {
  /**
   * Write `data_sha256`, the SHA-256 of the data section, into the metadata, so that a reader
   * can check the bytes it received against the file itself (the browser loader requires it).
   */
  checksum?: boolean;
}

export function encodeTensorFile(
  tensors: Iterable<[string, Tensor]>,
  metadata: Record<string, string> = {},
  opts: EncodeOptions = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  const meta: Record<string, string> = { format: FORMAT_NAME, format_version: FORMAT_VERSION, ...metadata };
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') throw new Error(`tensor file metadata ${k} must be a string`);
  }
  const list: [string, Tensor][] = [];
  let offset = 0;
  const entries: Record<string, unknown> = {};
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name in entries) throw new Error(`tensor file: duplicate or reserved name ${name}`);
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`tensor file: ${name} has shape [${t.shape}] but ${t.data.length} values`);
    }
    const bytes = t.data.length * 4;
    entries[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    list.push([name, t]);
    offset += bytes;
  }
  const data = new Uint8Array(offset);
  const dataView = new DataView(data.buffer);
  let pos = 0;
  for (const [, t] of list) {
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (littleEndianHost) data.set(src, pos);
    else for (let i = 0; i < t.data.length; i++) dataView.setFloat32(pos + 4 * i, t.data[i]!, true);
    pos += src.length;
  }
  if (opts.checksum === true) meta[DATA_SHA256] = sha256HexSync(data);
  header.__metadata__ = meta;
  Object.assign(header, entries);
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let headerBytes = enc.encode(json);
  const pad = (HEADER_ALIGN - ((8 + headerBytes.length) % HEADER_ALIGN)) % HEADER_ALIGN;
  if (pad > 0) {
    json += ' '.repeat(pad);
    headerBytes = enc.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** The data section of a tensor file whose header decodeTensorFile has accepted. */
function dataSection(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  return bytes.subarray(8 + n);
}

/**
 * Checks the file's data section against its own `data_sha256` metadata (written by
 * `retinaface convert`). A file without the key passes unless `required`; a mismatch (a
 * truncated or corrupted download, an edited file) always fails.
 */
export async function checkDataSha256(bytes: Uint8Array, metadata: Record<string, string>, source: string, required: boolean): Promise<void> {
  const want = metadata[DATA_SHA256];
  if (want === undefined) {
    if (!required) return;
    throw new RetinaFaceError(`has no ${DATA_SHA256} in its metadata, so its bytes cannot be checked; convert the checkpoint again with \`retinaface convert\` (version 0.2 or later)`,
      { file: source, code: 'EWEIGHTS' });
  }
  const got = await sha256Hex(dataSection(bytes));
  if (got !== want.toLowerCase()) {
    throw new RetinaFaceError(`sha256 of the tensor data is ${got}, but the file's ${DATA_SHA256} says ${want}: the file is corrupted or was modified`,
      { file: source, code: 'ECHECKSUM' });
  }
}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Parses and validates a tensor file as safetensors does: header length within bounds and
 * within the file, JSON object, known dtypes, integer shapes, offsets inside the data section,
 * shape x dtype = bytes, and tensors covering the data section with no holes or overlaps.
 * `source` names the file in error messages.
 */
export function decodeTensorFile(bytes: Uint8Array, source = '<buffer>'): TensorFile {
  const fail = (msg: string): never => {
    throw new RetinaFaceError(`not a valid tensor file (${msg})`, { file: source, code: 'EFORMAT' });
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds ${MAX_HEADER_BYTES}`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) fail(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    fail('header is not UTF-8 JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    // Tensor names come from the file: escaped in messages (printable), which stay one line.
    // Found by the fuzzer (test/fuzz, tensor-file): a name holding a newline split the message.
    const shown = printable(name);
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata ${printable(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') fail(`entry ${shown} is not an object`);
    // own keys only: 'toString' in DTYPE_BYTES is true through Object.prototype
    if (typeof e.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, e.dtype)) fail(`tensor ${shown} has unsupported dtype ${printable(String(e.dtype))}`);
    const dtype = e.dtype as DType;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${shown} has an invalid shape`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor ${shown} has invalid data_offsets`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen) fail(`tensor ${shown} data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section`);
    const count = numel(shape as number[]);
    if (count * DTYPE_BYTES[dtype] !== end - begin) {
      fail(`tensor ${shown}: shape [${(shape as number[]).join(', ')}] x ${dtype} is ${count * DTYPE_BYTES[dtype]} bytes, offsets give ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // Like safetensors: the tensors tile the data section exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor) fail(`tensor ${printable(e.name)} starts at ${e.begin}, expected ${cursor} (hole or overlap)`);
    cursor = e.end;
  }
  if (cursor !== dataLen) fail(`data section is ${dataLen} bytes but the tensors cover ${cursor}`);

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const count = numel(e.shape);
    const data = new Float32Array(count);
    const base = dataStart + e.begin;
    if (e.dtype === 'F32') {
      if (littleEndianHost) {
        new Uint8Array(data.buffer).set(bytes.subarray(base, base + count * 4));
      } else {
        for (let i = 0; i < count; i++) data[i] = view.getFloat32(base + 4 * i, true);
      }
    } else {
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(base + 2 * i, true));
    }
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { metadata, tensors };
}

/** IEEE 754 binary16 -> number (exact: every half is representable in float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
