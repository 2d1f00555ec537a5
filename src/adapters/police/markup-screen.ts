/**
 * One pass over a feed document's markup before the XML parser sees it. It tokenises as the
 * parser does (comments, CDATA sections, processing instructions and quoted attribute values
 * are skipped whole), so `<!DOCTYPE` or `<!ENTITY` written inside a comment, a CDATA section or
 * an attribute is text, and only a real markup declaration is found.
 */
export type ScreenResult = { ok: true; text: string } | { ok: false; reason: string };

/** A start or end tag up to its closing `>`, quoted values (which may hold `>`) taken whole. */
const TAG = /<[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>/y;

export function screenMarkup(text: string): ScreenResult {
  let pos = 0;
  for (let lt = text.indexOf('<'); lt !== -1; lt = text.indexOf('<', pos)) {
    const end = constructEnd(text, lt);
    // Unterminated: the document is malformed, and the parser says where.
    if (end === -1) break;
    if (end === DECLARATION) return { ok: false, reason: 'DOCTYPE and ENTITY declarations are not allowed' };
    pos = end;
  }
  return { ok: true, text };
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
