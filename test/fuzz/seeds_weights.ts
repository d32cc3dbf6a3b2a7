// Seeds for the weight parsers, built here opcode by opcode and record by record (never copied
// from a real checkpoint): pickles as torch.save writes them (protocol 2 for both serializations,
// protocol 4's FRAME / MEMOIZE / STACK_GLOBAL variant too), legacy and zip checkpoints around them
// (torch/serialization.py), and tensor files (encodeTensorFile). Each comes as units with fields
// (structure.ts) so that the fuzzer edits opcodes, records and lengths, not only bytes.
import { encodeTensorFile } from '../../src/weights/format.js';
import { expectedShapes } from '../../src/model/retinaface.js';
import type { Tensor } from '../../src/tensor.js';
import { serialize, UnitWriter, type Structured, type Unit } from './structure.js';
import { crc32 } from '../helpers/images.js';

export { crc32 };

// ------------------------------------------------------------------------------------ pickles

/** Writes a pickle one opcode per unit (Lib/pickletools.py names the opcodes). */
export class Pickler {
  readonly units: Unit[] = [];
  private memo = 0;
  constructor(readonly protocol: 2 | 4 = 2) {}

  private op(code: number, build?: (w: UnitWriter) => void): this {
    const w = new UnitWriter().bytes([code]);
    build?.(w);
    this.units.push(w.unit());
    return this;
  }

  proto(): this { return this.op(0x80, (w) => w.uint(this.protocol, 1, false)); }
  frame(n: number): this { return this.op(0x95, (w) => w.uint(n, 8, false)); }
  stop(): this { return this.op(0x2e); }
  mark(): this { return this.op(0x28); }
  none(): this { return this.op(0x4e); }
  bool(v: boolean): this { return this.op(v ? 0x88 : 0x89); }
  int(v: number): this {
    if (v >= 0 && v < 0x100) return this.op(0x4b, (w) => w.uint(v, 1, false));
    if (v >= 0 && v < 0x10000) return this.op(0x4d, (w) => w.uint(v, 2, false));
    return this.op(0x4a, (w) => w.uint(v >>> 0, 4, false));
  }
  /** LONG1 of a little-endian two's-complement integer */
  long(v: bigint): this {
    const bytes: number[] = [];
    let x = v;
    do { bytes.push(Number(x & 0xffn)); x >>= 8n; } while (x !== 0n && x !== -1n);
    if ((bytes[bytes.length - 1]! & 0x80) !== (v < 0n ? 0x80 : 0)) bytes.push(v < 0n ? 0xff : 0);
    return this.op(0x8a, (w) => w.uint(bytes.length, 1, false).bytes(bytes));
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.protocol >= 4 && b.length < 256
      ? this.op(0x8c, (w) => w.uint(b.length, 1, false).bytes(b))
      : this.op(0x58, (w) => w.uint(b.length, 4, false).bytes(b));
  }
  put(): this {
    if (this.protocol >= 4) return this.op(0x94);
    const i = this.memo++;
    return i < 256 ? this.op(0x71, (w) => w.uint(i, 1, false)) : this.op(0x72, (w) => w.uint(i, 4, false));
  }
  get(i: number): this { return i < 256 ? this.op(0x68, (w) => w.uint(i, 1, false)) : this.op(0x6a, (w) => w.uint(i, 4, false)); }
  global(module: string, name: string): this {
    if (this.protocol >= 4) return this.str(module).str(name).op(0x93);
    return this.op(0x63, (w) => w.ascii(`${module}\n${name}\n`));
  }
  emptyTuple(): this { return this.op(0x29); }
  tuple(): this { return this.op(0x74); }
  tupleN(n: 1 | 2 | 3): this { return this.op(0x84 + n); }
  emptyList(): this { return this.op(0x5d); }
  list(): this { return this.op(0x6c); }
  appends(): this { return this.op(0x65); }
  emptyDict(): this { return this.op(0x7d); }
  setitem(): this { return this.op(0x73); }
  setitems(): this { return this.op(0x75); }
  reduce(): this { return this.op(0x52); }
  build(): this { return this.op(0x62); }
  binpersid(): this { return this.op(0x51); }
  bytes(b: Uint8Array): this { return this.op(0x43, (w) => w.uint(b.length, 1, false).bytes(b)); }
  float(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.op(0x47, (w) => w.bytes(b));
  }

  ints(values: number[]): this {
    if (values.length >= 1 && values.length <= 3) {
      for (const v of values) this.int(v);
      return this.tupleN(values.length as 1 | 2 | 3);
    }
    if (values.length === 0) return this.emptyTuple();
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
}

export type StorageType = 'Float' | 'Half' | 'Double' | 'BFloat16' | 'Long';
const STORAGE_BYTES: Record<StorageType, number> = { Float: 4, Half: 2, Double: 8, BFloat16: 2, Long: 8 };

/** One tensor of a state dict: a view (offset, size, stride) of a storage. */
export interface SeedTensor {
  key: string;
  storage: string;
  offset: number;
  size: number[];
  stride: number[];
  /** wrap in torch._utils._rebuild_parameter (an nn.Parameter) */
  parameter?: boolean;
}

export interface SeedStorage {
  key: string;
  type: StorageType;
  numel: number;
}

export interface SeedCheckpoint {
  tensors: SeedTensor[];
  storages: SeedStorage[];
  /** {'state_dict': OrderedDict} as training scripts save it */
  wrapped?: boolean;
  protocol?: 2 | 4;
}

/** The object pickle of a state dict (torch.save(model.state_dict())): units per opcode. */
export function stateDictPickle(c: SeedCheckpoint, legacy: boolean): Unit[] {
  const p = new Pickler(c.protocol ?? 2);
  p.proto();
  if (c.wrapped) p.emptyDict().put().str('state_dict');
  p.global('collections', 'OrderedDict').put().emptyTuple().reduce().put();
  p.mark();
  const types = new Map(c.storages.map((s) => [s.key, s]));
  for (const t of c.tensors) {
    const s = types.get(t.storage)!;
    p.str(t.key).put();
    if (t.parameter) p.global('torch._utils', '_rebuild_parameter').put();
    p.global('torch._utils', '_rebuild_tensor_v2').put();
    p.mark();
    // the persistent id: ('storage', torch.<T>Storage, key, location, numel[, view_metadata])
    p.mark().str('storage').global('torch', `${s.type}Storage`).put().str(s.key).str('cpu').int(s.numel);
    if (legacy) p.none();
    p.tuple().binpersid();
    p.int(t.offset).ints(t.size).ints(t.stride).bool(false);
    p.global('collections', 'OrderedDict').put().emptyTuple().reduce().put();
    p.tuple().reduce().put();
    if (t.parameter) p.bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tupleN(3).reduce().put();
  }
  p.setitems();
  if (c.wrapped) p.setitem();
  p.stop();
  return p.units;
}

/** A storage's bytes: element i is i / 8 - 1 in its own dtype (distinct, exact in every float type). */
function storageBytes(s: SeedStorage): Uint8Array {
  const b = new Uint8Array(s.numel * STORAGE_BYTES[s.type]);
  const v = new DataView(b.buffer);
  for (let i = 0; i < s.numel; i++) {
    const x = i / 8 - 1;
    if (s.type === 'Float') v.setFloat32(4 * i, x, true);
    else if (s.type === 'Double') v.setFloat64(8 * i, x, true);
    else if (s.type === 'Long') v.setBigInt64(8 * i, BigInt(i), true);
    else if (s.type === 'BFloat16') { const f = new DataView(new ArrayBuffer(4)); f.setFloat32(0, x); v.setUint16(2 * i, f.getUint16(0), true); }
    else v.setUint16(2 * i, floatToHalf(x), true);
  }
  return b;
}

function floatToHalf(x: number): number {
  // exact for the small multiples of 1/8 that storageBytes writes
  if (x === 0) return 0;
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

/** A legacy checkpoint (torch < 1.6): magic, protocol, sys_info, object, storage keys, then each storage. */
export function legacyCheckpoint(c: SeedCheckpoint): Structured {
  const head = new Pickler(2);
  head.proto().long(0x1950a86a20f9469cfc6cn).stop();
  head.proto().int(1001).stop();
  head.proto().emptyDict().put().mark()
    .str('protocol_version').int(1001).str('little_endian').bool(true)
    .str('type_sizes').emptyDict().put().mark().str('short').int(2).str('int').int(4).str('long').int(4).setitems()
    .setitems().stop();
  const keys = new Pickler(2);
  keys.proto().emptyList().put().mark();
  for (const s of c.storages) keys.str(s.key);
  keys.appends().stop();
  const data = c.storages.map((s) => new UnitWriter().uint(s.numel, 8, false).bytes(storageBytes(s)).unit());
  return { units: [...head.units, ...stateDictPickle(c, true), ...keys.units, ...data] };
}

// -------------------------------------------------------------------------------- zip archives

/** A stored zip entry as miniz writes it for torch (local header, name, padding extra, data). */
export interface ZipFile {
  name: string;
  data: Uint8Array;
}

/** Zip records as units (APPNOTE.TXT 4.3): local headers + data, central directory, [zip64], EOCD. */
export function zipArchive(files: ZipFile[], opts: { zip64?: boolean; comment?: string } = {}): Structured {
  const units = [];
  const offsets: number[] = [];
  let at = 0;
  const enc = new TextEncoder();
  for (const f of files) {
    const name = enc.encode(f.name);
    // torch pads the local header's extra field so that the data start on a 64-byte boundary
    const pad = (64 - ((at + 30 + name.length + 4) % 64)) % 64;
    const w = new UnitWriter()
      .uint(0x04034b50, 4, false, false).uint(20, 2, false).uint(0, 2, false).uint(0, 2, false)
      .uint(0, 2, false, false).uint(0, 2, false, false) // time, date
      .uint(crc32(f.data), 4, false, false).uint(f.data.length, 4, false).uint(f.data.length, 4, false)
      .uint(name.length, 2, false).uint(4 + pad, 2, false)
      .bytes(name).uint(0x4346, 2, false).uint(pad, 2, false).bytes(new Uint8Array(pad)).bytes(f.data);
    offsets.push(at);
    at += w.length;
    units.push(w.unit());
  }
  const cdStart = at;
  files.forEach((f, i) => {
    const name = enc.encode(f.name);
    const w = new UnitWriter()
      .uint(0x02014b50, 4, false, false).uint(20, 2, false).uint(20, 2, false).uint(0, 2, false).uint(0, 2, false)
      .uint(0, 2, false, false).uint(0, 2, false, false)
      .uint(crc32(f.data), 4, false, false);
    if (opts.zip64) {
      w.uint(0xffffffff, 4, false).uint(0xffffffff, 4, false).uint(name.length, 2, false).uint(28, 2, false).uint(0, 2, false)
        .uint(0, 2, false).uint(0, 2, false).uint(0, 4, false, false).uint(0xffffffff, 4, false).bytes(name)
        .uint(1, 2, false).uint(24, 2, false).uint(f.data.length, 8, false).uint(f.data.length, 8, false).uint(offsets[i]!, 8, false);
    } else {
      w.uint(f.data.length, 4, false).uint(f.data.length, 4, false).uint(name.length, 2, false).uint(0, 2, false).uint(0, 2, false)
        .uint(0, 2, false).uint(0, 2, false).uint(0, 4, false, false).uint(offsets[i]!, 4, false).bytes(name);
    }
    at += w.length;
    units.push(w.unit());
  });
  const cdSize = at - cdStart;
  if (opts.zip64) {
    units.push(new UnitWriter().uint(0x06064b50, 4, false, false).uint(44, 8, false).uint(45, 2, false).uint(45, 2, false)
      .uint(0, 4, false).uint(0, 4, false).uint(files.length, 8, false).uint(files.length, 8, false)
      .uint(cdSize, 8, false).uint(cdStart, 8, false).unit());
    units.push(new UnitWriter().uint(0x07064b50, 4, false, false).uint(0, 4, false).uint(at, 8, false).uint(1, 4, false).unit());
  }
  const comment = enc.encode(opts.comment ?? '');
  units.push(new UnitWriter().uint(0x06054b50, 4, false, false).uint(0, 2, false).uint(0, 2, false)
    .uint(opts.zip64 ? 0xffff : files.length, 2, false).uint(opts.zip64 ? 0xffff : files.length, 2, false)
    .uint(opts.zip64 ? 0xffffffff : cdSize, 4, false).uint(opts.zip64 ? 0xffffffff : cdStart, 4, false)
    .uint(comment.length, 2, false).bytes(comment).unit());
  return { units };
}

/** The entries of a zip checkpoint (torch >= 1.6): archive/data.pkl, archive/data/<key>, archive/version, byteorder. */
export function zipCheckpointFiles(c: SeedCheckpoint, pickle: Uint8Array, opts: { byteorder?: boolean } = {}): ZipFile[] {
  const files: ZipFile[] = [{ name: 'archive/data.pkl', data: pickle }];
  if (opts.byteorder) files.push({ name: 'archive/byteorder', data: new TextEncoder().encode('little') });
  for (const s of c.storages) files.push({ name: `archive/data/${s.key}`, data: storageBytes(s) });
  files.push({ name: 'archive/version', data: new TextEncoder().encode('3\n') });
  return files;
}

export function zipCheckpoint(c: SeedCheckpoint, opts: { byteorder?: boolean; zip64?: boolean } = {}): Structured {
  return zipArchive(zipCheckpointFiles(c, serialize({ units: stateDictPickle(c, false) }), opts), opts);
}

/** Small state dicts covering what the readers handle: dtypes, views, shared storages, wrappers, parameters. */
export const SEED_CHECKPOINTS: SeedCheckpoint[] = [
  { // a conv and a batch norm, contiguous float32
    storages: [{ key: '0', type: 'Float', numel: 24 }, { key: '1', type: 'Float', numel: 3 }, { key: '2', type: 'Long', numel: 1 }],
    tensors: [
      { key: 'conv.weight', storage: '0', offset: 0, size: [3, 2, 2, 2], stride: [8, 4, 2, 1] },
      { key: 'bn.weight', storage: '1', offset: 0, size: [3], stride: [1] },
      { key: 'bn.num_batches_tracked', storage: '2', offset: 0, size: [], stride: [] },
    ],
  },
  { // float16 and bfloat16 storages, wrapped in {'state_dict': ...} with DataParallel's module. prefix
    wrapped: true,
    storages: [{ key: 'a', type: 'Half', numel: 6 }, { key: 'b', type: 'BFloat16', numel: 4 }],
    tensors: [
      { key: 'module.x', storage: 'a', offset: 0, size: [2, 3], stride: [3, 1] },
      { key: 'module.y', storage: 'b', offset: 0, size: [4], stride: [1] },
    ],
  },
  { // views of one storage: a transpose, an offset slice, a stride-0 broadcast; float64
    storages: [{ key: 's', type: 'Double', numel: 12 }],
    tensors: [
      { key: 't', storage: 's', offset: 0, size: [4, 3], stride: [1, 4] },
      { key: 'slice', storage: 's', offset: 5, size: [2, 2], stride: [3, 1] },
      { key: 'broadcast', storage: 's', offset: 2, size: [3, 5], stride: [0, 1] },
    ],
  },
  { // nn.Parameter wrappers, protocol 4 (FRAME-less here, MEMOIZE, STACK_GLOBAL, short strings)
    protocol: 4,
    storages: [{ key: '0', type: 'Float', numel: 4 }, { key: '1', type: 'Float', numel: 0 }],
    tensors: [
      { key: 'p', storage: '0', offset: 0, size: [2, 2], stride: [2, 1], parameter: true },
      { key: 'empty', storage: '1', offset: 0, size: [0, 3], stride: [3, 1] },
    ],
  },
];

/** Names and shapes of a real architecture, with zeros: what the weight loaders check keys against. */
export function archStateDict(arch: 'mobile0.25' | 'resnet50', keep: (i: number) => boolean = () => true): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  let i = 0;
  for (const [k, shape] of expectedShapes(arch)) {
    if (keep(i++)) out.push([k, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }]);
  }
  return out;
}

// ------------------------------------------------------------------------------- tensor files

/** A tensor file's header as an object, its data section, and the units of the file. */
export interface TensorFileSeed {
  header: Record<string, unknown>;
  data: Uint8Array;
}

/** Splits encodeTensorFile's output into its header object and data section. */
export function tensorFileSeed(tensors: [string, Tensor][], metadata: Record<string, string> = {}, checksum = false): TensorFileSeed {
  const bytes = encodeTensorFile(tensors, metadata, { checksum });
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  return { header, data: bytes.slice(8 + n) };
}

/** Units of a tensor file: the length field, the JSON text (padded to 8), one unit per tensor's bytes. */
export function tensorFileUnits(headerJson: string, data: Uint8Array, header: Record<string, unknown>): Structured {
  let json = headerJson;
  const enc = new TextEncoder();
  let h = enc.encode(json);
  const pad = (8 - (h.length % 8)) % 8;
  if (pad > 0) { json += ' '.repeat(pad); h = enc.encode(json); }
  const units: Unit[] = [new UnitWriter().uint(h.length, 8, false).unit(), { bytes: h, fields: [] }];
  // one unit per [begin, end) of the data section, in offset order, where the header is sane
  const cuts = new Set<number>([0, data.length]);
  for (const v of Object.values(header)) {
    const offs = (v as { data_offsets?: unknown } | null)?.data_offsets;
    if (Array.isArray(offs)) for (const o of offs) if (Number.isSafeInteger(o) && o >= 0 && o <= data.length) cuts.add(o as number);
  }
  const sorted = [...cuts].sort((a, b) => a - b);
  for (let i = 0; i + 1 < sorted.length; i++) units.push({ bytes: data.slice(sorted[i], sorted[i + 1]), fields: [] });
  return { units };
}
