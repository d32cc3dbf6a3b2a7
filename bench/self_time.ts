// Self time per function from a V8 CPU profile (the inspector's Profiler.stop result, or a
// .cpuprofile file): each sample's interval is charged to the node it landed in. WebAssembly
// functions appear as "wasm-function[i]" in V8's profiles when the module has no name section;
// `wasmNames[i]` (the module's exports in index order: every kernel of module.ts is exported once,
// in the order it is added) names them. bench/cpu-profile.ts prints the result.

/** The parts of a V8 CPU profile this reads (the inspector's Profiler.Profile). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  /** ms sampled in this function itself, over the whole profile */
  ms: number;
  share: number;
}

/**
 * The functions' self times, largest first; JavaScript ones named "name (file)" where they have a
 * file. Only the samples taken `fromUs` or later after the profile's start count (the profile
 * is started before the kernels are compiled: V8 then attributes their samples to them, where a
 * profiler started after them charged two thirds of ResNet-50's gemmBlocked (166.7 of 257.8 ms a
 * forward) and most of packB to the calls' js-to-wasm frames).
 */
export function selfTimes(profile: CpuProfile, wasmNames: readonly string[], fromUs = 0): SelfTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const us = new Map<string, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs) return;
    const f = byId.get(id);
    if (f === undefined) throw new Error(`cpu profile: sample ${i} names node ${id}, which the profile does not have`);
    const wasm = /^wasm-function\[(\d+)\]$/.exec(f.functionName);
    const name = wasm !== null ? `${wasmNames[Number(wasm[1])] ?? f.functionName} (wasm)`
      : f.url !== '' ? `${f.functionName || '(anonymous)'} (${f.url.split('/').slice(-2).join('/')})` : f.functionName;
    us.set(name, (us.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...us.values()].reduce((s, v) => s + v, 0);
  return [...us.entries()].map(([name, v]) => ({ name, ms: v / 1000, share: total > 0 ? v / total : 0 })).sort((a, b) => b.ms - a.ms);
}
