// FNV-1a (32-bit) of bytes: a cheap fingerprint to compare pixels across Node and a page.
// Pure (no Node built-in): the browser harness uses it too.
export function fnv1a(bytes: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}
