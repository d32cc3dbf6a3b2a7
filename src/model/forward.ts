// The state of one forward pass: the backend, and which module outputs to observe. Every
// module's forward() reports its output here under its PyTorch path, whether or not anyone
// watches; observing is a setting, never a change to the forward code. Nor is memory: the
// backend a pass sees is a Scheduled one (schedule.ts), which frees each tensor after its last use.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import type { Module } from './modules.js';

/** true: every module output; a list: those paths; a predicate; false/undefined: none. */
export type TapSelection = boolean | readonly string[] | ((path: string) => boolean) | undefined;

export class Forward<T> {
  readonly taps = new Map<string, Promise<Tensor>>();
  private readonly wanted: (path: string) => boolean;

  constructor(readonly be: Backend<T>, selection: TapSelection) {
    if (typeof selection === 'function') this.wanted = selection;
    else if (Array.isArray(selection)) {
      const set = new Set(selection);
      this.wanted = (p) => set.has(p);
    } else this.wanted = () => selection === true;
  }

  /** Reports a module's output (by module or by explicit path) and passes it through. */
  out(m: Module | string, x: T): T {
    const path = typeof m === 'string' ? m : m.path;
    if (this.wanted(path)) this.taps.set(path, this.be.read(x));
    return x;
  }
}
