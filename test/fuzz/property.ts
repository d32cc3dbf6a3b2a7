// The one property every target is held to (docs/security.md): the entry point returns a result
// its oracle accepts, or throws exactly the target's error type with a one-line message; never
// another exception type, never beyond the time bound per input.
import type { FuzzInput, Target } from './targets.js';

export type Verdict =
  | { ok: true; outcome: 'accepted' | 'refused'; code: string | undefined; ms: number }
  | { ok: false; kind: 'wrong-error' | 'invalid-result' | 'multi-line-message' | 'slow'; message: string; signature: string; ms: number };

/** The frame of src/ (or of a dependency) that threw, to tell findings apart. */
function whereThrown(e: unknown): string {
  const stack = e instanceof Error ? e.stack ?? '' : '';
  const frame = stack.split('\n').find((l) => /\/(src|node_modules)\//.test(l)) ?? stack.split('\n')[1] ?? '';
  return frame.replace(/^\s*at\s+/, '').replace(/\(.*\/(src|node_modules)\//, '($1/').replace(/:\d+\)?$/, ')');
}

export async function runOne(target: Target, input: FuzzInput, slowMs: number): Promise<Verdict> {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = target.run(input);
    if (result instanceof Promise) result = await result;
  } catch (e) {
    const ms = performance.now() - t0;
    if (!(e instanceof target.errorType)) {
      const name = e instanceof Error ? e.constructor.name : typeof e;
      const message = e instanceof Error ? e.message : String(e);
      return { ok: false, kind: 'wrong-error', message: `${name}: ${message.split('\n')[0]!.slice(0, 300)}`, signature: `wrong-error ${name} at ${whereThrown(e)}`, ms };
    }
    if (e.message.includes('\n')) {
      return { ok: false, kind: 'multi-line-message', message: e.message.slice(0, 300), signature: `multi-line at ${whereThrown(e)}`, ms };
    }
    if (ms > slowMs) return { ok: false, kind: 'slow', message: `refused after ${ms.toFixed(0)} ms: ${e.message.slice(0, 200)}`, signature: `slow ${whereThrown(e)}`, ms };
    return { ok: true, outcome: 'refused', code: (e as { code?: string }).code ?? e.constructor.name, ms };
  }
  const ms = performance.now() - t0;
  try {
    target.check(input, result);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return { ok: false, kind: 'invalid-result', message, signature: `invalid-result ${message.slice(0, 80)}`, ms };
  }
  if (ms > slowMs) return { ok: false, kind: 'slow', message: `accepted after ${ms.toFixed(0)} ms`, signature: 'slow accept', ms };
  return { ok: true, outcome: 'accepted', code: undefined, ms };
}

/** An input as text for reports and regression files: base64 bytes, or the argv as JSON. */
export function showInput(input: FuzzInput): string {
  return input instanceof Uint8Array ? `base64:${Buffer.from(input).toString('base64')}` : `argv:${JSON.stringify(input)}`;
}

export function parseInput(text: string): FuzzInput {
  if (text.startsWith('base64:')) return new Uint8Array(Buffer.from(text.slice(7), 'base64'));
  if (text.startsWith('argv:')) return JSON.parse(text.slice(5)) as FuzzInput;
  throw new Error('an input is base64:... or argv:...');
}
