// MATLAB v5 MAT-files (the format of WIDER FACE's ground-truth .mat files), read without
// executing or trusting anything in them: the 128-byte header, then data elements, each a tag
// (type, byte count) and its bytes padded to 8, or a small element packed in 8 bytes. Matrices
// (miMATRIX) nest: numeric arrays (stored in any integer or float type, read as float64), char
// arrays, cell arrays and structs. miCOMPRESSED elements are zlib streams of elements.
// Reference: MathWorks, "MAT-File Format" (matfile_format.pdf), Version 5 MAT-File Format.
//
// Bounded and strict: every count is checked against the bytes that remain before anything is
// allocated, nesting is limited to MAX_DEPTH, inflation to MAX_INFLATED bytes per element, and
// anything the format does not allow (a wrong magic, a negative dimension, a class that does not
// match its data) is refused with the file's name and the offset.
import { inflateSync } from 'node:zlib';
import { RetinaFaceError } from '../errors.js';

export type MatValue =
  | { kind: 'numeric'; dims: number[]; data: Float64Array }
  | { kind: 'char'; dims: number[]; text: string }
  | { kind: 'cell'; dims: number[]; cells: MatValue[] }
  | { kind: 'struct'; dims: number[]; fields: Map<string, MatValue[]> };

const MAX_DEPTH = 16;
const MAX_INFLATED = 512 * 1024 * 1024;

// Data types (miXXX) and their byte sizes; array classes (mxXXX).
const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16, UTF16: 17, UTF32: 18 } as const;
const SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4 };
const MX = { CELL: 1, STRUCT: 2, CHAR: 4, DOUBLE: 6, SINGLE: 7, INT8: 8, UINT8: 9, INT16: 10, UINT16: 11, INT32: 12, UINT32: 13, INT64: 14, UINT64: 15 } as const;

class Reader {
  constructor(readonly file: string, readonly v: DataView, readonly little: boolean, readonly base: number) {}
  fail(at: number, what: string): never {
    throw new RetinaFaceError(`not a valid MAT-file: ${what} at byte ${this.base + at}`, { file: this.file, code: 'EFORMAT' });
  }
  u32(at: number): number {
    return this.v.getUint32(at, this.little);
  }
  /** The element at `at`: its type, its data's offset and length, and where the next element starts. */
  tag(at: number, end: number): { type: number; start: number; bytes: number; next: number } {
    if (at + 8 > end) this.fail(at, `a data element's tag runs past the end (${end - at} bytes left)`);
    const first = this.u32(at);
    if (first >>> 16 !== 0) {
      // small data element: bytes in the upper 16 bits, type in the lower, data in the next 4
      const bytes = first >>> 16, type = first & 0xffff;
      if (bytes > 4) this.fail(at, `a small data element of ${bytes} bytes (at most 4)`);
      return { type, start: at + 4, bytes, next: at + 8 };
    }
    const bytes = this.u32(at + 4);
    if (bytes > end - at - 8) this.fail(at, `a data element of ${bytes} bytes with ${end - at - 8} left`);
    const padded = first === MI.COMPRESSED ? bytes : Math.ceil(bytes / 8) * 8;
    return { type: first, start: at + 8, bytes, next: Math.min(end, at + 8 + padded) };
  }
  /** Numbers of a numeric data element, as float64. */
  numbers(type: number, start: number, bytes: number, at: number): Float64Array {
    const size = SIZE[type];
    if (size === undefined || type === MI.UTF8 || type === MI.UTF16 || type === MI.UTF32) this.fail(at, `numeric data of type ${type}`);
    if (bytes % size !== 0) this.fail(at, `${bytes} bytes of ${size}-byte numbers`);
    const n = bytes / size, out = new Float64Array(n), v = this.v, le = this.little;
    for (let i = 0; i < n; i++) {
      const o = start + i * size;
      switch (type) {
        case MI.INT8: out[i] = v.getInt8(o); break;
        case MI.UINT8: out[i] = v.getUint8(o); break;
        case MI.INT16: out[i] = v.getInt16(o, le); break;
        case MI.UINT16: out[i] = v.getUint16(o, le); break;
        case MI.INT32: out[i] = v.getInt32(o, le); break;
        case MI.UINT32: out[i] = v.getUint32(o, le); break;
        case MI.SINGLE: out[i] = v.getFloat32(o, le); break;
        case MI.DOUBLE: out[i] = v.getFloat64(o, le); break;
        case MI.INT64: out[i] = Number(v.getBigInt64(o, le)); break;
        case MI.UINT64: out[i] = Number(v.getBigUint64(o, le)); break;
      }
    }
    return out;
  }
  text(type: number, start: number, bytes: number, at: number): string {
    const u8 = new Uint8Array(this.v.buffer, this.v.byteOffset + start, bytes);
    if (type === MI.UTF8 || type === MI.INT8 || type === MI.UINT8) return new TextDecoder('utf-8').decode(u8);
    if (type === MI.UTF16 || type === MI.UINT16) return String.fromCharCode(...this.numbers(MI.UINT16, start, bytes, at));
    if (type === MI.UTF32 || type === MI.UINT32 || type === MI.INT32) return String.fromCodePoint(...this.numbers(type === MI.INT32 ? MI.INT32 : MI.UINT32, start, bytes, at));
    if (type === MI.DOUBLE) return String.fromCodePoint(...this.numbers(MI.DOUBLE, start, bytes, at));
    return this.fail(at, `char data of type ${type}`);
  }
}

/** A miMATRIX element's contents [start, end): flags, dimensions, name, then the class's data. */
function matrix(r: Reader, start: number, end: number, depth: number): { name: string; value: MatValue } {
  if (depth > MAX_DEPTH) r.fail(start, `matrices nested deeper than ${MAX_DEPTH}`);
  if (start === end) return { name: '', value: { kind: 'numeric', dims: [0, 0], data: new Float64Array(0) } }; // an empty cell's placeholder
  const flags = r.tag(start, end);
  if (flags.type !== MI.UINT32 || flags.bytes !== 8) r.fail(start, 'array flags that are not two uint32');
  const cls = r.u32(flags.start) & 0xff;
  const complex = (r.u32(flags.start) & 0x800) !== 0;
  const dimsTag = r.tag(flags.next, end);
  if (dimsTag.type !== MI.INT32 || dimsTag.bytes % 4 !== 0 || dimsTag.bytes < 8) r.fail(flags.next, 'dimensions that are not two or more int32');
  const dims = [...r.numbers(MI.INT32, dimsTag.start, dimsTag.bytes, flags.next)];
  if (dims.some((d) => d < 0)) r.fail(flags.next, `a negative dimension (${dims.join('x')})`);
  const count = dims.reduce((a, b) => a * b, 1);
  const nameTag = r.tag(dimsTag.next, end);
  if (nameTag.type !== MI.INT8 && nameTag.type !== MI.UINT8) r.fail(dimsTag.next, 'an array name that is not int8');
  const name = r.text(MI.UINT8, nameTag.start, nameTag.bytes, dimsTag.next);
  let at = nameTag.next;
  if (cls === MX.CELL) {
    // Each cell is a miMATRIX element of its own; a count past what the bytes could hold is refused before allocating.
    if (count > (end - at) / 8) r.fail(at, `${count} cells in ${end - at} bytes`);
    const cells: MatValue[] = [];
    for (let i = 0; i < count; i++) {
      const t = r.tag(at, end);
      if (t.type !== MI.MATRIX) r.fail(at, `a cell of data type ${t.type} (expected a matrix)`);
      cells.push(matrix(r, t.start, t.start + t.bytes, depth + 1).value);
      at = t.next;
    }
    return { name, value: { kind: 'cell', dims, cells } };
  }
  if (cls === MX.STRUCT) {
    const lenTag = r.tag(at, end);
    if (lenTag.type !== MI.INT32 || lenTag.bytes !== 4) r.fail(at, 'a struct field name length that is not one int32');
    const len = r.v.getInt32(lenTag.start, r.little);
    const namesTag = r.tag(lenTag.next, end);
    if (len <= 0 || namesTag.bytes % len !== 0) r.fail(lenTag.next, `field names of ${namesTag.bytes} bytes in ${len}-byte slots`);
    const names: string[] = [];
    for (let o = 0; o < namesTag.bytes; o += len) names.push(r.text(MI.UINT8, namesTag.start + o, len, lenTag.next).replace(/\0.*$/s, ''));
    at = namesTag.next;
    if (count * names.length > (end - at) / 8) r.fail(at, `${count} x ${names.length} struct fields in ${end - at} bytes`);
    const fields = new Map<string, MatValue[]>(names.map((n) => [n, []]));
    for (let i = 0; i < count; i++) {
      for (const n of names) {
        const t = r.tag(at, end);
        if (t.type !== MI.MATRIX) r.fail(at, `a struct field of data type ${t.type}`);
        fields.get(n)!.push(matrix(r, t.start, t.start + t.bytes, depth + 1).value);
        at = t.next;
      }
    }
    return { name, value: { kind: 'struct', dims, fields } };
  }
  if (at === end && count === 0) return { name, value: cls === MX.CHAR ? { kind: 'char', dims, text: '' } : { kind: 'numeric', dims, data: new Float64Array(0) } };
  const real = r.tag(at, end);
  if (cls === MX.CHAR) {
    const text = r.text(real.type, real.start, real.bytes, at);
    if ([...text].length !== count) r.fail(at, `${[...text].length} characters for ${dims.join('x')}`);
    return { name, value: { kind: 'char', dims, text } };
  }
  if (cls < MX.DOUBLE || cls > MX.UINT64) r.fail(start, `array class ${cls} (sparse, object and function handles are not read)`);
  if (complex) r.fail(start, 'a complex array');
  const data = r.numbers(real.type, real.start, real.bytes, at);
  if (data.length !== count) r.fail(at, `${data.length} numbers for ${dims.join('x')}`);
  return { name, value: { kind: 'numeric', dims, data } };
}

/** The named variables of a MAT-file. */
export function readMat(bytes: Uint8Array, file: string): Map<string, MatValue> {
  if (bytes.length < 128) throw new RetinaFaceError(`not a MAT-file: ${bytes.length} bytes, shorter than its 128-byte header`, { file, code: 'EFORMAT' });
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 116));
  if (!head.startsWith('MATLAB 5.0 MAT-file')) {
    const hdf = head.includes('MATLAB 7.3') ? ' (a v7.3 file, HDF5: save it with -v7 or -v6)' : '';
    throw new RetinaFaceError(`not a MATLAB 5 MAT-file: its header does not start with "MATLAB 5.0 MAT-file"${hdf}`, { file, code: 'EFORMAT' });
  }
  const endian = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (endian !== 'IM' && endian !== 'MI') throw new RetinaFaceError(`not a valid MAT-file: endian indicator "${endian}" (expected IM or MI)`, { file, code: 'EFORMAT' });
  const little = endian === 'IM';
  const vars = new Map<string, MatValue>();
  const walk = (buf: Uint8Array, base: number, depth: number) => {
    const r = new Reader(file, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), little, base);
    for (let at = 0; at < buf.length;) {
      if (buf.length - at < 8 && buf.subarray(at).every((b) => b === 0)) break; // trailing padding
      const t = r.tag(at, buf.length);
      if (t.type === MI.COMPRESSED) {
        if (depth > 0) r.fail(at, 'a compressed element inside a compressed element');
        const inner = ((): Buffer => {
          try {
            return inflateSync(buf.subarray(t.start, t.start + t.bytes), { maxOutputLength: MAX_INFLATED });
          } catch (e) {
            return r.fail(at, `a compressed element that does not inflate (${(e as Error).message})`);
          }
        })();
        walk(new Uint8Array(inner.buffer, inner.byteOffset, inner.byteLength), base + t.start, depth + 1);
      } else if (t.type === MI.MATRIX) {
        const { name, value } = matrix(r, t.start, t.start + t.bytes, 0);
        if (name === '') r.fail(at, 'a top-level variable without a name');
        vars.set(name, value);
      } else {
        r.fail(at, `a top-level element of data type ${t.type} (expected a matrix)`);
      }
      at = t.next;
    }
  };
  walk(bytes.subarray(128), 128, 0);
  return vars;
}
