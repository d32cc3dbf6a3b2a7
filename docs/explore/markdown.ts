// docs/architecture.md as a page the explorer links into (build.ts writes it to
// docs/explore/lib/architecture.html): the Markdown this repository's docs use (headings with
// GitHub's anchors, paragraphs, lists, tables, fenced code, inline code, emphasis, links,
// images), nothing more. Links to other Markdown files of docs/ become their file names in code:
// the pages serve only themselves.

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** GitHub's heading anchor: lower case, punctuation dropped, each space a hyphen. */
export function slug(heading: string): string {
  return heading.toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function inline(text: string): string {
  const codes: string[] = [];
  let s = text.replace(/`([^`]+)`/g, (_m, c: string) => `\u0000${codes.push(escape(c)) - 1}\u0000`);
  s = escape(s)
    .replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (_m, alt: string, src: string) => `<img alt="${alt}" src="${src}">`)
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, t: string, href: string) =>
      (/^[a-z]+:/.test(href) || href.startsWith('#') ? `<a href="${href}">${t}</a>` : `<code>docs/${href.replace(/^\.\//, '')}</code>`))
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
    .replace(/(^|[\s(])\*([^*\s][^*]*)\*/g, '$1<i>$2</i>');
  return s.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => `<code>${codes[Number(i)]}</code>`);
}

const cells = (row: string) => row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => inline(c.trim().replace(/\\\|/g, '|')));

/** The Markdown text as an HTML document titled `title`. */
export function markdownPage(md: string, title: string): string {
  const lines = md.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
      out.push(`<pre><code>${escape(body.join('\n'))}</code></pre>`);
      i++;
    } else if (/^#{1,6} /.test(line)) {
      const level = line.indexOf(' ');
      const text = line.slice(level + 1);
      out.push(`<h${level} id="${slug(text)}">${inline(text)}</h${level}>`);
      i++;
    } else if (line.startsWith('|')) {
      const rows: string[] = [];
      for (; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!);
      const [head, , ...body] = rows;
      out.push(`<table><thead><tr>${cells(head!).map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>` +
        body.map((r) => `<tr>${cells(r).map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') + '</tbody></table>');
    } else if (/^(- |\d+\. )/.test(line)) {
      const ordered = !line.startsWith('- ');
      const items: string[] = [];
      for (; i < lines.length && (/^(- |\d+\. )/.test(lines[i]!) || /^\s+\S/.test(lines[i]!)); i++) {
        if (/^(- |\d+\. )/.test(lines[i]!)) items.push(lines[i]!.replace(/^(- |\d+\. )/, ''));
        else items[items.length - 1] += ` ${lines[i]!.trim()}`;
      }
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>${items.map((t) => `<li>${inline(t)}</li>`).join('')}</${tag}>`);
    } else if (line.trim() === '') {
      i++;
    } else {
      const para: string[] = [];
      for (; i < lines.length && lines[i]!.trim() !== '' && !/^(```|#{1,6} |\||- |\d+\. )/.test(lines[i]!); i++) para.push(lines[i]!);
      out.push(`<p>${inline(para.join(' '))}</p>`);
    }
  }
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title><link rel="icon" href="data:,"><style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; } body { margin: 0 auto; max-width: 60rem; padding: 0 1rem 3rem; line-height: 1.45; }
table { border-collapse: collapse; font-size: 0.85rem; } th, td { border: 1px solid #8886; padding: 2px 6px; } pre { overflow: auto; background: #8881; padding: 0.5rem; }
img { max-width: 100%; background: #fff; } :target { background: #fff3a8; color: #000; }
</style></head><body>
<p><a href="../index.html">← the explorer</a> · docs/architecture.md, as generated from the repository</p>
${out.join('\n')}
</body></html>
`;
}
