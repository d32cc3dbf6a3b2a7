// The structure-aware mutation engine shared by every byte-format target (docs/security.md).
// A seed is a list of units (a pickle opcode with its argument, a zip record, a PNG chunk, a JPEG
// segment, a safetensors header or tensor) and each unit lists its numeric fields (lengths,
// offsets, counts, sizes). A mutation plan, drawn by fast-check, deletes, duplicates, swaps or
// splices whole units, sets a field to a boundary value (0, 2^31, 2^64 - 1, the file's length...),
// or flips, sets, inserts and cuts bytes inside one unit; a format's fixup (PNG's chunk CRCs) may
// then repair what a parser would reject at once, so that the mutation reaches the code behind it.
// Plans are plain records of numbers: fast-check shrinks a failing one toward fewer, smaller edits.
import fc from 'fast-check';

/** A numeric field inside a unit: `size` bytes at `at`, big- or little-endian. */
export interface Field {
  at: number;
  size: 1 | 2 | 4 | 8;
  be: boolean;
}

export interface Unit {
  bytes: Uint8Array;
  fields: Field[];
}

export interface Structured {
  units: Unit[];
}

/** One edit; every number is reduced modulo what it indexes when applied. */
export interface Mutation {
  kind: number;
  a: number;
  b: number;
  c: number;
  v: number;
}

export interface Plan {
  seed: number;
  mutations: Mutation[];
  /** run the format's fixup (e.g. recompute PNG CRCs) after the edits */
  fixup: boolean;
  /** cut the serialized file to this fraction of its length (x / 2^16), when set */
  cut: number | null;
}

const KINDS = 10;

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.nat(KINDS - 1),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  v: fc.nat(),
});

export function planArb(seeds: number, maxMutations = 6): fc.Arbitrary<Plan> {
  return fc.record({
    seed: fc.nat(Math.max(0, seeds - 1)),
    mutations: fc.array(mutationArb, { maxLength: maxMutations }),
    fixup: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    cut: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  });
}

/** Boundary values for a field of `size` bytes in a file of `length` bytes (as bigints). */
function interesting(size: number, length: number, v: number): bigint[] {
  const max = (1n << BigInt(8 * size)) - 1n;
  const half = 1n << BigInt(8 * size - 1);
  const len = BigInt(length);
  return [0n, 1n, 2n, 3n, 8n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn,
    1n << 32n, (1n << 53n) - 1n, 1n << 53n, half - 1n, half, max - 1n, max, len - 1n, len, len + 1n, BigInt(v)]
    .map((x) => ((x % (max + 1n)) + (max + 1n)) % (max + 1n));
}

/** Byte values that parsers treat specially. */
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x10, 0x20, 0x28, 0x2e, 0x3f, 0x40, 0x7b, 0x7d, 0x7f, 0x80, 0x81, 0xc0, 0xd8, 0xd9, 0xda, 0xfe, 0xff];

function writeField(b: Uint8Array, f: Field, value: bigint): void {
  for (let i = 0; i < f.size; i++) {
    const byte = Number((value >> BigInt(8 * i)) & 0xffn);
    b[f.be ? f.at + f.size - 1 - i : f.at + i] = byte;
  }
}

function copyUnit(u: Unit): Unit {
  return { bytes: Uint8Array.from(u.bytes), fields: u.fields.map((f) => ({ ...f })) };
}

export function serialize(s: Structured): Uint8Array {
  const out = new Uint8Array(s.units.reduce((n, u) => n + u.bytes.length, 0));
  let at = 0;
  for (const u of s.units) {
    out.set(u.bytes, at);
    at += u.bytes.length;
  }
  return out;
}

/**
 * Applies `plan` to a copy of `seeds[plan.seed]`; `dictionary` holds extra units of the same
 * format (other opcodes, chunks, markers) that an insertion may draw from, and every seed's
 * units may be spliced in too.
 */
export function applyPlan(seeds: readonly Structured[], dictionary: readonly Unit[], plan: Plan,
  fixup?: (b: Uint8Array) => Uint8Array): Uint8Array {
  const base = seeds[plan.seed % seeds.length]!;
  const units = base.units.map(copyUnit);
  const total = (): number => units.reduce((n, u) => n + u.bytes.length, 0);
  for (const m of plan.mutations) {
    const n = units.length;
    const unit = n > 0 ? units[m.a % n]! : undefined;
    switch (m.kind) {
      case 0: { // a field to a boundary value
        if (unit === undefined || unit.fields.length === 0) break;
        const f = unit.fields[m.b % unit.fields.length]!;
        const values = interesting(f.size, total(), m.v);
        if (f.at + f.size <= unit.bytes.length) writeField(unit.bytes, f, values[m.c % values.length]!);
        break;
      }
      case 1: // delete a unit
        if (n > 1) units.splice(m.a % n, 1);
        break;
      case 2: // duplicate a unit to another place
        if (unit !== undefined) units.splice(m.b % (n + 1), 0, copyUnit(unit));
        break;
      case 3: { // swap two units
        if (n < 2) break;
        const i = m.a % n, j = m.b % n;
        [units[i], units[j]] = [units[j]!, units[i]!];
        break;
      }
      case 4: // insert a unit of the format's dictionary
        if (dictionary.length > 0) units.splice(m.a % (n + 1), 0, copyUnit(dictionary[m.b % dictionary.length]!));
        break;
      case 5: { // splice a unit of another seed
        const other = seeds[m.c % seeds.length]!;
        if (other.units.length > 0) units.splice(m.a % (n + 1), 0, copyUnit(other.units[m.b % other.units.length]!));
        break;
      }
      case 6: // flip one bit
        if (unit !== undefined && unit.bytes.length > 0) unit.bytes[m.b % unit.bytes.length]! ^= 1 << (m.c % 8);
        break;
      case 7: // set one byte to an interesting value
        if (unit !== undefined && unit.bytes.length > 0) unit.bytes[m.b % unit.bytes.length] = INTERESTING_BYTES[m.c % INTERESTING_BYTES.length]!;
        break;
      case 8: // cut a unit short (its fields past the cut are dropped)
        if (unit !== undefined) {
          const keep = m.b % (unit.bytes.length + 1);
          unit.bytes = unit.bytes.slice(0, keep);
          unit.fields = unit.fields.filter((f) => f.at + f.size <= keep);
        }
        break;
      default: { // insert up to 16 bytes (drawn from v) inside a unit
        if (unit === undefined) break;
        const count = 1 + (m.c % 16);
        const extra = new Uint8Array(count);
        let x = m.v >>> 0;
        for (let i = 0; i < count; i++) {
          x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
          extra[i] = x >>> 24;
        }
        const at = m.b % (unit.bytes.length + 1);
        const grown = new Uint8Array(unit.bytes.length + count);
        grown.set(unit.bytes.subarray(0, at));
        grown.set(extra, at);
        grown.set(unit.bytes.subarray(at), at + count);
        unit.bytes = grown;
        unit.fields = unit.fields.filter((f) => f.at + f.size <= at);
      }
    }
  }
  let out = serialize({ units });
  if (plan.fixup && fixup !== undefined) out = fixup(out);
  if (plan.cut !== null) out = out.slice(0, Math.floor((out.length * plan.cut) / 0x10000));
  return out;
}

/** Grows a unit byte by byte, recording its numeric fields as they are written. */
export class UnitWriter {
  private readonly parts: number[] = [];
  readonly fields: Field[] = [];

  get length(): number {
    return this.parts.length;
  }

  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]! & 0xff);
    return this;
  }

  ascii(s: string): this {
    for (let i = 0; i < s.length; i++) this.parts.push(s.charCodeAt(i) & 0xff);
    return this;
  }

  /** An unsigned integer of `size` bytes, recorded as a field unless `field` is false. */
  uint(value: number | bigint, size: 1 | 2 | 4 | 8, be: boolean, field = true): this {
    if (field) this.fields.push({ at: this.parts.length, size, be });
    const v = BigInt(value);
    const bytes: number[] = [];
    for (let i = 0; i < size; i++) bytes.push(Number((v >> BigInt(8 * i)) & 0xffn));
    if (be) bytes.reverse();
    this.parts.push(...bytes);
    return this;
  }

  unit(): Unit {
    return { bytes: Uint8Array.from(this.parts), fields: this.fields };
  }
}
