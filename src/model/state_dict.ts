// Checks a state dict against the names and shapes an architecture expects, so that a wrong or
// damaged checkpoint fails at load time, naming the keys, instead of producing wrong boxes.
import { RetinaFaceError } from '../errors.js';
import { formatShape, shapeEquals, type Tensor } from '../tensor.js';
import { printable } from '../printable.js';

/** How many names of each kind an error message lists before "and N more". */
const LISTED = 4;

/**
 * Throws one RetinaFaceError (code EWEIGHTS) listing missing, unexpected and mis-shaped keys
 * (the first few of each, with counts). `what` names the architecture in the message.
 */
export function checkStateDict(
  tensors: Map<string, Tensor>,
  expected: Map<string, number[]>,
  file: string,
  what = 'the architecture',
): void {
  const missing = [...expected.keys()].filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));
  const misShaped: string[] = [];
  for (const [k, t] of tensors) {
    const want = expected.get(k);
    if (want !== undefined && !shapeEquals(t.shape, want)) misShaped.push(`${printable(k)} is ${formatShape(t.shape)}, expected ${formatShape(want)}`);
  }
  if (missing.length + unexpected.length + misShaped.length === 0) return;
  const parts: string[] = [];
  if (missing.length) parts.push(`${missing.length} missing (${list(missing.map(printable))})`);
  if (unexpected.length) parts.push(`${unexpected.length} unexpected (${list(unexpected.map(printable))})`);
  if (misShaped.length) parts.push(`${misShaped.length} mis-shaped (${list(misShaped)})`);
  throw new RetinaFaceError(`weights do not match ${what}: ${parts.join('; ')}`, { file, code: 'EWEIGHTS' });
}

function list(names: string[]): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${shown}, and ${names.length - LISTED} more` : shown;
}
