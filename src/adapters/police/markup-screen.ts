import { randomBytes } from 'node:crypto';

/**
 * One pass over a feed document's markup before the XML parser sees it. It tokenises as the
 * parser does (comments, CDATA sections, processing instructions and quoted attribute values
 * are taken whole), so:
 * - `<!DOCTYPE` or `<!ENTITY` written inside a comment, a CDATA section or an attribute is text,
 *   and only a real markup declaration is refused;
 * - a value over `maxValueChars` (attribute value, text, CDATA section) is replaced by `marker`,
 *   and an oversize comment or processing instruction is emptied. The parser builds those one
 *   character at a time: one 9 MiB attribute exhausted the parse worker's heap and the whole page
 *   was refused. The marker lets the caller quarantine only the record that carried it.
 */
export type ScreenResult = { ok: true; text: string; marker?: string } | { ok: false; reason: string };

/** A start or end tag up to its closing `>`, quoted values (which may hold `>`) taken whole. */
const TAG = /<[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>/y;
const QUOTED = /"([^"]*)"|'([^']*)'/g;

export function screenMarkup(text: string, maxValueChars: number): ScreenResult {
  // Random per document, and with a ':' no crime reference, code, date or number can hold.
  const marker = `over-limit:${randomBytes(8).toString('hex')}`;
  const out: string[] = [];
  let copied = 0;
  const replace = (from: number, to: number, by: string) => {
    out.push(text.slice(copied, from), by);
    copied = to;
  };
  let pos = 0;
  for (let lt = text.indexOf('<'); lt !== -1; lt = text.indexOf('<', pos)) {
    if (lt - pos > maxValueChars) replace(pos, lt, marker);
    const end = constructEnd(text, lt);
    // Unterminated: the document is malformed, and the parser says where.
    if (end === -1) break;
    if (end === DECLARATION) return { ok: false, reason: 'DOCTYPE and ENTITY declarations are not allowed' };
    if (end - lt > maxValueChars) {
      const screened = screenConstruct(text.slice(lt, end), maxValueChars, marker);
      if (screened === undefined) return { ok: false, reason: `a tag is over the parser's limit of ${maxValueChars} characters` };
      replace(lt, end, screened);
    }
    pos = end;
  }
  if (text.indexOf('<', pos) === -1 && text.length - pos > maxValueChars) replace(pos, text.length, marker);
  if (copied === 0) return { ok: true, text };
  out.push(text.slice(copied));
  return { ok: true, text: out.join(''), marker };
}

const DECLARATION = -2;

/** Where the construct opening at `lt` ends, -1 if it never does, DECLARATION for `<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`... */
function constructEnd(text: string, lt: number): number {
  if (text.startsWith('<!--', lt)) return after(text, '-->', lt + 4);
  if (text.startsWith('<![CDATA[', lt)) return after(text, ']]>', lt + 9);
  if (text.startsWith('<?', lt)) return after(text, '?>', lt + 2);
  if (text.startsWith('<!', lt)) return /[A-Za-z]/.test(text.charAt(lt + 2)) ? DECLARATION : lt + 2;
  TAG.lastIndex = lt;
  return TAG.test(text) ? TAG.lastIndex : -1;
}

function after(text: string, terminator: string, from: number): number {
  const at = text.indexOf(terminator, from);
  return at === -1 ? -1 : at + terminator.length;
}

/**
 * An oversize construct made small; undefined for a tag over the limit on its names alone. A
 * tag whose values are each under the limit but together over it loses its longest values
 * until it fits: one tag must not refuse the page.
 */
function screenConstruct(construct: string, maxValueChars: number, marker: string): string | undefined {
  if (construct.startsWith('<!--')) return '<!---->';
  if (construct.startsWith('<![CDATA[')) return `<![CDATA[${marker}]]>`;
  if (construct.startsWith('<?')) return '';
  const values = [...construct.matchAll(QUOTED)].map((m) => ({ at: m.index, length: m[0].length }));
  const cut = new Set(values.filter((v) => v.length - 2 > maxValueChars));
  let size = construct.length - [...cut].reduce((n, v) => n + v.length - marker.length - 2, 0);
  for (const v of [...values].sort((a, b) => b.length - a.length)) {
    if (size <= maxValueChars) break;
    if (cut.has(v) || v.length <= marker.length + 2) continue;
    cut.add(v);
    size -= v.length - marker.length - 2;
  }
  if (size > maxValueChars) return undefined;
  let tag = '';
  let copied = 0;
  for (const v of values) {
    if (!cut.has(v)) continue;
    tag += `${construct.slice(copied, v.at)}"${marker}"`;
    copied = v.at + v.length;
  }
  return tag + construct.slice(copied);
}
