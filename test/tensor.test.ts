import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeTensorFile, encodeTensorFile, halfToFloat } from '../src/weights/format.js';

test('tensor file round-trips names, shapes, values and metadata', () => {
  const a = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-30, -7]) };
  const b = { shape: [], data: Float32Array.from([42]) };
  const bytes = encodeTensorFile([['a', a], ['x.y', b]], { arch: 'mobile0.25' });
  assert.is((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8, 0);
  const f = decodeTensorFile(bytes);
  assert.equal(f.metadata, { format: 'retinaface-ts', format_version: '1', arch: 'mobile0.25' });
  assert.equal(f.tensors.get('a')!.shape, [2, 3]);
  assert.equal(Array.from(f.tensors.get('a')!.data), Array.from(a.data));
  assert.equal(Array.from(f.tensors.get('x.y')!.data), [42]);
});

test('halfToFloat decodes normal, subnormal and special halves', () => {
  assert.is(halfToFloat(0x3c00), 1);
  assert.is(halfToFloat(0xc000), -2);
  assert.is(halfToFloat(0x0001), 2 ** -24);
  assert.is(halfToFloat(0x7bff), 65504);
  assert.is(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

test.run();
