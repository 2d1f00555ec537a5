import type { TreeBuilder } from './xml-tree-builder';

/**
 * Reads a plain XML document with a few sticky regular expressions instead of sax's character
 * by character state machine: an optional XML declaration, elements with ASCII names, quoted
 * attribute values, text, comments and CDATA sections, and only the five predefined entities.
 * Anything else (another entity, a character reference, a DOCTYPE or processing instruction,
 * whitespace around `=`, a repeated attribute, an unmatched tag, the end before the root closes)
 * returns false before the tree is used, and sax reads the document instead: so sax alone
 * decides what is malformed and how unusual markup reads.
 */
const WS = /[ \t\r\n]*/y;
const DECLARATION = /<\?xml[ \t\r\n][^<>?]*\?>/y;
const OPEN = /<([A-Za-z_:][\w:.-]*)/y;
const ATTRIBUTE = /[ \t\r\n]+([A-Za-z_:][\w:.-]*)=(?:"([^"<]*)"|'([^'<]*)')/y;
const OPEN_END = /[ \t\r\n]*(\/?)>/y;
const CLOSE = /<\/([A-Za-z_:][\w:.-]*)[ \t\r\n]*>/y;
const TEXT = /[^<]+/y;
const COMMENT = /<!--([\s\S]*?)-->/y;
const CDATA = /<!\[CDATA\[([\s\S]*?)\]\]>/y;
const ENTITY = /&(?:(amp)|(lt)|(gt)|(quot)|(apos));|&/g;
const ENTITY_TEXT = ['&', '<', '>', '"', "'"];

/** True when the document was read to its root's close; false to leave it to sax. */
export function scanPlainXml(text: string, builder: TreeBuilder): boolean {
  const names: string[] = [];
  let pos = skip(WS, text, 0);
  DECLARATION.lastIndex = pos;
  if (DECLARATION.test(text)) pos = DECLARATION.lastIndex;
  for (;;) {
    if (names.length === 0) pos = skip(WS, text, pos);
    if (pos >= text.length) return false;
    if (text.charCodeAt(pos) !== 0x3c /* < */) {
      if (names.length === 0) return false;
      TEXT.lastIndex = pos;
      const chunk = TEXT.exec(text)![0];
      const decoded = decode(chunk);
      if (decoded === undefined) return false;
      builder.text(decoded);
      pos = TEXT.lastIndex;
      continue;
    }
    const next = text.charCodeAt(pos + 1);
    if (next === 0x2f /* / */) {
      CLOSE.lastIndex = pos;
      const close = CLOSE.exec(text);
      if (!close || close[1] !== names[names.length - 1]) return false;
      names.pop();
      pos = CLOSE.lastIndex;
      if (builder.close()) return true;
      continue;
    }
    if (next === 0x21 /* ! */) {
      COMMENT.lastIndex = pos;
      const comment = COMMENT.exec(text);
      if (comment) {
        // sax refuses `--` inside a comment and a comment ending in `-`.
        if (comment[1]!.includes('--') || comment[1]!.endsWith('-')) return false;
        pos = COMMENT.lastIndex;
        continue;
      }
      CDATA.lastIndex = pos;
      const cdata = CDATA.exec(text);
      if (!cdata || names.length === 0) return false;
      // sax reports no empty section, so it marks no text as CDATA.
      if (cdata[1]) builder.cdata(cdata[1]);
      pos = CDATA.lastIndex;
      continue;
    }
    OPEN.lastIndex = pos;
    const open = OPEN.exec(text);
    if (!open) return false;
    const name = open[1]!;
    pos = OPEN.lastIndex;
    const attributes: Record<string, string> = {};
    for (;;) {
      ATTRIBUTE.lastIndex = pos;
      const attribute = ATTRIBUTE.exec(text);
      if (!attribute) break;
      const key = attribute[1]!;
      // A repeat (sax keeps the first) or a name Object.prototype holds: left to sax.
      if (key in attributes) return false;
      const value = decode(attribute[2] ?? attribute[3]!);
      if (value === undefined) return false;
      attributes[key] = value;
      pos = ATTRIBUTE.lastIndex;
    }
    OPEN_END.lastIndex = pos;
    const end = OPEN_END.exec(text);
    if (!end) return false;
    pos = OPEN_END.lastIndex;
    builder.open(name, attributes);
    if (end[1] === '/') {
      if (builder.close()) return true;
    } else {
      names.push(name);
    }
  }
}

function skip(re: RegExp, text: string, pos: number): number {
  re.lastIndex = pos;
  re.test(text);
  return re.lastIndex;
}

/** The five predefined entities decoded; undefined for any other `&`. */
function decode(raw: string): string | undefined {
  if (!raw.includes('&')) return raw;
  let unknown = false;
  const decoded = raw.replace(ENTITY, (match, ...groups: (string | undefined)[]) => {
    const at = groups.findIndex((g, i) => i < 5 && g !== undefined);
    if (at === -1) {
      unknown = true;
      return match;
    }
    return ENTITY_TEXT[at]!;
  });
  return unknown ? undefined : decoded;
}
