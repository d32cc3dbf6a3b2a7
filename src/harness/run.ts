// The runner: a list of op cases on one backend, each checked against its naive reference with the
// backend's tolerance. One prepare() for the whole list (every case's conv unit, held by one module
// as a network holds its units); a case that throws is a failure with its message, and the list
// goes on. Returns plain data (the Chromium page sends it back to Node).
import type { Backend } from '../backend.js';
import { Sequential } from '../model/modules.js';
import type { OpCase } from './cases.js';
import type { Tolerance } from './compare.js';

export interface CaseResult {
  op: string;
  /** the case's name and the backend: 'conv dense 3x3/2 (128, 9, 11) -> (128, 5, 6) +bn slope 0.1 seed 1040 on gpujs-webasm' */
  label: string;
  ok: boolean;
  compared: string;
  maxAbsError: number;
  /** on failure: op, shape, backend, index (flat and per dimension), both values and the error */
  message?: string;
}

export async function runCases<T>(be: Backend<T>, cases: readonly OpCase[], tol: Tolerance): Promise<CaseResult[]> {
  await be.prepare(new Sequential(...cases.flatMap((c) => (c.model === null ? [] : [c.model]))));
  const results: CaseResult[] = [];
  for (const c of cases) {
    const label = `${c.name} on ${be.name}`;
    const xs: T[] = [];
    try {
      for (const x of c.inputs) xs.push(be.upload(x));
      const y = c.run(be, xs);
      const got = await be.read(y);
      be.release(y);
      const check = c.check(label, got, tol);
      results.push({ op: c.op, label, ok: check.ok, compared: check.compared, maxAbsError: check.maxAbsError, ...(check.message === undefined ? {} : { message: check.message }) });
    } catch (e) {
      results.push({ op: c.op, label, ok: false, compared: 'nothing', maxAbsError: Infinity, message: `${label}: threw ${(e as Error).message ?? String(e)}` });
    } finally {
      for (const x of xs) be.release(x);
    }
  }
  return results;
}

/** The failures of a run, for an assertion message: how many, then up to `max` of them, one a line. */
export function failureReport(results: readonly CaseResult[], max = 8): string {
  const bad = results.filter((r) => !r.ok);
  return `${bad.length} of ${results.length} cases failed:\n` + bad.slice(0, max).map((r) => `  ${r.message}`).join('\n');
}
