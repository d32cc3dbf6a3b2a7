// Names read from a file (state-dict keys, zip entry names, pickle globals) go into one-line error
// messages: a hostile name must not break the line, fake another message or flood the terminal.

/** Longest name quoted in a message; the rest is elided. */
const MAX_NAME_CHARS = 200;

/** `s` with control and line-breaking characters escaped (\n, \x1b, \u2028) and elided past 200 chars. */
export function printable(s: string): string {
  const short = s.length > MAX_NAME_CHARS ? `${s.slice(0, MAX_NAME_CHARS)}...(${s.length} chars)` : s;
  return short.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code === 0x0a ? '\\n' : code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}
