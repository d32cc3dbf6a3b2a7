// A minimal zip reader for PyTorch's zip serialization (torch >= 1.6 writes every checkpoint as
// a zip archive through miniz: PyTorchStreamWriter in caffe2/serialize/inline_container.cc).
// Torch stores entries uncompressed (method 0, "stored") and pads the local headers so that the
// data start on 64-byte boundaries; the reader therefore only returns views into the file's
// bytes and never allocates per entry. Compressed entries are refused with a clear message.
// Layout (APPNOTE.TXT, PKWARE): local headers + data ... central directory ... [zip64 end of
// central directory record + locator] end of central directory record (+ comment).
// Every offset and size read from the file is checked against the file's length before use,
// so a hostile archive cannot make us read out of bounds or allocate more than it holds; every
// entry's CRC-32 is verified.
// Pure module (no Node built-ins).
import { RetinaFaceError } from '../errors.js';
import { printable } from '../printable.js';
import { crc32 } from '../crc32.js';

const hex8 = (v: number) => v.toString(16).padStart(8, '0');

export interface ZipEntry {
  name: string;
  /** the entry's bytes: a view into the archive (stored entries only) */
  data: Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_BYTES = 22;
const EOCD64_LOCATOR_BYTES = 20;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
/** the EOCD record is followed by a comment of at most 65535 bytes */
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
const METHOD_STORED = 0;

/** True when the bytes start like a zip archive (a local file header, or an empty archive). */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = readU32(bytes, 0);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/**
 * Lists the entries of a zip archive, keyed by name, in central-directory order.
 * `source` names the file in error messages.
 */
export function readZip(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const fail = (msg: string): never => {
    throw new RetinaFaceError(`not a valid zip checkpoint (${msg})`, { file: source, code: 'EFORMAT' });
  };
  const eocd = findEocd(bytes);
  if (eocd < 0) fail('no end-of-central-directory record: the file is truncated or not a zip archive');

  let count = readU16(bytes, eocd + 10);
  let cdSize = readU32(bytes, eocd + 12);
  let cdOffset = readU32(bytes, eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64: the real values are in the zip64 end of central directory record, found through
    // the locator just before the classic record.
    const loc = eocd - EOCD64_LOCATOR_BYTES;
    if (loc < 0 || readU32(bytes, loc) !== SIG_EOCD64_LOCATOR) fail('zip64 sizes without a zip64 locator');
    const rec = readU64(bytes, loc + 8);
    if (rec + 56 > loc) fail('zip64 end-of-central-directory record outside the file');
    if (readU32(bytes, rec) !== SIG_EOCD64) fail('bad zip64 end-of-central-directory signature');
    count = readU64(bytes, rec + 32);
    cdSize = readU64(bytes, rec + 40);
    cdOffset = readU64(bytes, rec + 48);
  }
  if (cdOffset + cdSize > bytes.length) fail(`central directory [${cdOffset}, +${cdSize}] runs past the end of the ${bytes.length}-byte file`);
  // Each central record is at least 46 bytes: a declared count beyond that is a lie.
  if (count * CENTRAL_BYTES > cdSize) fail(`${count} entries cannot fit in a ${cdSize}-byte central directory`);

  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_BYTES > cdEnd) fail(`central directory entry ${i} runs past the directory`);
    if (readU32(bytes, p) !== SIG_CENTRAL) fail(`bad central directory signature at byte ${p}`);
    const flags = readU16(bytes, p + 8);
    const method = readU16(bytes, p + 10);
    let compressed = readU32(bytes, p + 20);
    let size = readU32(bytes, p + 24);
    const nameLen = readU16(bytes, p + 28);
    const extraLen = readU16(bytes, p + 30);
    const commentLen = readU16(bytes, p + 32);
    let localOffset = readU32(bytes, p + 42);
    const next = p + CENTRAL_BYTES + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(`central directory entry ${i} runs past the directory`);
    const name = decoder.decode(bytes.subarray(p + CENTRAL_BYTES, p + CENTRAL_BYTES + nameLen));
    const shown = printable(name);
    // zip64 extra field: the 64-bit values appear, in this order, only for the fields that are
    // 0xffffffff in the fixed part.
    let q = p + CENTRAL_BYTES + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = readU16(bytes, q);
      const len = readU16(bytes, q + 2);
      if (q + 4 + len > extraEnd) fail(`entry ${shown}: extra field runs past its record`);
      if (id === ZIP64_EXTRA_ID) {
        let r = q + 4;
        const take = (): number => {
          if (r + 8 > q + 4 + len) fail(`entry ${shown}: zip64 extra field too short`);
          const v = readU64(bytes, r);
          r += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressed === 0xffffffff) compressed = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      q += 4 + len;
    }
    if (flags & 0x1) fail(`entry ${shown} is encrypted`);
    if (method !== METHOD_STORED) {
      fail(`entry ${shown} is compressed (method ${method}); PyTorch writes stored entries: re-save it with torch.save`);
    }
    if (compressed !== size) fail(`entry ${shown} is stored but its sizes differ (${compressed} vs ${size})`);
    if (localOffset + LOCAL_BYTES > bytes.length) fail(`entry ${shown}: local header at ${localOffset} is outside the file`);
    if (readU32(bytes, localOffset) !== SIG_LOCAL) fail(`entry ${shown}: bad local header signature at byte ${localOffset}`);
    // The data start after the local header's own name and extra field (torch's padding lives
    // there), which may differ from the central directory's.
    const start = localOffset + LOCAL_BYTES + readU16(bytes, localOffset + 26) + readU16(bytes, localOffset + 28);
    if (start + size > bytes.length) fail(`entry ${shown}: ${size} bytes at ${start} run past the end of the ${bytes.length}-byte file`);
    if (entries.has(name)) fail(`duplicate entry ${shown}`);
    const data = bytes.subarray(start, start + size);
    // The entry's CRC-32 (APPNOTE 4.4.7): PyTorch itself loads a checkpoint with a flipped data
    // byte without a word; we refuse it. (Bit 3 puts the CRC in a data descriptor too, but the
    // central directory always has it.)
    const crc = readU32(bytes, p + 16);
    const actual = crc32(data);
    if (actual !== crc) fail(`entry ${shown}: CRC-32 ${hex8(actual)} differs from the archive's ${hex8(crc)}: the file is damaged`);
    entries.set(name, { name, data });
    p = next;
  }
  return entries;
}

/** Offset of the end-of-central-directory record, searching back over a possible comment; -1 if none. */
function findEocd(bytes: Uint8Array): number {
  const last = bytes.length - EOCD_BYTES;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let p = last; p >= first; p--) {
    if (readU32(bytes, p) === SIG_EOCD && p + EOCD_BYTES + readU16(bytes, p + 20) === bytes.length) return p;
  }
  return -1;
}

function readU16(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}

function readU32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** u64 as a number; values beyond 2^53 cannot be offsets into a real file and saturate to Infinity. */
function readU64(b: Uint8Array, p: number): number {
  const lo = readU32(b, p);
  const hi = readU32(b, p + 4);
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
}
