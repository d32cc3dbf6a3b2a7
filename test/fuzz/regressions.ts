// Every crash or hang found while fuzzing, kept as an input that the smoke test replays against
// the property (test/fuzz.test.ts) and that the long runs mix back into their targets. Each names
// the finding and where it was fixed. Inputs are built by code (a few opcodes, a few records), not
// stored as opaque bytes, so that a reader sees what made the parser fail.
import { deflateSync } from 'node:zlib';
import { concat, pngChunk } from '../helpers/images.js';
import { seedJpegs } from './seeds_images.js';
import { legacyCheckpoint, Pickler, tensorFileSeed, zipArchive, zipCheckpointFiles, type SeedCheckpoint } from './seeds_weights.js';
import { serialize, type Unit } from './structure.js';
import type { FuzzInput } from './targets.js';

export interface Regression {
  target: string;
  name: string;
  /** what went wrong before the fix, and who found it */
  finding: string;
  /** where it was fixed */
  fix: string;
  input: () => FuzzInput;
}

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, depth: number, colorType: number): Uint8Array {
  const b = new Uint8Array(13);
  const v = new DataView(b.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  b[8] = depth;
  b[9] = colorType;
  return b;
}

/** `count` copies of one opcode unit (DUP, NONE...) as one unit. */
function repeated(op: number, count: number): Unit {
  return { bytes: new Uint8Array(count).fill(op), fields: [] };
}

/** A tensor whose size is [n, 1, 1, ... (ones times)] and stride [0, 1, 1, ...]: a broadcast with many unit dimensions. */
function unitDimsPickle(ones: number, n: number): Unit[] {
  const p = new Pickler(2);
  p.proto().global('collections', 'OrderedDict').emptyTuple().reduce().str('w')
    .global('torch._utils', '_rebuild_tensor_v2').mark()
    .mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(1).none().tuple().binpersid()
    .int(0).mark().int(n).int(1);
  const size = [...p.units, repeated(0x32, ones - 1)]; // DUP the 1
  const q = new Pickler(2);
  q.tuple().mark().int(0).int(1);
  const stride = [...q.units, repeated(0x32, ones - 1)];
  const r = new Pickler(2);
  r.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitem().stop();
  return [...size, ...stride, ...r.units];
}

/** A one-storage legacy checkpoint whose pickles the regressions below replace. */
const SEED_LEGACY: SeedCheckpoint = { storages: [{ key: '0', type: 'Float', numel: 1 }], tensors: [{ key: 'w', storage: '0', offset: 0, size: [2], stride: [0] }] };

/** A seed JPEG (16x16, three components in one scan) and where its scan and its end are. */
function seedScan(): { bytes: Uint8Array; sos: number; eoi: number } {
  const bytes = seedJpegs()[2]!;
  const at = (m: number) => bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === m);
  return { bytes, sos: at(0xda), eoi: bytes.length - 2 };
}

export const REGRESSIONS: Regression[] = [
  {
    target: 'jpeg-rows',
    name: 'the scan twice',
    finding: 'jpeg-js decodes a second scan over the first one\'s coefficients, jpegRows read only the first: different pixels (the differential oracle, in its first minute)',
    fix: 'src/image/jpeg_rows.ts markerAfterScan: a second scan, a later DQT or frame is not streamed (decoded whole instead)',
    input: () => { const { bytes, sos, eoi } = seedScan(); return concat(bytes.subarray(0, eoi), bytes.subarray(sos, eoi), bytes.subarray(eoi)); },
  },
  {
    target: 'jpeg-rows',
    name: 'a scan naming one component three times',
    finding: 'the two components the scan never named had no Huffman tables: TypeError in decodeSymbol (its first minute)',
    fix: 'src/image/jpeg_rows.ts parseHeaders: a component named twice is not streamed',
    input: () => { const { bytes, sos } = seedScan(); const b = Uint8Array.from(bytes); b[sos + 7] = b[sos + 5]!; b[sos + 9] = b[sos + 5]!; return b; },
  },
  {
    target: 'jpeg-rows',
    name: 'fill bytes to the end of the file',
    finding: 'the marker after the fill bytes was read past the end: TypeError (its first minute)',
    fix: 'src/image/jpeg_rows.ts parseHeaders: the end of the file after fill bytes is "the file ends before the scan"',
    input: () => Uint8Array.from([0xff, 0xd8, 0xff, 0xff, 0xff]),
  },
  {
    target: 'jpeg-rows',
    name: 'a scan header longer than its fields',
    finding: 'jpeg-js starts the entropy-coded data right after the fields, jpegRows after the declared length: different pixels (the differential oracle)',
    fix: 'src/image/jpeg_rows.ts parseHeaders: frame and scan headers must be exactly as long as their fields',
    input: () => {
      const { bytes, sos } = seedScan();
      const len = (bytes[sos + 2]! << 8) | bytes[sos + 3]!;
      return concat(bytes.subarray(0, sos + 2), Uint8Array.from([(len + 2) >> 8, (len + 2) & 255]), bytes.subarray(sos + 4, sos + 2 + len), Uint8Array.from([0, 0]), bytes.subarray(sos + 2 + len));
    },
  },
  {
    target: 'image-decode',
    name: 'second IHDR larger than the first',
    finding: 'probeImage read the first IHDR (9x2), pngjs sized its output from the second (4000x4000): maxPixels bypassed, 64 MB from a 30-byte IDAT; ' +
      'with a 2^31-1-wide second IHDR the process aborted (node_zlib.cc assertion in pngjs sync inflate). Found by the fuzzer (image-decode, seed 1)',
    fix: 'src/image/decode.ts probePng: refuses a second IHDR',
    input: () => concat(PNG_SIGNATURE, pngChunk('IHDR', ihdr(9, 2, 8, 2)), pngChunk('IHDR', ihdr(4000, 4000, 8, 6)),
      pngChunk('IDAT', deflateSync(new Uint8Array(10))), pngChunk('IEND', new Uint8Array(0))),
  },
  {
    target: 'image-decode',
    name: 'second IHDR 2^31-1 wide (the input the fuzzer saved)',
    finding: 'aborted the process: pngjs sync inflate passed out-of-bounds offsets to zlib (Assertion failed: Buffer::IsWithinBounds)',
    fix: 'src/image/decode.ts probePng: refuses a second IHDR',
    input: () => concat(PNG_SIGNATURE, pngChunk('IHDR', ihdr(9, 2, 1, 0)), pngChunk('IHDR', ihdr(9, 2, 1, 0)),
      pngChunk('tRNS', Uint8Array.from([0, 1])), pngChunk('IDAT', deflateSync(new Uint8Array(4))),
      pngChunk('IHDR', ihdr(0x7fffffff, 1, 1, 0)), pngChunk('IEND', new Uint8Array(0))),
  },
  {
    target: 'tensor-file',
    name: 'tensor name with a newline',
    finding: 'the name went unescaped into the error message, which then spanned two lines (the CLI prints one). Found by the fuzzer (tensor-file, seed 1)',
    fix: 'src/weights/format.ts decodeTensorFile: names through printable()',
    input: () => {
      const s = tensorFileSeed([['x\ny', { shape: [1], data: new Float32Array(1) }]]);
      (s.header['x\ny'] as { dtype: string }).dtype = 'F64';
      return encodeRaw(JSON.stringify(s.header), s.data);
    },
  },
  {
    target: 'tensor-file',
    name: 'dtype "toString"',
    finding: "'toString' in DTYPE_BYTES is true (Object.prototype): the dtype passed its check and the size check read NaN bytes. Found while writing the harness",
    fix: 'src/weights/format.ts decodeTensorFile: Object.hasOwn',
    input: () => encodeRaw(JSON.stringify({ t: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }), new Uint8Array(4)),
  },
  {
    target: 'weights',
    name: 'metadata format with a newline',
    finding: 'the metadata value went unescaped into the message',
    fix: 'src/weights/weights.ts weightsFromTensorFile: printable()',
    input: () => {
      const s = tensorFileSeed([['a', { shape: [1], data: new Float32Array(1) }]], { format: 'x\ny' }, true);
      return encodeRaw(JSON.stringify(s.header), s.data);
    },
  },
  {
    target: 'pth-zip',
    name: 'data.pkl entry name with a newline',
    finding: "the zip entry name ('archi\\ne/data.pkl') went unescaped into the pickle's error messages. Found by the fuzzer (pth-zip, seed 1)",
    fix: 'src/weights/pth.ts readZipCheckpoint: printable()',
    input: () => {
      const c: SeedCheckpoint = { storages: [], tensors: [] };
      const files = zipCheckpointFiles(c, Uint8Array.from([0x80, 0x02, 0x63, 0x61]));
      files[0]!.name = 'archi\ne/data.pkl';
      return serialize(zipArchive(files));
    },
  },
  {
    target: 'pth-legacy',
    name: 'protocol version pickle holding a str with a newline',
    finding: 'the str went unescaped into the message. Found by the fuzzer (pth-legacy, 3-minute campaign, seed 21)',
    fix: 'src/weights/pth.ts readLegacyCheckpoint: printable()',
    input: () => {
      const units = legacyCheckpoint(SEED_LEGACY).units;
      const stops = units.map((u, i) => (u.bytes.length === 1 && u.bytes[0] === 0x2e ? i : -1)).filter((i) => i >= 0);
      const version = new Pickler(2);
      version.proto().str('colle\ntions').stop();
      return serialize({ units: [...units.slice(0, stops[0]! + 1), ...version.units, ...units.slice(stops[1]! + 1)] });
    },
  },
  {
    target: 'pickle',
    name: 'LIST of 300000 items',
    finding: 'LIST spread its items as call arguments (items.push(...)): RangeError (maximum call stack size) instead of a list. Found while writing the harness (mutations of small seeds never reach 10^5 items)',
    fix: 'src/weights/pickle.ts LIST: a loop',
    input: () => {
      const p = new Pickler(2);
      p.proto().mark();
      const tail = new Pickler(2);
      tail.list().stop();
      return serialize({ units: [...p.units, repeated(0x4e, 300_000), ...tail.units] });
    },
  },
  {
    target: 'pth-legacy',
    name: 'a 100000-element broadcast with 60000 unit dimensions',
    finding: 'gather\'s odometer carried through every size-1 dimension once per element: numel x ndim steps, minutes for a 180 KB file. Found while writing the harness',
    fix: 'src/weights/pth.ts gather: drops size-1 dimensions before the walk',
    input: () => {
      const legacy = legacyCheckpoint(SEED_LEGACY);
      // replace the object pickle (units 3 .. before the keys pickle) by the unit-dimension one
      const units = legacy.units;
      const stops = units.map((u, i) => (u.bytes.length === 1 && u.bytes[0] === 0x2e ? i : -1)).filter((i) => i >= 0);
      // legacy persistent ids have 6 items: unitDimsPickle writes the trailing view_metadata None
      const object = unitDimsPickle(60_000, 100_000);
      return serialize({ units: [...units.slice(0, stops[2]! + 1), ...object, ...units.slice(stops[3]! + 1)] });
    },
  },
  {
    target: 'cli-args',
    name: '300000 positionals after --',
    finding: 'positionals.push(...argv.slice(i + 1)): RangeError for a very long argv (a programmatic main(argv)). Found while writing the harness',
    fix: 'src/cli/args.ts parseArgs: a loop',
    input: () => ({ command: 'summary', argv: ['--', ...Array.from({ length: 300_000 }, () => 'x')] }),
  },
  {
    target: 'video-probe',
    name: 'an answer that is not JSON, with a newline',
    finding: "the answer's text went unescaped into the message (two lines). Found by the fuzzer (video-probe, seed 21, its first 30 s)",
    fix: 'src/cli/video_probe.ts videoInfoFromProbe: JSON.stringify of the quoted text',
    input: () => new TextEncoder().encode('{"streams":[],"form\nt":'),
  },
  {
    target: 'video-probe',
    name: 'a frame 1.5 pixels wide',
    finding: 'width 1.5 passed `w > 0`: the frame buffer of 1.5 x 3 x 3 bytes threw a RangeError. Found while writing the harness',
    fix: 'src/cli/video_probe.ts videoInfoFromProbe: Number.isInteger',
    input: () => probeAnswer({ width: 1.5, height: 3 }),
  },
  {
    target: 'video-probe',
    name: 'a frame rate of 400 digits',
    finding: 'Number("9...9") is Infinity: the frame rate was Infinity, the frame count estimate too. Found while writing the harness',
    fix: 'src/cli/video_probe.ts parseRate: at most 15 digits each side, finite and positive',
    input: () => probeAnswer({ avg_frame_rate: `${'9'.repeat(400)}/1`, r_frame_rate: `${'9'.repeat(400)}/1` }),
  },
  {
    target: 'video-probe',
    name: 'a codec name with a newline',
    finding: "the codec name ('\\ng') went unescaped into the message (two lines). Found by the fuzzer (video-probe, seed 21, 30-minute campaign: once in 36 million)",
    fix: 'src/cli/video_probe.ts videoInfoFromProbe: printable() on every string from the answer',
    input: () => probeAnswer({ codec_name: '\ng', width: 'x' }),
  },
  {
    target: 'video-probe',
    name: 'frames of 65535 x 65535',
    finding: 'a 12.9 GB frame buffer would have been allocated (RangeError, or memory exhausted). Found while writing the harness',
    fix: 'src/cli/video_probe.ts videoInfoFromProbe: DEFAULT_MAX_PIXELS per frame (ETOOBIG)',
    input: () => probeAnswer({ width: 65535, height: 65535 }),
  },
];

/** ffprobe's answer about one H.264 stream of 640x360 at 25 fps, with `stream` fields replaced. */
function probeAnswer(stream: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    streams: [{ index: 0, codec_type: 'video', codec_name: 'h264', width: 640, height: 360, avg_frame_rate: '25/1', r_frame_rate: '25/1', nb_frames: '250', ...stream }],
    format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '10.000000' },
  }));
}

/** A tensor file from header text and data, the length field written as encodeTensorFile does. */
function encodeRaw(json: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(json + ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
