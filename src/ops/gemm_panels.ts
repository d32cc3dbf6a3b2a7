// The packed weight layout both CPU GEMMs read (cpu-fast's conv2dGemm in conv2d_fast.cpu.ts and
// cpu-simd's gemm in simd/gemm.ts): a dense conv's weights (C_out x K, K = C_in kH kW, row-major)
// in panels of PANEL_ROWS output channels, [panel][k][PANEL_ROWS], so a micro-kernel reads the
// PANEL_ROWS weights of one k contiguously; rows past C_out are zero.

/** Output channels per panel. */
export const PANEL_ROWS = 4;

/** Floats of a weight tensor packed into panels: ceil(C_out / PANEL_ROWS) * PANEL_ROWS * K. */
export function packedDenseFloats(cOut: number, k: number): number {
  return Math.ceil(cOut / PANEL_ROWS) * PANEL_ROWS * k;
}

/** Packs w (C_out x K, row-major) into panels: out[(ob * K + k) * PANEL_ROWS + r] = w[PANEL_ROWS ob + r][k], zero rows past C_out. */
export function packDenseWeights(w: Float32Array, cOut: number, out: Float32Array): void {
  const k = w.length / cOut;
  out.fill(0);
  for (let oc = 0; oc < cOut; oc++) {
    const ob = Math.floor(oc / PANEL_ROWS), r = oc % PANEL_ROWS;
    for (let i = 0; i < k; i++) out[(ob * k + i) * PANEL_ROWS + r] = w[oc * k + i]!;
  }
}
