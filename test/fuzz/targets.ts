// The fuzz targets: one per parser of untrusted bytes (docs/security.md lists them). Each target
// has seeds, a fast-check arbitrary that mutates them at the structure level (structure.ts), the
// entry point, and an oracle for the results it accepts. The property, the same for all
// (property.ts): the entry point returns a valid result or throws exactly the target's error type
// (RetinaFaceError; UsageError for the CLI's argument parser), within a time bound, and what it
// returns stays within the file's stated allocation limits. The smoke test (test/fuzz.test.ts) and
// the long runner (run.ts) share these definitions.
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { COMMANDS } from '../../src/cli.js';
import { videoInfoFromProbe } from '../../src/cli/video_probe.js';
import { numberOption, parseArgs, UsageError, type CommandSpec } from '../../src/cli/args.js';
import { RetinaFaceError } from '../../src/errors.js';
import { decodeImage, DEFAULT_MAX_PIXELS, probeImage } from '../../src/image/decode.js';
import { jpegRows, jpegStreamRefusal } from '../../src/image/jpeg_rows.js';
import { readPngBytes } from '../../src/image/png_read.js';
import { ARCHS } from '../../src/model/config.js';
import { expectedShapes } from '../../src/model/retinaface.js';
import { numel, type Tensor } from '../../src/tensor.js';
import { fetchWeights } from '../../src/weights/fetch.js';
import { checkDataSha256, decodeTensorFile } from '../../src/weights/format.js';
import { PersistentId, PyDict, PyGlobal, PyList, PyTuple, TensorRef, unpickle, type PickleValue } from '../../src/weights/pickle.js';
import { MAX_OUTPUT_BYTES_PER_INPUT_BYTE, readCheckpoint } from '../../src/weights/pth.js';
import { readZip } from '../../src/weights/zip.js';
import { REGRESSIONS } from './regressions.js';
import { fixPngCrcs, jpegDictionary, jpegUnits, pngDictionary, pngFromPlan, pngUnits, seedJpegs, seedPngs, ZLIB_STRATEGIES, type RawPngPlan } from './seeds_images.js';
import {
  archStateDict, legacyCheckpoint, Pickler, SEED_CHECKPOINTS, stateDictPickle, tensorFileSeed, tensorFileUnits, zipArchive,
  zipCheckpoint, zipCheckpointFiles, type SeedCheckpoint,
} from './seeds_weights.js';
import { applyPlan, planArb, serialize, type Structured, type Unit } from './structure.js';

/** An input is bytes, or an argv for the argument parser. */
export type FuzzInput = Uint8Array | { command: string; argv: string[] };

export interface Target {
  name: string;
  /** what the target calls, for docs and reports */
  entry: string;
  /** the source files whose coverage the long runner reports */
  files: string[];
  arbitrary: () => fc.Arbitrary<FuzzInput>;
  /** the entry point; returns a description of what it accepted, for the oracle */
  run: (input: FuzzInput) => unknown | Promise<unknown>;
  /** throws (a plain Error naming the broken rule) when an accepted result is invalid */
  check: (input: FuzzInput, result: unknown) => void;
  /** the only error type the entry point may throw */
  errorType: new (...args: never[]) => Error;
  /** how many smoke-test runs (fixed seed) fit in its share of about 30 s */
  smokeRuns: number;
}

const bytesOf = (input: FuzzInput): Uint8Array => {
  if (!(input instanceof Uint8Array)) throw new Error('byte target given an argv');
  return input;
};

function must(ok: boolean, rule: string): void {
  if (!ok) throw new Error(`oracle: ${rule}`);
}

/** Largest regression input mixed into the mutations (the big ones cost ms each; the smoke test replays them all). */
const MIXED_REGRESSION_MAX = 4096;

/** Regression inputs of one target, mixed into its arbitrary so that the long runs revisit and mutate around them. */
function withRegressions(name: string, arb: fc.Arbitrary<FuzzInput>): fc.Arbitrary<FuzzInput> {
  const size = (i: FuzzInput): number => (i instanceof Uint8Array ? i.length : i.argv.length);
  const kept = REGRESSIONS.filter((r) => r.target === name).map((r) => r.input()).filter((i) => size(i) <= MIXED_REGRESSION_MAX);
  if (kept.length === 0) return arb;
  return fc.oneof({ weight: 20, arbitrary: arb }, { weight: 1, arbitrary: fc.constantFrom(...kept) });
}

function structured(seeds: Structured[], dictionary: Unit[], fixup?: (b: Uint8Array) => Uint8Array, maxMutations = 6): fc.Arbitrary<Uint8Array> {
  return planArb(seeds.length, maxMutations).map((plan) => applyPlan(seeds, dictionary, plan, fixup));
}

// ---------------------------------------------------------------------------------- pickles

/** One unit per opcode that a state dict never holds, or holds in other places, for insertion. */
function pickleDictionary(): Unit[] {
  const p = new Pickler(2);
  p.mark().none().bool(true).int(-1).int(0x12345).long(-5n).long(1n << 80n).float(0.5).str('k').str('é')
    .bytes(new Uint8Array(3)).put().get(0).get(300).emptyTuple().tuple().tupleN(1).tupleN(2).tupleN(3)
    .emptyList().appends().emptyDict().setitem().setitems().reduce().build().binpersid().stop()
    .global('collections', 'OrderedDict').global('builtins', 'dict').global('torch', 'FloatStorage')
    .global('torch._utils', '_rebuild_tensor').global('torch._utils', '_rebuild_parameter')
    .global('posix', 'system').global('builtins', 'eval').global('__builtin__', 'dict');
  const units = [...p.units];
  // opcodes outside the subset (INST, OBJ, PERSID, EXT1, text INT...), DUP, POP, POP_MARK, FRAME,
  // BINUNICODE8 / BINBYTES8 with huge lengths, LONG4, and bytes that are no opcode at all
  for (const raw of [[0x32], [0x30], [0x31], [0x69, 0x61, 0x0a, 0x62, 0x0a], [0x6f], [0x50, 0x31, 0x0a], [0x82, 1],
    [0x49, 0x31, 0x0a], [0x95, 8, 0, 0, 0, 0, 0, 0, 0], [0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0x8e, 0, 0, 0, 0, 0, 0, 0x20, 0], [0x8b, 0xff, 0xff, 0xff, 0x7f], [0x8b, 2, 0, 0, 0, 1, 2], [0x92], [0x93], [0x81],
    [0x54, 2, 0, 0, 0, 0x41, 0x42], [0x55, 1, 0x41], [0x42, 1, 0, 0, 0, 7], [0x8f], [0x97], [0x00], [0xff], [0x80, 6]]) {
    units.push({ bytes: Uint8Array.from(raw), fields: raw.length >= 5 ? [{ at: 1, size: 4, be: false }] : [] });
  }
  return units;
}

function pickleSeeds(): Structured[] {
  const seeds: Structured[] = SEED_CHECKPOINTS.flatMap((c) => [{ units: stateDictPickle(c, false) }, { units: stateDictPickle(c, true) }]);
  // small pickles of every container, and the legacy header pickles
  const p = new Pickler(2);
  p.proto().emptyList().put().mark().int(1).str('a').none().bool(false).float(1.5).long(-(1n << 70n)).appends().stop();
  seeds.push({ units: p.units });
  const q = new Pickler(4);
  q.proto().frame(40).mark().int(1).int(2).int(3).tuple().emptyDict().mark().str('x').int(7).str('y').bytes(new Uint8Array(2)).setitems()
    .tupleN(2).stop();
  seeds.push({ units: q.units });
  return seeds;
}

function validPickleValue(v: PickleValue): boolean {
  return v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' ||
    v instanceof Uint8Array || v instanceof PyTuple || v instanceof PyList || v instanceof PyDict || v instanceof PyGlobal ||
    v instanceof PersistentId || v instanceof TensorRef;
}

const pickleTarget: Target = {
  name: 'pickle',
  entry: 'unpickle(bytes, 0, source)',
  files: ['src/weights/pickle.ts'],
  arbitrary: () => withRegressions('pickle', structured(pickleSeeds(), pickleDictionary(), undefined, 8)),
  run: (input) => unpickle(bytesOf(input), 0, 'fuzz.pkl'),
  check: (input, result) => {
    const r = result as ReturnType<typeof unpickle>;
    must(r.end > 0 && r.end <= bytesOf(input).length, 'end is inside the input');
    must(validPickleValue(r.value), 'the value is a PickleValue');
    must(r.persistentIds.every((p) => p instanceof PersistentId), 'persistent ids are PersistentId');
  },
  errorType: RetinaFaceError,
  smokeRuns: 72000,
};

// ------------------------------------------------------------------------------------- zip

function zipSeeds(): Structured[] {
  const enc = new TextEncoder();
  return [
    zipCheckpoint(SEED_CHECKPOINTS[0]!),
    zipCheckpoint(SEED_CHECKPOINTS[2]!, { zip64: true, byteorder: true }),
    zipArchive([{ name: 'a', data: enc.encode('hello') }, { name: 'dir/b', data: new Uint8Array(70) }], { comment: 'zip comment' }),
    zipArchive([]),
  ];
}

const zipTarget: Target = {
  name: 'zip',
  entry: 'readZip(bytes, source)',
  files: ['src/weights/zip.ts'],
  arbitrary: () => withRegressions('zip', structured(zipSeeds(), [], undefined, 6)),
  run: (input) => readZip(bytesOf(input), 'fuzz.zip'),
  check: (input, result) => {
    const bytes = bytesOf(input);
    for (const [name, e] of result as ReturnType<typeof readZip>) {
      must(e.name === name, 'entries are keyed by their name');
      // stored entries are views into the archive: no allocation per entry
      must(e.data.buffer === bytes.buffer && e.data.byteOffset >= bytes.byteOffset &&
        e.data.byteOffset + e.data.length <= bytes.byteOffset + bytes.length, 'entry data lie inside the archive');
    }
  },
  errorType: RetinaFaceError,
  smokeRuns: 54000,
};

// ------------------------------------------------------------------------------- checkpoints

function checkTensors(input: FuzzInput, tensors: Map<string, Tensor>): void {
  let bytes = 0;
  for (const [k, t] of tensors) {
    must(typeof k === 'string', 'keys are strings');
    must(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `${k}: shape is non-negative integers`);
    must(t.data instanceof Float32Array && t.data.length === numel(t.shape), `${k}: data length is the shape's element count`);
    must(t.data.every((x, i) => Number.isNaN(x) || i >= 0), `${k}: data readable`);
    bytes += t.data.byteLength;
  }
  // pth.ts's output budget: MAX_OUTPUT_BYTES_PER_INPUT_BYTE per input byte plus 64 KiB
  must(bytes <= MAX_OUTPUT_BYTES_PER_INPUT_BYTE * bytesOf(input).length + (1 << 16), `output ${bytes} bytes within the budget`);
}

/** Checkpoints whose pickle is mutated by opcode before the container is built around it. */
function checkpointArb(legacy: boolean): fc.Arbitrary<Uint8Array> {
  const dictionary = pickleDictionary();
  if (legacy) {
    const seeds = SEED_CHECKPOINTS.map((c) => legacyCheckpoint(c));
    return structured(seeds, dictionary, undefined, 6);
  }
  // inner: the data.pkl pickle by opcode; outer: the zip records
  return fc.record({ which: fc.nat(SEED_CHECKPOINTS.length - 1), inner: planArb(1, 4), outer: planArb(1, 3), byteorder: fc.boolean(), zip64: fc.boolean() })
    .map(({ which, inner, outer, byteorder, zip64 }) => {
      const c: SeedCheckpoint = SEED_CHECKPOINTS[which]!;
      const pkl = applyPlan([{ units: stateDictPickle(c, false) }], dictionary, inner);
      const zip = zipArchive(zipCheckpointFiles(c, pkl, { byteorder }), { zip64 });
      return applyPlan([zip], [], outer);
    });
}

const pthLegacyTarget: Target = {
  name: 'pth-legacy',
  entry: 'readCheckpoint(bytes, source) on legacy checkpoints',
  files: ['src/weights/pth.ts', 'src/weights/pickle.ts'],
  arbitrary: () => withRegressions('pth-legacy', checkpointArb(true)),
  run: (input) => readCheckpoint(bytesOf(input), 'fuzz.pth'),
  check: (input, result) => checkTensors(input, result as Map<string, Tensor>),
  errorType: RetinaFaceError,
  smokeRuns: 36000,
};

const pthZipTarget: Target = {
  name: 'pth-zip',
  entry: 'readCheckpoint(bytes, source) on zip checkpoints',
  files: ['src/weights/pth.ts', 'src/weights/pickle.ts', 'src/weights/zip.ts'],
  arbitrary: () => withRegressions('pth-zip', checkpointArb(false)),
  run: (input) => readCheckpoint(bytesOf(input), 'fuzz.pth'),
  check: (input, result) => checkTensors(input, result as Map<string, Tensor>),
  errorType: RetinaFaceError,
  smokeRuns: 36000,
};

// -------------------------------------------------------------------------------- tensor files

/** JSON values that a header field might hold instead of the right one. */
const ODD_JSON: unknown[] = [null, true, 0, -1, 1.5, 1e300, 2 ** 53, 2 ** 53 + 2, -0, '', 'F32', 'F16', 'F64', 'BF16', 'I64',
  'toString', 'constructor', '__proto__', [], [0], [0, 0], [1, 0], [0, 2 ** 60], [-1, 3], ['0', '4'], [2 ** 31, 2 ** 31, 2 ** 31],
  [0, 0, 0], {}, { dtype: 'F32' }];
const ODD_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '__metadata__', '', 'x\ny', 'a'.repeat(300)];

/** A fresh copy: edits must never reach the shared list (or make a value contain itself). */
const odd = (i: number): unknown => structuredClone(ODD_JSON[i % ODD_JSON.length]);

interface JsonEdit { kind: number; a: number; b: number; c: number }

function editHeader(header: Record<string, unknown>, edits: JsonEdit[]): string {
  const h = structuredClone(header) as Record<string, unknown>;
  const extra: string[] = [];
  for (const e of edits) {
    const names = Object.keys(h);
    const name = names.length > 0 ? names[e.a % names.length]! : '';
    switch (e.kind % 6) {
      case 0: { // a field of an entry to an odd value
        const entry = h[name];
        if (entry !== null && typeof entry === 'object') {
          const fields = name === '__metadata__' ? Object.keys(entry) : ['dtype', 'shape', 'data_offsets'];
          if (fields.length > 0) (entry as Record<string, unknown>)[fields[e.b % fields.length]!] = odd(e.c);
        }
        break;
      }
      case 1: // an entry replaced by an odd value
        h[name] = odd(e.c);
        break;
      case 2: // an entry removed
        delete h[name];
        break;
      case 3: // an entry copied under an odd name (written as text: JSON.stringify would drop __proto__ semantics)
        extra.push(`${JSON.stringify(ODD_NAMES[e.b % ODD_NAMES.length])}:${JSON.stringify(h[name] ?? null)}`);
        break;
      case 4: { // a shape dimension scaled: [d] -> [d * k] or a zero dimension added
        const entry = h[name] as { shape?: unknown } | undefined;
        if (entry && Array.isArray(entry.shape)) entry.shape = e.c % 2 ? [...entry.shape, 0] : entry.shape.map((d: number) => d * (1 + (e.b % 4)));
        break;
      }
      default: // duplicate key (the last one wins in JSON.parse)
        extra.push(`${JSON.stringify(name)}:${JSON.stringify(odd(e.c))}`);
    }
  }
  const text = JSON.stringify(h);
  return extra.length === 0 ? text : `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}${extra.join(',')}}`;
}

function tensorFileSeeds() {
  const t = (shape: number[], seed: number): Tensor => ({ shape, data: Float32Array.from({ length: numel(shape) }, (_, i) => (i + seed) / 8) });
  return [
    tensorFileSeed([['a', t([2, 3], 1)], ['b', t([4], 2)], ['scalar', t([], 3)]], { arch: 'mobile0.25' }, true),
    tensorFileSeed([['only', t([1, 1, 1, 2], 4)], ['empty', t([0, 5], 0)]], {}, false),
    tensorFileSeed([], {}, true),
    f16Seed(),
  ];
}

/** A float16 tensor file, which encodeTensorFile does not write: header by hand. */
function f16Seed() {
  const header = { __metadata__: { format: 'retinaface-ts', format_version: '1' }, h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] } };
  return { header, data: Uint8Array.from([0x00, 0x3c, 0x00, 0x7c, 0x01, 0x7e]) };
}

function tensorFileArb(seeds: ReturnType<typeof tensorFileSeeds>, dictionary: Unit[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.record({ kind: fc.nat(5), a: fc.nat(), b: fc.nat(), c: fc.nat() });
  return fc.record({ which: fc.nat(seeds.length - 1), edits: fc.array(edit, { maxLength: 3 }), outer: planArb(1, 3) })
    .map(({ which, edits, outer }) => {
      const s = seeds[which]!;
      const units = tensorFileUnits(editHeader(s.header, edits), s.data, s.header);
      return applyPlan([units], dictionary, outer);
    });
}

const tensorFileTarget: Target = {
  name: 'tensor-file',
  entry: 'decodeTensorFile(bytes, source) + checkDataSha256(bytes, metadata, source, required)',
  files: ['src/weights/format.ts'],
  arbitrary: () => withRegressions('tensor-file', tensorFileArb(tensorFileSeeds(), [])),
  run: async (input) => {
    const bytes = bytesOf(input);
    const file = decodeTensorFile(bytes, 'fuzz.safetensors');
    await checkDataSha256(bytes, file.metadata, 'fuzz.safetensors', bytes.length % 2 === 0);
    return file;
  },
  check: (input, result) => {
    const r = result as ReturnType<typeof decodeTensorFile>;
    for (const v of Object.values(r.metadata)) must(typeof v === 'string', 'metadata values are strings');
    let bytes = 0;
    for (const [k, t] of r.tensors) {
      must(t.data.length === numel(t.shape), `${k}: data length is the shape's element count`);
      bytes += t.data.byteLength;
    }
    // float32 is copied; float16 widens 2 -> 4 bytes: at most twice the input
    must(bytes <= 2 * bytesOf(input).length, 'output at most twice the input');
  },
  errorType: RetinaFaceError,
  smokeRuns: 45000,
};

// ---------------------------------------------------------------------------- weights (fetch.ts)

function weightsArb(): fc.Arbitrary<Uint8Array> {
  // real key names with zero tensors: a complete mobile0.25 file, and partial ones that fail the key check
  const full = tensorFileSeed(archStateDict('mobile0.25'), { arch: 'mobile0.25' }, true);
  const partial = tensorFileSeed(archStateDict('resnet50', (i) => i < 3), { arch: 'resnet50' }, true);
  const noChecksum = tensorFileSeed(archStateDict('mobile0.25', (i) => i % 7 === 0), { arch: 'mobile0.25' }, false);
  const tf = tensorFileArb([full, partial, noChecksum], []);
  const pthSeed: SeedCheckpoint = {
    storages: [{ key: '0', type: 'Float', numel: 8 * 3 * 3 * 3 }, { key: '1', type: 'Float', numel: 8 }],
    tensors: [
      { key: 'body.stage1.0.0.weight', storage: '0', offset: 0, size: [8, 3, 3, 3], stride: [27, 9, 3, 1] },
      { key: 'body.stage1.0.1.weight', storage: '1', offset: 0, size: [8], stride: [1] },
    ],
  };
  const pths = [zipCheckpoint(pthSeed), legacyCheckpoint(pthSeed)];
  return fc.oneof({ weight: 3, arbitrary: tf }, { weight: 2, arbitrary: structured(pths, pickleDictionary(), undefined, 4) });
}

const weightsTarget: Target = {
  name: 'weights',
  entry: 'fetchWeights(bytes) (sniffWeights, weightsFromTensorFile / weightsFromCheckpoint, checkStateDict, checkDataSha256)',
  files: ['src/weights/fetch.ts', 'src/weights/weights.ts', 'src/model/state_dict.ts', 'src/weights/format.ts', 'src/weights/pth.ts'],
  arbitrary: () => withRegressions('weights', weightsArb()),
  run: (input) => fetchWeights(bytesOf(input)),
  check: (_input, result) => {
    const w = result as Awaited<ReturnType<typeof fetchWeights>>;
    must((ARCHS as readonly string[]).includes(w.arch), 'arch is known');
    const expected = expectedShapes(w.arch);
    must(w.tensors.size === expected.size, 'every expected tensor, nothing else');
    for (const [k, shape] of expected) {
      const t = w.tensors.get(k);
      must(t !== undefined && t.shape.join() === shape.join() && t.data.length === numel(shape), `${k} has its expected shape`);
    }
  },
  errorType: RetinaFaceError,
  smokeRuns: 7200,
};

// ------------------------------------------------------------------------------------- images

/** Small pixel limit for the fuzz runs: decoding stays milliseconds per input. */
export const FUZZ_MAX_PIXELS = 1 << 16;

const rawPngPlanArb: fc.Arbitrary<RawPngPlan> = fc.record({
  width: fc.integer({ min: 1, max: 40 }),
  height: fc.integer({ min: 1, max: 40 }),
  colorType: fc.constantFrom(0 as const, 2 as const, 3 as const, 4 as const, 6 as const),
  depth: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const, 16 as const),
  interlace: fc.boolean(),
  seed: fc.nat(),
  level: fc.integer({ min: 0, max: 9 }),
  strategy: fc.constantFrom(...ZLIB_STRATEGIES),
  badFilters: fc.boolean(),
  palette: fc.integer({ min: 1, max: 256 }),
  trns: fc.boolean(),
});

function pngArb(): fc.Arbitrary<Uint8Array> {
  const seeds = seedPngs().map(pngUnits);
  const dictionary = pngDictionary();
  // fresh PNGs from random raw rows, then chunk-level edits with CRCs repaired
  const fresh = fc.record({ plan: rawPngPlanArb, edits: planArb(1, 3) })
    .map(({ plan, edits }) => applyPlan([pngUnits(pngFromPlan(plan))], dictionary, edits, fixPngCrcs));
  return fc.oneof(fresh, structured(seeds, dictionary, fixPngCrcs, 5));
}

function jpegArb(): fc.Arbitrary<Uint8Array> {
  return structured(seedJpegs().map(jpegUnits), jpegDictionary(), undefined, 5);
}

function imageArb(): fc.Arbitrary<Uint8Array> {
  return fc.oneof(pngArb(), jpegArb());
}

const probeTarget: Target = {
  name: 'image-probe',
  entry: 'probeImage(bytes, file, { maxPixels })',
  files: ['src/image/decode.ts'],
  arbitrary: () => withRegressions('image-probe', imageArb()),
  run: (input) => probeImage(bytesOf(input), 'fuzz-image', { maxPixels: FUZZ_MAX_PIXELS }),
  check: (_input, result) => {
    const r = result as ReturnType<typeof probeImage>;
    must(r.width >= 1 && r.height >= 1 && r.width * r.height <= FUZZ_MAX_PIXELS, 'size within maxPixels');
    must(r.orientation >= 1 && r.orientation <= 8, 'orientation 1..8');
  },
  errorType: RetinaFaceError,
  smokeRuns: 54000,
};

const decodeTarget: Target = {
  name: 'image-decode',
  entry: 'decodeImage(bytes, file, { maxPixels }) (jpeg-js, pngjs behind probeImage)',
  files: ['src/image/decode.ts', 'src/image/png_codec.ts'],
  arbitrary: () => withRegressions('image-decode', imageArb()),
  run: (input) => decodeImage(bytesOf(input), 'fuzz-image', { maxPixels: FUZZ_MAX_PIXELS }),
  check: (input, result) => {
    const r = result as ReturnType<typeof decodeImage>;
    const info = probeImage(bytesOf(input), 'fuzz-image', { maxPixels: FUZZ_MAX_PIXELS });
    must(r.width * r.height <= FUZZ_MAX_PIXELS, 'size within maxPixels');
    must(r.data.length === 3 * r.width * r.height, 'RGB data of width x height');
    // jpeg-js trusts the frame header, pngjs the IHDR: the decoded size is the probed one
    must(r.width === info.width && r.height === info.height, `decoded ${r.width}x${r.height}, probed ${info.width}x${info.height}`);
  },
  errorType: RetinaFaceError,
  smokeRuns: 14400,
};

/** jpeg-js's decode of a file without EXIF rotation, or undefined where it refuses it (or the file is rotated). */
function wholeJpeg(bytes: Uint8Array): ReturnType<typeof decodeImage> | undefined {
  try {
    return probeImage(bytes, 'fuzz-image', { maxPixels: FUZZ_MAX_PIXELS }).orientation === 1 ? decodeImage(bytes, 'fuzz-image', { maxPixels: FUZZ_MAX_PIXELS }) : undefined;
  } catch {
    return undefined;
  }
}

const jpegRowsTarget: Target = {
  name: 'jpeg-rows',
  entry: 'jpegRows(bytes, file).read(...) (the streaming baseline decoder of --max_network_pixels)',
  files: ['src/image/jpeg_rows.ts'],
  arbitrary: () => withRegressions('jpeg-rows', jpegArb()),
  run: (input) => {
    const bytes = bytesOf(input);
    const refusal = jpegStreamRefusal(bytes, 'fuzz-image');
    if (refusal !== undefined) return { refusal };
    try {
      const src = jpegRows(bytes, 'fuzz-image');
      const data = new Uint8Array(3 * src.width * src.height);
      const band = new Uint8Array(3 * src.width * 16);
      for (let y = 0, n = 0; (n = src.read(band, 16)) > 0; y += n) data.set(band.subarray(0, 3 * src.width * n), 3 * src.width * y);
      return { width: src.width, height: src.height, data };
    } catch (e) {
      // a file it promised to stream and then refused: fine only if the whole-image decoder refuses it too
      if (wholeJpeg(bytes) !== undefined) return { refusedWhatJpegJsReads: (e as Error).message };
      throw e;
    }
  },
  check: (input, result) => {
    const r = result as { refusal: string } | { refusedWhatJpegJsReads: string } | { width: number; height: number; data: Uint8Array };
    if ('refusal' in r) return;
    must(!('refusedWhatJpegJsReads' in r), `refused a file jpeg-js decodes: ${'refusedWhatJpegJsReads' in r ? r.refusedWhatJpegJsReads : ''}`);
    if (!('data' in r)) return;
    const bytes = bytesOf(input);
    must(r.width * r.height <= 256 * bytes.length, 'at most 256 pixels a byte');
    // the same pixels as jpeg-js wherever it decodes the file too, unrotated (jpegRows ignores EXIF)
    const theirs = wholeJpeg(bytes);
    if (theirs !== undefined) {
      must(theirs.width === r.width && theirs.height === r.height, `size ${r.width}x${r.height}, jpeg-js ${theirs.width}x${theirs.height}`);
      must(r.data.every((v, i) => v === theirs!.data[i]), 'same pixels as jpeg-js');
    }
  },
  errorType: RetinaFaceError,
  smokeRuns: 10000,
};

const pngReadTarget: Target = {
  name: 'png-read',
  entry: 'readPngBytes(bytes) (the browser build\'s inflate + PNG reader)',
  files: ['src/image/png_read.ts', 'src/image/png_format.ts', 'src/image/png_inflate.ts', 'src/image/png_pixels.ts'],
  arbitrary: () => withRegressions('png-read', pngArb()),
  run: (input) => readPngBytes(bytesOf(input)),
  check: (input, result) => {
    const r = result as ReturnType<typeof readPngBytes>;
    const bytes = bytesOf(input);
    must(r.data.length === 4 * r.width * r.height, 'RGBA data of width x height');
    // png_read.ts: the inflated size is at most 1032 x the IDAT bytes, and RGBA is at most 64 x
    // the inflated bits (1-bit gray -> 4 x 16-bit samples would be more, but 1-bit is 8-bit RGBA)
    must(r.data.byteLength <= 32 * 1032 * bytes.length && r.data.byteLength <= 2 ** 31 - 1, 'output within the deflate bound');
    // the same samples as pngjs, where pngjs accepts the file too (test/png_read.test.ts's contract)
    let theirs: PNG | undefined;
    try {
      theirs = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
    } catch {
      theirs = undefined;
    }
    if (theirs !== undefined && theirs.data.length === r.data.length) {
      const same = r.data.every((v, i) => v === (theirs!.data as unknown as ArrayLike<number>)[i]);
      must(same, 'same samples as pngjs');
    }
  },
  errorType: RetinaFaceError,
  smokeRuns: 27000,
};

// ------------------------------------------------------------------------------- CLI arguments

function argvArb(): fc.Arbitrary<FuzzInput> {
  const commands: CommandSpec[] = COMMANDS;
  return fc.nat(commands.length - 1).chain((ci) => {
    const c = commands[ci]!;
    const names = c.options.flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]);
    const values = [...new Set(c.options.flatMap((o) => o.choices ?? []))];
    const token = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...names) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...c.options.map((o) => o.name)), fc.oneof(fc.constantFrom(...values, '', '1', '-1', 'x'), fc.string())).map(([n, v]) => `--${n}=${v}`) },
      { weight: 2, arbitrary: fc.constantFrom(...values, '0', '1', '1e309', 'NaN', '-5', '0x10', ' 3', '640x480', 'photo.jpg', 'dir/', '') },
      { weight: 1, arbitrary: fc.constantFrom('--', '-', '---', '-x', '-ii', '--help=1', '--=', '--input=', '-i=a', '--constructor', '--__proto__', '--toString') },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
    );
    return fc.array(token, { maxLength: 12 }).map((argv) => ({ command: c.name, argv }));
  });
}

const argsTarget: Target = {
  name: 'cli-args',
  entry: 'parseArgs(argv, command) + numberOption on every valued option (convert, detect, align, summary)',
  files: ['src/cli/args.ts'],
  arbitrary: () => withRegressions('cli-args', argvArb()),
  run: (input) => {
    if (input instanceof Uint8Array) throw new Error('cli-args given bytes');
    const command = COMMANDS.find((c) => c.name === input.command)!;
    const args = parseArgs(input.argv, command);
    for (const o of command.options) if (o.value !== undefined && !o.multiple && o.choices === undefined) numberOption(args, o.name, { min: 0, max: 10, integer: o.name.length % 2 === 0 });
    return args;
  },
  check: (input, result) => {
    if (input instanceof Uint8Array) return;
    const command = COMMANDS.find((c) => c.name === input.command)!;
    const args = result as ReturnType<typeof parseArgs>;
    const required = command.positionals.filter((p) => !p.optional).length;
    must(args.positionals.length >= required && args.positionals.length <= command.positionals.length, 'positional count');
    for (const [name, value] of args.options) {
      const spec = command.options.find((o) => o.name === name);
      must(spec !== undefined, `--${name} is an option of ${command.name}`);
      if (spec!.value === undefined) must(value === true, `--${name} is a flag`);
      else if (spec!.multiple) must(Array.isArray(value) && value.length > 0, `--${name} holds values`);
      else must(typeof value === 'string', `--${name} holds one value`);
      for (const v of Array.isArray(value) ? value : [value]) must(spec!.choices === undefined || spec!.choices.includes(v as string), `--${name} value among its choices`);
    }
  },
  errorType: UsageError,
  smokeRuns: 54000,
};

// ---------------------------------------------------------------------------------- video

/**
 * ffprobe's JSON answer about a video, as videoInfoFromProbe reads it: generated field by field
 * with the values a hostile file can make ffprobe echo (sizes up to 65535 and beyond, rates such
 * as "0/0" or with 400 digits, rotations of any angle, a cover picture, no stream), values of the
 * wrong JSON type in every field, and the text then truncated or with a byte changed.
 */
function probeAnswerArb(): fc.Arbitrary<FuzzInput> {
  const scalar = fc.oneof(
    fc.integer({ min: -3, max: 70000 }), fc.constantFrom(0, -1, 0.5, 1.5, 1e308, -1e308, 2 ** 53, 65535, 8000, 6400),
    fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean(),
  );
  const value = fc.oneof({ weight: 6, arbitrary: scalar }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), scalar, { maxKeys: 3 }) });
  /** Mostly what ffprobe writes (`typical`), sometimes another JSON value, sometimes absent (JSON.stringify drops undefined). */
  const field = <T>(typical: fc.Arbitrary<T>) => fc.option(fc.oneof({ weight: 5, arbitrary: typical }, { weight: 1, arbitrary: value }), { freq: 10, nil: undefined });
  const rate = fc.oneof({ weight: 3, arbitrary: fc.tuple(fc.integer({ min: 1, max: 240000 }), fc.integer({ min: 1, max: 1001 })).map(([a, b]) => `${a}/${b}`) },
    { weight: 1, arbitrary: fc.constantFrom('30000/1001', '0/0', '1/0', '0/1', '1/1000000', `${'9'.repeat(400)}/1`, '99999999999999999999/1', ' 25/1', '25', '') });
  const size = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 8000 }) }, { weight: 1, arbitrary: fc.constantFrom(7071, 7072, 65535, 0, -1, 1.5) });
  const stream = fc.record({
    index: field(fc.nat(3)), codec_type: field(fc.constantFrom('video', 'video', 'audio', 'subtitle', 'data')),
    codec_name: field(fc.constantFrom('h264', 'ffv1', 'png', 'mjpeg')), width: field(size), height: field(size),
    avg_frame_rate: field(rate), r_frame_rate: field(rate), nb_frames: field(fc.oneof(fc.nat(100000).map(String), fc.constantFrom('0', '1e400', '-5', '9007199254740993'))),
    duration: field(fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }).map(String), fc.constantFrom('0', '-1', '1e308', 'N/A'))),
    disposition: field(fc.record({ attached_pic: field(fc.constantFrom(0, 0, 1)) })),
    tags: field(fc.record({ rotate: field(fc.constantFrom('90', '-90', '180', '270', '45', '1e400')) })),
    side_data_list: field(fc.array(field(fc.record({ rotation: field(fc.constantFrom(90, -90, 180, -270, 360, 45, 0.5)) })), { maxLength: 2 })),
  });
  const answer = fc.record({
    streams: field(fc.array(stream, { minLength: 1, maxLength: 3 })),
    format: field(fc.record({
      format_name: field(fc.constantFrom('mov,mp4,m4a,3gp,3g2,mj2', 'matroska,webm', 'avi', 'image2', 'png_pipe')),
      duration: field(fc.constantFrom('10.000000', '1e308', 'N/A')),
    })),
  });
  const text = fc.oneof({ weight: 12, arbitrary: answer }, { weight: 1, arbitrary: value }).map((a) => JSON.stringify(a) ?? 'undefined');
  // Text damage, one answer in four: cut at a point, or one byte replaced.
  return fc.tuple(text, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })).map(([t, cut, at, how, byte]): FuzzInput => {
    const b = new TextEncoder().encode(t);
    if (how === 1) return b.subarray(0, cut % (b.length + 1));
    if (how === 2 && b.length > 0) b[at % b.length] = byte;
    return b;
  });
}

const videoProbeTarget: Target = {
  name: 'video-probe',
  entry: 'videoInfoFromProbe(ffprobe\'s JSON answer, file) (the video CLI\'s reading of what a video declares)',
  files: ['src/cli/video_probe.ts'],
  arbitrary: () => withRegressions('video-probe', probeAnswerArb()),
  run: (input) => videoInfoFromProbe(new TextDecoder().decode(bytesOf(input)), 'fuzz-video'),
  check: (_input, result) => {
    const r = result as ReturnType<typeof videoInfoFromProbe>;
    must(Number.isInteger(r.width) && Number.isInteger(r.height) && r.width > 0 && r.height > 0, `frame size of whole pixels: ${r.width}x${r.height}`);
    must(r.width * r.height <= DEFAULT_MAX_PIXELS, 'frame within DEFAULT_MAX_PIXELS');
    must(Number.isFinite(r.fps) && r.fps > 0, `finite positive frame rate: ${r.fps}`);
    must(typeof r.rate === 'string' && /^\d+\/\d+$/.test(r.rate), `rate as ffmpeg writes it: ${r.rate}`);
    for (const n of [r.frames, r.expectedFrames]) must(n === undefined || (Number.isSafeInteger(n) && n > 0), `counts are safe positive integers: ${n}`);
    must(Number.isInteger(r.rotation) && r.rotation >= 0 && r.rotation < 360, `rotation in [0, 360): ${r.rotation}`);
    must(Number.isSafeInteger(r.index) && r.index >= 0, `stream index: ${r.index}`);
  },
  errorType: RetinaFaceError,
  smokeRuns: 20000,
};

export const TARGETS: readonly Target[] = [
  pickleTarget, zipTarget, pthLegacyTarget, pthZipTarget, tensorFileTarget, weightsTarget, probeTarget, decodeTarget, jpegRowsTarget, pngReadTarget, argsTarget,
  videoProbeTarget,
];

export function targetByName(name: string): Target {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined) throw new Error(`unknown fuzz target ${name} (known: ${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}

export { serialize };
