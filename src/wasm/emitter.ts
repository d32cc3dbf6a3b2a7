// A small WebAssembly binary emitter: enough of the format (WebAssembly Core Specification 2.0,
// chapter 5 "Binary Format", plus the fixed-width SIMD proposal merged into it) to build the
// CPU kernels of src/ops/simd/ at run time from readable TypeScript, with no toolchain and no
// binary committed. A module imports one memory ("env", "memory") and defines functions; each
// function is written through a Code builder with one method per instruction.
//
//   const m = new ModuleBuilder({ memory: { initial: 1 } });
//   const c = new Code(['i32', 'i32'], ['i32']);
//   c.localGet(0).localGet(1).i32Add();
//   m.addFunction('add', c);
//   const bytes = m.toBytes();

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128 (spec 5.2.2): 7 bits per byte, low first, high bit = more bytes follow. */
export function uleb128(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`uleb128: ${value} is not a u32`);
  const out: number[] = [];
  let v = value;
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128: two's complement, stops once the remaining value is the sign extension of bit 6. */
export function sleb128(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) throw new Error(`sleb128: ${value} is not an i32`);
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A name or byte string: its length, then its UTF-8 bytes. */
export function encodeName(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb128(bytes.length), ...bytes];
}

/** A vector: count, then the concatenated items. */
function vec(items: number[][]): number[] {
  return [...uleb128(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb128(body.length), ...body];
}

const SECTION = { type: 1, import: 2, function: 3, export: 7, code: 10 } as const;

/** Single-byte opcodes used by the kernels (spec 5.4). */
const OP = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, return: 0x0f,
  drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, f32Load: 0x2a, i32Store: 0x36, f32Store: 0x38,
  i32Const: 0x41, f32Const: 0x43,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32LtU: 0x49, i32GtS: 0x4a, i32GtU: 0x4b,
  i32LeS: 0x4c, i32LeU: 0x4d, i32GeS: 0x4e, i32GeU: 0x4f,
  f32Lt: 0x5d, f32Gt: 0x5e,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32DivS: 0x6d, i32DivU: 0x6e, i32RemU: 0x70,
  i32And: 0x71, i32Or: 0x72, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76,
  f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Min: 0x96, f32Max: 0x97,
  f32ReinterpretI32: 0xbe,
} as const;

/** 0xFC-prefixed bulk memory instructions, then their u32 sub-opcode. */
const BULK = { memoryCopy: 10, memoryFill: 11 } as const;

/** 0xFD-prefixed SIMD instructions, then their u32 sub-opcode (spec 5.4.8). */
export const SIMD = {
  v128Load: 0x00, v128Load32Splat: 0x09, v128Store: 0x0b, v128Const: 0x0c, i8x16Shuffle: 0x0d,
  f32x4Splat: 0x13, f32x4ExtractLane: 0x1f, f32x4ReplaceLane: 0x20, v128Store32Lane: 0x5a,
  f32x4Ne: 0x42, v128Or: 0x50,
  f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Min: 0xe8, f32x4Max: 0xe9, f32x4Pmax: 0xeb,
  /** Relaxed SIMD (a later proposal): a * b + c, fused where the CPU has FMA (one rounding), else mul then add. */
  f32x4RelaxedMadd: 0x105,
} as const;

const BLOCK_EMPTY = 0x40;

/** Natural alignment (log2 bytes) of the memory accesses, the memarg's default hint. */
const ALIGN = { i32: 2, f32: 2, v128: 4 } as const;

/**
 * One function body under construction. Parameters are locals 0..n-1; local(type) declares
 * more and returns its index. Every instruction method appends its bytes and returns this.
 */
export class Code {
  private readonly bytes: number[] = [];
  private readonly extraLocals: ValType[] = [];
  private depth = 0;

  constructor(readonly params: ValType[], readonly results: ValType[] = []) {}

  local(type: ValType): number {
    this.extraLocals.push(type);
    return this.params.length + this.extraLocals.length - 1;
  }

  private op(...b: number[]): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
  private memarg(align: number, offset: number): number[] {
    return [...uleb128(align), ...uleb128(offset)];
  }
  private simd(sub: number, ...rest: number[]): this {
    return this.op(0xfd, ...uleb128(sub), ...rest);
  }

  // Control: block/loop/if take a body callback so that the matching `end` is never forgotten.
  block(body: () => void): this {
    this.op(OP.block, BLOCK_EMPTY); this.depth++; body(); this.depth--; return this.op(OP.end);
  }
  loop(body: () => void): this {
    this.op(OP.loop, BLOCK_EMPTY); this.depth++; body(); this.depth--; return this.op(OP.end);
  }
  /** Pops an i32 condition; runs `then` if it is non-zero, else `otherwise`. */
  if(then: () => void, otherwise?: () => void): this {
    this.op(OP.if, BLOCK_EMPTY); this.depth++; then();
    if (otherwise !== undefined) { this.op(OP.else); otherwise(); }
    this.depth--; return this.op(OP.end);
  }
  br(label: number): this { return this.op(OP.br, ...uleb128(label)); }
  brIf(label: number): this { return this.op(OP.brIf, ...uleb128(label)); }
  return(): this { return this.op(OP.return); }
  drop(): this { return this.op(OP.drop); }
  select(): this { return this.op(OP.select); }

  /**
   * for (i = start; i < end; i += step) body(), signed compare, as block { loop { ... } }:
   * inside body (at its top level) br(1) leaves the loop; br(0) would skip the increment.
   * start and end are emitters (push one i32 each) so they can be locals or expressions.
   */
  forRange(i: number, start: () => void, end: () => void, step: number, body: () => void): this {
    start(); this.localSet(i);
    return this.block(() => this.loop(() => {
      this.localGet(i); end(); this.i32GeS().brIf(1);
      body();
      this.localGet(i).i32Const(step).i32Add().localSet(i).br(0);
    }));
  }

  localGet(i: number): this { return this.op(OP.localGet, ...uleb128(i)); }
  localSet(i: number): this { return this.op(OP.localSet, ...uleb128(i)); }
  localTee(i: number): this { return this.op(OP.localTee, ...uleb128(i)); }

  i32Const(v: number): this { return this.op(OP.i32Const, ...sleb128(v)); }
  f32Const(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return this.op(OP.f32Const, ...b);
  }
  i32Load(offset = 0): this { return this.op(OP.i32Load, ...this.memarg(ALIGN.i32, offset)); }
  f32Load(offset = 0): this { return this.op(OP.f32Load, ...this.memarg(ALIGN.f32, offset)); }
  i32Store(offset = 0): this { return this.op(OP.i32Store, ...this.memarg(ALIGN.i32, offset)); }
  f32Store(offset = 0): this { return this.op(OP.f32Store, ...this.memarg(ALIGN.f32, offset)); }

  i32Eqz(): this { return this.op(OP.i32Eqz); }
  i32Eq(): this { return this.op(OP.i32Eq); }
  i32Ne(): this { return this.op(OP.i32Ne); }
  i32LtS(): this { return this.op(OP.i32LtS); }
  i32LtU(): this { return this.op(OP.i32LtU); }
  i32GtS(): this { return this.op(OP.i32GtS); }
  i32GtU(): this { return this.op(OP.i32GtU); }
  i32LeS(): this { return this.op(OP.i32LeS); }
  i32GeS(): this { return this.op(OP.i32GeS); }
  i32GeU(): this { return this.op(OP.i32GeU); }
  i32Add(): this { return this.op(OP.i32Add); }
  i32Sub(): this { return this.op(OP.i32Sub); }
  i32Mul(): this { return this.op(OP.i32Mul); }
  i32DivS(): this { return this.op(OP.i32DivS); }
  i32DivU(): this { return this.op(OP.i32DivU); }
  i32RemU(): this { return this.op(OP.i32RemU); }
  i32And(): this { return this.op(OP.i32And); }
  i32Or(): this { return this.op(OP.i32Or); }
  i32Shl(): this { return this.op(OP.i32Shl); }
  i32ShrS(): this { return this.op(OP.i32ShrS); }
  i32ShrU(): this { return this.op(OP.i32ShrU); }
  f32Lt(): this { return this.op(OP.f32Lt); }
  f32Gt(): this { return this.op(OP.f32Gt); }
  f32Add(): this { return this.op(OP.f32Add); }
  f32Sub(): this { return this.op(OP.f32Sub); }
  f32Mul(): this { return this.op(OP.f32Mul); }
  f32Min(): this { return this.op(OP.f32Min); }
  f32Max(): this { return this.op(OP.f32Max); }
  f32ReinterpretI32(): this { return this.op(OP.f32ReinterpretI32); }

  /** memory.copy: pops dst, src, n (bytes); overlapping ranges allowed. */
  memoryCopy(): this { return this.op(0xfc, ...uleb128(BULK.memoryCopy), 0x00, 0x00); }
  /** memory.fill: pops dst, byte value, n (bytes). */
  memoryFill(): this { return this.op(0xfc, ...uleb128(BULK.memoryFill), 0x00); }

  v128Load(offset = 0): this { return this.simd(SIMD.v128Load, ...this.memarg(ALIGN.v128, offset)); }
  /** Loads one f32 and splats it to all four lanes. */
  v128Load32Splat(offset = 0): this { return this.simd(SIMD.v128Load32Splat, ...this.memarg(ALIGN.f32, offset)); }
  v128Store(offset = 0): this { return this.simd(SIMD.v128Store, ...this.memarg(ALIGN.v128, offset)); }
  /** Stores one 32-bit lane: pops address, vector. */
  v128Store32Lane(lane: number, offset = 0): this {
    return this.simd(SIMD.v128Store32Lane, ...this.memarg(ALIGN.f32, offset), lane);
  }
  v128ConstF32(a: number, b: number, c: number, d: number): this {
    return this.simd(SIMD.v128Const, ...new Uint8Array(new Float32Array([a, b, c, d]).buffer));
  }
  /** Lanes picked from the 32 bytes of (first, second) by byte index: given here as f32 lane indices 0..7. */
  f32x4Shuffle(l0: number, l1: number, l2: number, l3: number): this {
    const bytes = [l0, l1, l2, l3].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
    return this.simd(SIMD.i8x16Shuffle, ...bytes);
  }
  f32x4Splat(): this { return this.simd(SIMD.f32x4Splat); }
  f32x4ExtractLane(lane: number): this { return this.simd(SIMD.f32x4ExtractLane, lane); }
  f32x4ReplaceLane(lane: number): this { return this.simd(SIMD.f32x4ReplaceLane, lane); }
  f32x4Add(): this { return this.simd(SIMD.f32x4Add); }
  f32x4Sub(): this { return this.simd(SIMD.f32x4Sub); }
  f32x4Mul(): this { return this.simd(SIMD.f32x4Mul); }
  f32x4Min(): this { return this.simd(SIMD.f32x4Min); }
  f32x4Max(): this { return this.simd(SIMD.f32x4Max); }
  /** Per lane, all ones where a != b (a NaN is unequal to itself), else zero. */
  f32x4Ne(): this { return this.simd(SIMD.f32x4Ne); }
  v128Or(): this { return this.simd(SIMD.v128Or); }
  /** Pseudo-maximum, `a < b ? b : a` per lane (a below b on the stack): one maxps on x64, where f32x4.max's NaN and -0 rules take 8 instructions in V8. */
  f32x4Pmax(): this { return this.simd(SIMD.f32x4Pmax); }
  /** [a, b, c] -> a * b + c (relaxed SIMD: engines without it refuse the module). */
  f32x4RelaxedMadd(): this { return this.simd(SIMD.f32x4RelaxedMadd); }

  /** The function body as the code section stores it (without the size prefix). */
  body(): number[] {
    if (this.depth !== 0) throw new Error('wasm Code: unbalanced block structure');
    const groups: number[][] = [];
    for (let i = 0; i < this.extraLocals.length;) {
      let j = i;
      while (j < this.extraLocals.length && this.extraLocals[j] === this.extraLocals[i]) j++;
      groups.push([...uleb128(j - i), VALTYPE[this.extraLocals[i]!]]);
      i = j;
    }
    return [...vec(groups), ...this.bytes, OP.end];
  }
}

export interface MemoryImport {
  /** In 64 KiB pages. */
  initial: number;
  maximum?: number;
  /** Shared memory (threads): requires maximum. */
  shared?: boolean;
}

/** A module: an imported memory ("env", "memory") if asked, then functions, all exported by name. */
export class ModuleBuilder {
  private readonly types: number[][] = [];
  private readonly functions: { name: string; type: number; code: Code }[] = [];

  constructor(private readonly options: { memory?: MemoryImport } = {}) {}

  private typeIndex(params: ValType[], results: ValType[]): number {
    const t = [0x60, ...vec(params.map((p) => [VALTYPE[p]])), ...vec(results.map((r) => [VALTYPE[r]]))];
    const key = t.join(',');
    const found = this.types.findIndex((u) => u.join(',') === key);
    if (found >= 0) return found;
    this.types.push(t);
    return this.types.length - 1;
  }

  addFunction(name: string, code: Code): number {
    this.functions.push({ name, type: this.typeIndex(code.params, code.results), code });
    return this.functions.length - 1;
  }

  toBytes(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    out.push(...section(SECTION.type, vec(this.types)));
    const mem = this.options.memory;
    if (mem !== undefined) {
      if (mem.shared === true && mem.maximum === undefined) throw new Error('wasm: a shared memory needs a maximum');
      const flags = (mem.maximum !== undefined ? 1 : 0) | (mem.shared === true ? 2 : 0);
      const limits = [flags, ...uleb128(mem.initial), ...(mem.maximum !== undefined ? uleb128(mem.maximum) : [])];
      out.push(...section(SECTION.import, vec([[...encodeName('env'), ...encodeName('memory'), 0x02, ...limits]])));
    }
    out.push(...section(SECTION.function, vec(this.functions.map((f) => uleb128(f.type)))));
    out.push(...section(SECTION.export, vec(this.functions.map((f, i) => [...encodeName(f.name), 0x00, ...uleb128(i)]))));
    out.push(...section(SECTION.code, vec(this.functions.map((f) => {
      const body = f.code.body();
      return [...uleb128(body.length), ...body];
    }))));
    return Uint8Array.from(out);
  }
}
