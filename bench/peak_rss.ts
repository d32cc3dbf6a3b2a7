// This process's peak memory, read the same way by every measured process of the benchmarks.
import { readFileSync } from 'node:fs';

/**
 * This process's peak resident set in MB. On Linux, getrusage's maxRSS survives execve, so a forked
 * worker would report its parent's peak; VmHWM in /proc/self/status starts afresh with the new image.
 */
export function peakRssMB(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS / 1024;
}
