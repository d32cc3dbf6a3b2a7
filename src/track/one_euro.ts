// The One Euro filter (Casiez, Roussel, Vogel, "1 Euro Filter: A Simple Speed-based Low-pass
// Filter for Noisy Input in Interactive Systems", CHI 2012): an exponential low-pass filter whose
// cutoff frequency rises with the signal's speed, so that a still face is smoothed hard (no
// jitter) and a moving one lightly (little lag). Per value, with Te the time since the last sample:
//
//   alpha(fc)  = 1 / (1 + tau / Te),  tau = 1 / (2 pi fc)                  (paper, eq. 1-2)
//   dx_hat     = alpha(dCutoff) * (x - x_hat_prev) / Te + (1 - alpha(dCutoff)) * dx_hat_prev
//   fc         = minCutoff + beta * |dx_hat|
//   x_hat      = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev
//
// Pure TypeScript, no Node built-in: the tracker uses it in Node and in the browser.

export interface OneEuroOptions {
  /**
   * Cutoff (Hz) when the value is still: lower = smoother and more lag. 1 Hz at 30 frames per
   * second is alpha 0.16, which divides the standard deviation of white jitter by about 4.
   */
  minCutoff?: number;
  /**
   * How fast the cutoff rises with speed, in Hz per (pixel per second): 0.05 turns a face moving
   * 300 px/s (10 px a frame at 30 fps) into a 16 Hz cutoff, alpha 0.77, lag about 3 px.
   */
  beta?: number;
  /** Cutoff (Hz) of the speed estimate itself; the paper's default, 1 Hz. */
  dCutoff?: number;
}

export const DEFAULT_ONE_EURO: Required<OneEuroOptions> = { minCutoff: 1, beta: 0.05, dCutoff: 1 };

function alpha(cutoff: number, te: number): number {
  const tau = 1 / (2 * Math.PI * cutoff);
  return 1 / (1 + tau / te);
}

/** A One Euro filter over a vector of n values sampled together (a box, or its landmarks). */
export class OneEuroFilter {
  private readonly o: Required<OneEuroOptions>;
  private x: Float64Array | null = null;
  private readonly dx: Float64Array;
  private t = 0;

  constructor(readonly n: number, options: OneEuroOptions = {}) {
    this.o = { ...DEFAULT_ONE_EURO, ...options };
    for (const [k, v] of Object.entries(this.o)) {
      if (!(Number.isFinite(v) && v >= 0) || (k !== 'beta' && v === 0)) throw new RangeError(`OneEuroFilter: ${k} must be a ${k === 'beta' ? 'number >= 0' : 'positive number'}, got ${v}`);
    }
    this.dx = new Float64Array(n);
  }

  /** The filtered values for `values` sampled at `time` (seconds, increasing). */
  filter(values: readonly number[], time: number): number[] {
    if (values.length !== this.n) throw new RangeError(`OneEuroFilter: expected ${this.n} values, got ${values.length}`);
    if (this.x === null) {
      this.x = Float64Array.from(values); // the first sample passes through
      this.t = time;
      return [...values];
    }
    const te = time - this.t;
    // A repeated or backward time stamp has no frequency: keep the state, return it.
    if (!(te > 0)) return Array.from(this.x);
    this.t = time;
    const aD = alpha(this.o.dCutoff, te);
    const out: number[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const prev = this.x[i]!;
      this.dx[i] = aD * ((values[i]! - prev) / te) + (1 - aD) * this.dx[i]!;
      const a = alpha(this.o.minCutoff + this.o.beta * Math.abs(this.dx[i]!), te);
      this.x[i] = a * values[i]! + (1 - a) * prev;
      out[i] = this.x[i]!;
    }
    return out;
  }
}
