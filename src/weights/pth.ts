// Reads PyTorch checkpoints (torch.save of a state dict) with no Python and nothing executed.
// Two serializations exist (torch/serialization.py):
//  - legacy (torch < 1.6, and _use_new_zipfile_serialization=False; the official
//    mobilenet0.25_Final.pth): five pickles back to back (magic number 0x1950a86a20f9469cfc6c,
//    protocol version 1001, sys_info, the object, the sorted list of storage keys), then for each
//    key in that list: u64 LE element count + the storage's raw little-endian bytes;
//  - zip (torch >= 1.6): <archive>/data.pkl (the object) and <archive>/data/<key> (raw bytes of
//    each storage), optionally <archive>/byteorder ('little' | 'big', torch >= 2.1).
// In both, a tensor is _rebuild_tensor_v2(storage, offset, size, stride, ...) whose storage is a
// persistent id ('storage', torch.<T>Storage, key, location, numel[, view_metadata]). Several
// tensors may view one storage (slices, transposes): each is gathered into its own contiguous
// Float32Array here. Pure module (no Node built-ins).
import { RetinaFaceError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { halfToFloat } from './format.js';
import { printable } from '../printable.js';
import { describe, PersistentId, PyDict, PyGlobal, PyList, PyTuple, TensorRef, unpickle, type PickleValue } from './pickle.js';
import { isZip, readZip } from './zip.js';

/** torch/serialization.py MAGIC_NUMBER and PROTOCOL_VERSION of the legacy format */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/**
 * Output budget: the float32 tensors we build may total at most this many times the file's
 * bytes. Honest checkpoints need at most 2 (float16 widened to float32) and views of one storage
 * a little more; a hostile file of stride-0 views must not make us allocate gigabytes.
 */
export const MAX_OUTPUT_BYTES_PER_INPUT_BYTE = 4;
/** Slack on the budget for tiny files (a few scalars cost more output than pickle bytes). */
const OUTPUT_BUDGET_SLACK = 1 << 16;

type StorageDType = 'Float' | 'Half' | 'BFloat16' | 'Double' | 'Long' | 'Int' | 'Short' | 'Char' | 'Byte' | 'Bool';
const ELEMENT_BYTES: Record<StorageDType, number> = {
  Float: 4, Half: 2, BFloat16: 2, Double: 8, Long: 8, Int: 4, Short: 2, Char: 1, Byte: 1, Bool: 1,
};
/** PyTorch's dtype names, for messages */
const TORCH_DTYPE: Record<StorageDType, string> = {
  Float: 'float32', Half: 'float16', BFloat16: 'bfloat16', Double: 'float64', Long: 'int64',
  Int: 'int32', Short: 'int16', Char: 'int8', Byte: 'uint8', Bool: 'bool',
};
const FLOATING = new Set<StorageDType>(['Float', 'Half', 'BFloat16', 'Double']);

interface Storage {
  key: string;
  dtype: StorageDType;
  numel: number;
  /** raw little-endian bytes, a view into the file; set once the storage's data are located */
  bytes?: Uint8Array;
  /** decoded to float32 on first strided use */
  floats?: Float32Array;
}

export type CheckpointFormat = 'zip' | 'legacy';

/** 'zip' or 'legacy' when the bytes start like a PyTorch checkpoint, else null (no parsing). */
export function sniffCheckpoint(bytes: Uint8Array): CheckpointFormat | null {
  if (isZip(bytes)) return 'zip';
  // every legacy checkpoint starts with a pickle PROTO opcode (0x80) holding the magic number
  if (bytes.length >= 2 && bytes[0] === 0x80) return 'legacy';
  return null;
}

/**
 * The state dict of a PyTorch checkpoint as contiguous float32 tensors, in the file's order.
 * Unwraps {'state_dict': ...}, drops num_batches_tracked, strips a 'module.' prefix (DataParallel)
 * when every key has it. `source` names the file in error messages.
 */
export function readCheckpoint(bytes: Uint8Array, source: string): Map<string, Tensor> {
  const fail = (msg: string, code = 'EFORMAT'): never => {
    throw new RetinaFaceError(msg, { file: source, code });
  };
  if (bytes.length === 0) fail('empty file, expected a PyTorch checkpoint (.pth)');
  const format = sniffCheckpoint(bytes);
  let root: PickleValue;
  let storages: Map<string, Storage>;
  if (format === 'zip') {
    ({ root, storages } = readZipCheckpoint(bytes, source, fail));
  } else if (format === 'legacy') {
    ({ root, storages } = readLegacyCheckpoint(bytes, source, fail));
  } else {
    if (bytes.length > 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
      fail('a tar-format checkpoint (torch < 0.4) is not supported: re-save it with a newer torch.save');
    }
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(`not a PyTorch checkpoint (starts with ${head}; expected a zip archive or a legacy pickle)`);
  }
  return stateDictTensors(root!, storages!, bytes.length, fail);
}

type Fail = (msg: string, code?: string) => never;

function readZipCheckpoint(bytes: Uint8Array, source: string, fail: Fail): { root: PickleValue; storages: Map<string, Storage> } {
  const entries = readZip(bytes, source);
  // torch names the top folder after the file ('archive' since 1.x): find <prefix>/data.pkl.
  const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    fail(pkl.length === 0 ? 'a zip archive without <archive>/data.pkl: not a PyTorch checkpoint' : `a zip archive with ${pkl.length} data.pkl entries`);
  }
  const prefix = pkl[0]!.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined && String.fromCharCode(...byteorder.data.subarray(0, 16)) !== 'little') {
    fail('a big-endian checkpoint is not supported: re-save it on a little-endian machine');
  }
  // the entry name is the file's: escaped (found by the fuzzer, pth-zip: 'archi\ne/data.pkl' split the message)
  const { value, persistentIds } = unpickle(entries.get(pkl[0]!)!.data, 0, `${source} (${printable(pkl[0]!)})`);
  const storages = registerStorages(persistentIds, 5, fail);
  for (const s of storages.values()) {
    const name = `${prefix}data/${s.key}`;
    const entry = entries.get(name);
    if (entry === undefined) fail(`storage ${printable(s.key)} has no entry ${printable(name)} in the archive: truncated or corrupt file`);
    const want = s.numel * ELEMENT_BYTES[s.dtype];
    if (entry!.data.length !== want) {
      fail(`entry ${printable(name)} holds ${entry!.data.length} bytes but its ${s.numel} x ${TORCH_DTYPE[s.dtype]} storage needs ${want}`);
    }
    s.bytes = entry!.data;
  }
  return { root: value, storages };
}

function readLegacyCheckpoint(bytes: Uint8Array, source: string, fail: Fail): { root: PickleValue; storages: Map<string, Storage> } {
  const magic = unpickle(bytes, 0, source);
  if (magic.value !== LEGACY_MAGIC) fail('a pickle without PyTorch\'s magic number: not a PyTorch checkpoint');
  const version = unpickle(bytes, magic.end, source);
  // the value is the file's (a str with a newline split this message: found by the fuzzer, pth-legacy)
  if (version.value !== LEGACY_PROTOCOL_VERSION) fail(`legacy checkpoint protocol version ${printable(String(version.value))}, expected ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = unpickle(bytes, version.end, source);
  if (!(sysInfo.value instanceof PyDict)) fail('legacy checkpoint sys_info is not a dict');
  if ((sysInfo.value as PyDict).map.get('little_endian') !== true) {
    fail('a big-endian checkpoint is not supported: re-save it on a little-endian machine');
  }
  const object = unpickle(bytes, sysInfo.end, source);
  const keys = unpickle(bytes, object.end, source);
  const storages = registerStorages(object.persistentIds, 6, fail);
  if (!(keys.value instanceof PyList) || !keys.value.items.every((k) => typeof k === 'string')) {
    fail('legacy checkpoint storage key list is not a list of strings');
  }
  // The data section: for each listed key, u64 LE element count then the raw bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = keys.end;
  for (const key of (keys.value as PyList).items as string[]) {
    const s = storages.get(key);
    if (s === undefined) fail(`storage ${printable(key)} is listed but no tensor refers to it`);
    if (s!.bytes !== undefined) fail(`storage ${printable(key)} is listed twice`);
    if (p + 8 > bytes.length) fail(`truncated file: storage ${printable(key)} starts at byte ${p}, past the end of the ${bytes.length}-byte file`);
    const lo = view.getUint32(p, true), hi = view.getUint32(p + 4, true);
    if (hi !== 0 || lo !== s!.numel) fail(`storage ${printable(key)} holds ${hi ? `${hi} * 2^32 + ` : ''}${lo} elements but the pickle declares ${s!.numel}`);
    const n = s!.numel * ELEMENT_BYTES[s!.dtype];
    p += 8;
    if (p + n > bytes.length) fail(`truncated file: storage ${printable(key)} needs ${n} bytes at byte ${p} but the file ends at ${bytes.length}`);
    s!.bytes = bytes.subarray(p, p + n);
    p += n;
  }
  for (const s of storages.values()) {
    if (s.bytes === undefined) fail(`storage ${printable(s.key)} is referred to but not in the storage key list`);
  }
  if (p !== bytes.length) fail(`${bytes.length - p} unexpected bytes after the last storage`);
  return { root: object.value, storages };
}

/**
 * Parses torch's persistent ids: ('storage', torch.<T>Storage, key, location, numel) in zip
 * files, plus view_metadata (always None since torch 0.4) in legacy ones.
 */
function registerStorages(ids: PersistentId[], arity: number, fail: Fail): Map<string, Storage> {
  const storages = new Map<string, Storage>();
  for (const { pid } of ids) {
    const items = pid instanceof PyTuple ? pid.items : [];
    if (items.length !== arity || items[0] !== 'storage') fail(`unexpected persistent id (${describe(pid)}), expected a ('storage', ...) tuple of ${arity}`);
    const [, type, key, , numel, viewMetadata] = items;
    if (!(type instanceof PyGlobal) || !(type.name.replace(/Storage$/, '') in ELEMENT_BYTES)) fail(`storage type is ${describe(type)}, not a torch storage type`);
    if (typeof key !== 'string') fail(`storage key is ${describe(key)}, not a str`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) fail(`storage ${printable(String(key))} size is ${describe(numel)}, not a non-negative int`);
    if (arity === 6 && viewMetadata !== null) fail(`storage ${printable(String(key))} is a legacy storage view (torch < 0.4), which is not supported`);
    const dtype = (type as PyGlobal).name.replace(/Storage$/, '') as StorageDType;
    const known = storages.get(key as string);
    if (known === undefined) storages.set(key as string, { key: key as string, dtype, numel: numel as number });
    else if (known.dtype !== dtype || known.numel !== numel) fail(`storage ${printable(String(key))} is declared twice with different types or sizes`);
  }
  return storages;
}

function stateDictTensors(root: PickleValue, storages: Map<string, Storage>, fileBytes: number, fail: Fail): Map<string, Tensor> {
  if (!(root instanceof PyDict)) fail(`the checkpoint holds ${describe(root)}, not a state dict`);
  let dict = root as PyDict;
  const wrapped = dict.map.get('state_dict');
  if (wrapped instanceof PyDict) dict = wrapped;

  const refs: [string, TensorRef][] = [];
  for (const [key, value] of dict.map) {
    if (typeof key !== 'string') fail(`state dict key ${printable(String(key))} is not a str`);
    if (!(value instanceof TensorRef)) fail(`state dict entry ${printable(String(key))} is ${describe(value)}, not a tensor`);
    // BatchNorm's counter of training steps: an int64 scalar that inference never uses
    if ((key as string).endsWith('num_batches_tracked')) continue;
    refs.push([key as string, value as TensorRef]);
  }
  if (refs.length === 0) fail('the state dict holds no tensors');
  // DataParallel saves module.<name>: strip it when every key has it (the official Resnet50_Final.pth)
  const strip = refs.every(([k]) => k.startsWith('module.'));

  let budget = MAX_OUTPUT_BYTES_PER_INPUT_BYTE * fileBytes + OUTPUT_BUDGET_SLACK;
  const out = new Map<string, Tensor>();
  for (const [key, ref] of refs) {
    const name = strip ? key.slice('module.'.length) : key;
    if (out.has(name)) fail(`state dict key ${printable(name)} appears twice`);
    const bad = (msg: string): never => fail(`tensor ${printable(key)}: ${msg}`);
    if (!(ref.storage instanceof PersistentId)) bad('its storage is not a persistent storage reference');
    const storage = storages.get(((ref.storage as PersistentId).pid as PyTuple).items[2] as string)!;
    if (!FLOATING.has(storage.dtype)) bad(`dtype ${TORCH_DTYPE[storage.dtype]} is not floating point (only num_batches_tracked may be an integer)`);
    let numel = 1;
    for (const d of ref.size) numel *= d;
    if (numel * 4 > budget) {
      bad(`${numel} elements exceed what a ${fileBytes}-byte file may expand to (${MAX_OUTPUT_BYTES_PER_INPUT_BYTE} bytes out per byte in)`);
    }
    budget -= numel * 4;
    // the view must stay inside its storage: offset + sum((size - 1) * stride) < numel
    let last = ref.storageOffset;
    for (let d = 0; d < ref.size.length; d++) last += (ref.size[d]! - 1) * ref.stride[d]!;
    if (numel > 0 && last >= storage.numel) {
      bad(`view (offset ${ref.storageOffset}, size [${ref.size}], stride [${ref.stride}]) reaches element ${last} of a ${storage.numel}-element storage`);
    }
    out.set(name, { shape: [...ref.size], data: gather(storage, ref, numel) });
  }
  return out;
}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Copies the view into a fresh contiguous float32 array (row-major). */
function gather(storage: Storage, ref: TensorRef, numel: number): Float32Array {
  const { size, stride, storageOffset } = ref;
  const out = new Float32Array(numel);
  if (numel === 0) return out;
  let contiguous = true;
  for (let d = size.length - 1, expect = 1; d >= 0; d--) {
    if (size[d]! !== 1 && stride[d] !== expect) contiguous = false;
    expect *= size[d]!;
  }
  // The common case, one copy from the file: a contiguous float32 tensor on a little-endian host.
  if (contiguous && storage.dtype === 'Float' && littleEndianHost) {
    new Uint8Array(out.buffer).set(storage.bytes!.subarray(4 * storageOffset, 4 * (storageOffset + numel)));
    return out;
  }
  const src = (storage.floats ??= decodeStorage(storage));
  if (contiguous) {
    out.set(src.subarray(storageOffset, storageOffset + numel));
    return out;
  }
  // Strided walk: an odometer over the dimensions, moving the source index by each stride.
  // Dimensions of size 1 never move it and are dropped first: the odometer carries through every
  // trailing one once per element, so a pickle of 60000 unit dimensions (DUP is one byte each)
  // made a 120 KB file cost numel x ndim = 6e9 steps (test/fuzz/regressions.ts). What remains has
  // at most log2(numel) dimensions.
  const dims = size.map((n, d) => [n, stride[d]!] as const).filter(([n]) => n !== 1);
  const ndim = dims.length;
  const index = new Array<number>(ndim).fill(0);
  let s = storageOffset;
  for (let i = 0; i < numel; i++) {
    out[i] = src[s]!;
    for (let d = ndim - 1; d >= 0; d--) {
      const [n, st] = dims[d]!;
      if (++index[d]! < n) {
        s += st;
        break;
      }
      s -= (n - 1) * st;
      index[d] = 0;
    }
  }
  return out;
}

/** A whole floating-point storage as float32 (float64 rounds to nearest; halves are exact). */
function decodeStorage(storage: Storage): Float32Array {
  const bytes = storage.bytes!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(storage.numel);
  switch (storage.dtype) {
    case 'Float':
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'Double':
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'Half': {
      // a 65536-entry table: one lookup per element instead of bit arithmetic
      const table = halfTable();
      for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(2 * i, true)]!;
      break;
    }
    case 'BFloat16': {
      // bfloat16 is the high half of a float32
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
    default:
      throw new Error(`decodeStorage: ${storage.dtype} is not floating point`);
  }
  return out;
}

let halves: Float32Array | undefined;
function halfTable(): Float32Array {
  if (halves !== undefined) return halves;
  halves = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) halves[h] = halfToFloat(h);
  return halves;
}
