// A safe subset of Python's unpickler (CPython Lib/pickle.py, _Unpickler), just large enough for
// PyTorch state dicts. Python's pickle calls whatever the file names (GLOBAL posix.system + REDUCE
// is a shell); this one never calls, imports or evaluates anything from the file:
//  - only the opcodes that torch.save emits for state dicts are known (protocol 2, torch's
//    default, plus what protocols 4 and 5 add: FRAME, MEMOIZE, STACK_GLOBAL, short strings);
//    any other opcode (INST, OBJ, EXT*, PERSID, buffers, text opcodes) is refused by name;
//  - a global may be named only when it is on ALLOWED_GLOBALS; REDUCE / NEWOBJ / BUILD apply only
//    to those, and each allowlisted callable maps to a TypeScript function here that builds an
//    inert descriptor (an empty dict, a TensorRef): the file chooses data, never code;
//  - BINPERSID yields a PersistentId descriptor that the caller (pth.ts) resolves to storage bytes.
// Bounds: every declared length is checked against the bytes left before anything is read or
// allocated; MARK nesting is capped; no value is ever walked recursively (a 10^6-deep tuple from a
// hostile file costs memory proportional to its bytes and nothing more). Work and memory are
// linear in the pickle's length. Pure module (no Node built-ins).
import { RetinaFaceError } from '../errors.js';
import { printable } from '../printable.js';

/** Python tuples (immutable) */
export class PyTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/** Python lists */
export class PyList {
  readonly items: PickleValue[] = [];
}

export type DictKey = string | number | bigint | boolean | null;

/** Python dicts and collections.OrderedDict (JS Maps keep insertion order, as both do). */
export class PyDict {
  readonly map = new Map<DictKey, PickleValue>();
  /** BUILD's argument: for torch state dicts, {'_metadata': ...} (module versions), unused here. */
  state: PickleValue | undefined;
  constructor(readonly ordered: boolean) {}
}

/** An allowlisted global named by the pickle (a storage type such as torch.FloatStorage, or a callable). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** BINPERSID's argument, for the caller to resolve (torch: ('storage', type, key, location, numel, ...)). */
export class PersistentId {
  constructor(readonly pid: PickleValue) {}
}

/** What torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...) would build: a view. */
export class TensorRef {
  constructor(
    readonly storage: PickleValue,
    readonly storageOffset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyTuple | PyList | PyDict | PyGlobal | PersistentId | TensorRef;

type Reducer = (args: readonly PickleValue[], fail: (msg: string) => never) => PickleValue;

/**
 * The globals a state dict may name. A null entry may be named (torch.FloatStorage in a
 * persistent id) but not called; a function entry is what REDUCE/NEWOBJ build instead of calling.
 */
export const ALLOWED_GLOBALS: ReadonlyMap<string, Reducer | null> = new Map<string, Reducer | null>([
  // OrderedDict() / dict(): the state dict itself and every tensor's empty backward_hooks.
  ['collections.OrderedDict', (args, fail) => emptyDict(true, args, fail)],
  ['builtins.dict', (args, fail) => emptyDict(false, args, fail)],
  // torch/_utils.py: _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  // backward_hooks, metadata=None); _rebuild_tensor(storage, storage_offset, size, stride).
  ['torch._utils._rebuild_tensor_v2', (args, fail) => tensorRef(args, 6, 7, fail)],
  ['torch._utils._rebuild_tensor', (args, fail) => tensorRef(args, 4, 4, fail)],
  // _rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is its data here.
  ['torch._utils._rebuild_parameter', (args, fail) => {
    if (args.length !== 3 || !(args[0] instanceof TensorRef)) fail('_rebuild_parameter expects (tensor, requires_grad, backward_hooks)');
    return args[0]!;
  }],
  // Storage types, named by persistent ids (torch/storage.py _LegacyStorage subclasses).
  ...['Float', 'Half', 'BFloat16', 'Double', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool']
    .map((t): [string, null] => [`torch.${t}Storage`, null]),
]);

/** Longest accepted LONG1/LONG4 integer: torch writes at most the 10-byte legacy magic number. */
const MAX_LONG_BYTES = 64;
/** MARK nesting: state dicts use 3 levels; 100 is generous and keeps hostile nesting cheap. */
export const MAX_MARK_DEPTH = 100;
/** Highest pickle protocol (Python 3.8+ writes 5). */
const MAX_PROTOCOL = 5;

// Opcode names (Lib/pickletools.py) for error messages, including those we refuse.
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

export interface UnpickleResult {
  value: PickleValue;
  /** offset just past the STOP opcode (the legacy format concatenates several pickles) */
  end: number;
  /** every BINPERSID seen, in order: the storages the pickle refers to, wherever they sit */
  persistentIds: PersistentId[];
}

/**
 * Unpickles one pickle starting at `offset`. Throws RetinaFaceError naming `source` on anything
 * malformed (code EFORMAT) or outside the safe subset (code EUNSAFE); never executes anything.
 */
export function unpickle(bytes: Uint8Array, offset: number, source: string): UnpickleResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  const persistentIds: PersistentId[] = [];
  let p = offset;
  let op = 0;
  let opAt = offset;

  const fail = (msg: string): never => {
    throw new RetinaFaceError(`invalid pickle at byte ${opAt} (${msg})`, { file: source, code: 'EFORMAT' });
  };
  const refuse = (msg: string): never => {
    throw new RetinaFaceError(`refusing unsafe pickle at byte ${opAt}: ${msg}; nothing was executed`, { file: source, code: 'EUNSAFE' });
  };
  const need = (n: number): number => {
    if (n > bytes.length - p) fail(`${opName(op)} needs ${n} bytes but the data end after ${bytes.length - p}: truncated file?`);
    const at = p;
    p += n;
    return at;
  };
  const u8 = (): number => bytes[need(1)]!;
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const hi = view.getUint32(at + 4, true);
    // a length beyond 2^53 can never fit in the remaining bytes: report it as such
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + view.getUint32(at, true);
  };
  const take = (n: number): Uint8Array => {
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail(`${opName(op)} argument has no terminating newline`);
    const s = latin1(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail(`${opName(op)} on an empty stack or at a mark`);
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail(`${opName(op)} with nothing to apply to`);
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) fail(`${opName(op)} without a MARK`);
    const items = stack.splice(m!) as StackItem[];
    items.shift(); // the MARK itself
    return items as PickleValue[];
  };
  const global = (module: string, name: string): PyGlobal => {
    const qualified = `${module === '__builtin__' ? 'builtins' : module}.${name}`;
    if (!ALLOWED_GLOBALS.has(qualified)) {
      refuse(`global ${printable(module)}.${printable(name)} is not on the state-dict allowlist (docs/weights-format.md)` +
        // capitalized names are classes: most likely a whole pickled nn.Module
        (/^[A-Z]/.test(name) && !module.startsWith('torch') ? ': a pickled model object? save model.state_dict() instead' : ''));
    }
    const dot = qualified.lastIndexOf('.');
    return new PyGlobal(qualified.slice(0, dot), qualified.slice(dot + 1));
  };
  const call = (callable: PickleValue, args: PickleValue, how: string): PickleValue => {
    if (!(callable instanceof PyGlobal)) refuse(`${how} on ${describe(callable)}, not an allowlisted global`);
    const g = callable as PyGlobal;
    const reducer = ALLOWED_GLOBALS.get(g.qualifiedName);
    if (!reducer) refuse(`${how} on ${g.qualifiedName}, which may be named but not called`);
    if (!(args instanceof PyTuple)) fail(`${how} arguments are ${describe(args)}, not a tuple`);
    return reducer!((args as PyTuple).items, (msg) => fail(`${g.qualifiedName}: ${msg}`));
  };
  const setItem = (dict: PickleValue, key: PickleValue, value: PickleValue): void => {
    if (!(dict instanceof PyDict)) fail(`${opName(op)} on ${describe(dict)}, not a dict`);
    if (key !== null && typeof key === 'object') fail(`dict key of type ${describe(key)} (only str, int, bool, None keys are supported)`);
    (dict as PyDict).map.set(key as DictKey, value);
  };

  for (;;) {
    opAt = p;
    if (p >= bytes.length) fail('the data end before the pickle\'s STOP opcode: truncated file?');
    op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > MAX_PROTOCOL) fail(`pickle protocol ${v} is newer than ${MAX_PROTOCOL}`);
        break;
      }
      case 0x95: { // FRAME: protocol 4 framing is advisory; the frame must fit in the file
        const n = u64();
        if (n > bytes.length - p) fail(`frame of ${n} bytes runs past the end of the data: truncated file?`);
        break;
      }
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail(`STOP with ${stack.length} items on the stack`);
        return { value: pop(), end: p, persistentIds };
      case 0x28: // MARK
        if (marks.length >= MAX_MARK_DEPTH) fail(`MARK nesting deeper than ${MAX_MARK_DEPTH}`);
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP

      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0 || n > MAX_LONG_BYTES) fail(`LONG4 of ${n} bytes (at most ${MAX_LONG_BYTES} accepted)`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)

      case 0x58: stack.push(utf8(take(u32()), fail)); break; // BINUNICODE
      case 0x8c: stack.push(utf8(take(u8()), fail)); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8(take(u64()), fail)); break; // BINUNICODE8
      case 0x54: { // BINSTRING (Python 2 str: bytes, read as latin-1 like torch's encoding='latin1')
        const n = view.getInt32(need(4), true);
        if (n < 0) fail(`BINSTRING with negative length ${n}`);
        stack.push(latin1(take(n)));
        break;
      }
      case 0x55: stack.push(latin1(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32())); break; // BINBYTES
      case 0x43: stack.push(take(u8())); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64())); break; // BINBYTES8

      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x85: stack.push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x5d: stack.push(new PyList()); break; // EMPTY_LIST
      case 0x6c: { // LIST
        // a loop, not push(...items): spreading 10^5 items as arguments overflows the call stack
        // (RangeError; test/fuzz/regressions.ts)
        const l = new PyList();
        for (const v of popMark()) l.items.push(v);
        stack.push(l);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!(l instanceof PyList)) fail(`APPEND to ${describe(l)}, not a list`);
        (l as PyList).items.push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (!(l instanceof PyList)) fail(`APPENDS to ${describe(l)}, not a list`);
        for (const v of items) (l as PyList).items.push(v);
        break;
      }
      case 0x7d: stack.push(new PyDict(false)); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2 !== 0) fail('DICT with an odd number of items');
        const d = new PyDict(false);
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        stack.push(d);
        break;
      }
      case 0x73: { const v = pop(), k = pop(); setItem(top(), k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        break;
      }

      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
        stack.push(memo.get(i)!);
        break;
      }

      case 0x63: { // GLOBAL "module\nname\n": checked against the allowlist before anything else
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); const f = pop(); stack.push(call(f, args, 'REDUCE')); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args, 'NEWOBJ')); break; } // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(), args = pop(), cls = pop();
        if (!(kwargs instanceof PyDict) || kwargs.map.size !== 0) refuse('NEWOBJ_EX with keyword arguments');
        stack.push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: { // BUILD: only a dict's state (torch's state_dict()._metadata), kept inert
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyDict)) refuse(`BUILD on ${describe(obj)}`);
        (obj as PyDict).state = state;
        break;
      }
      case 0x51: { // BINPERSID
        const id = new PersistentId(pop());
        persistentIds.push(id);
        stack.push(id);
        break;
      }

      default:
        if (op in OPCODE_NAMES) refuse(`opcode ${opName(op)} is outside the state-dict subset${op === 0x69 || op === 0x6f ? ' (it instantiates a class)' : ''}`);
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}: not a pickle, or a corrupt one`);
    }
  }
}

function opName(op: number): string {
  return `${OPCODE_NAMES[op] ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')})`;
}

/** A short, non-recursive description of a value for error messages. */
export function describe(v: PickleValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'boolean') return 'a bool';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(v) || typeof v === 'bigint' ? 'an int' : 'a float';
  if (typeof v === 'string') return 'a str';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PyList) return `a list of ${v.items.length}`;
  if (v instanceof PyDict) return `a dict of ${v.map.size}`;
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`;
  if (v instanceof PersistentId) return 'a persistent id';
  return 'a tensor';
}

function emptyDict(ordered: boolean, args: readonly PickleValue[], fail: (msg: string) => never): PyDict {
  // OrderedDict.__reduce__ passes no arguments; the items follow through SETITEMS.
  if (args.length !== 0) fail(`expected no arguments, got ${args.length}`);
  return new PyDict(ordered);
}

function tensorRef(args: readonly PickleValue[], min: number, max: number, fail: (msg: string) => never): TensorRef {
  if (args.length < min || args.length > max) fail(`expected ${min}${max > min ? `-${max}` : ''} arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  const ints = (v: PickleValue | undefined, what: string): number[] => {
    if (!(v instanceof PyTuple)) fail(`${what} is ${describe(v)}, not a tuple`);
    const out = (v as PyTuple).items.map((d) => (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 ? d : -1));
    if (out.includes(-1)) fail(`${what} holds something other than non-negative ints`);
    return out;
  };
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(`storage offset is ${describe(offset)}, not a non-negative int`);
  const s = ints(size, 'size');
  const st = ints(stride, 'stride');
  if (s.length !== st.length) fail(`size has ${s.length} dimensions but stride ${st.length}`);
  return new TensorRef(storage!, offset as number, s, st);
}

/** Two's-complement little-endian integer (LONG1/LONG4) as a number when exact, else a bigint. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function utf8(b: Uint8Array, fail: (msg: string) => never): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return fail('string is not valid UTF-8');
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}
