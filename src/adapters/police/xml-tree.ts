import { scanPlainXml } from './xml-plain-scan';
import { COLLIDING, feedSaxParser, TreeBuilder, type XmlElement } from './xml-tree-builder';
import { buildLiteralTree } from './xml-tree-literal';

/**
 * The feed document as the tree xml2js built for it (explicitArray, explicitRoot, trim, attrkey
 * `$`, charkey `_`, empty elements as ''), with prefixes bound to the feed's namespace stripped
 * from element names. A plain document (what the RMS sends) is read by xml-plain-scan.ts; any
 * other goes through sax, as xml2js did, for sax's errors and sax's reading of the unusual.
 * Child names that collide with the tree's keys or Object.prototype (`_`, `cdata`,
 * `constructor`, `__proto__`...) change the shape in xml2js's own ways: such a document is built
 * by xml-tree-literal.ts, which follows xml2js step by step.
 */
export type { XmlElement } from './xml-tree-builder';

export interface XmlDocument {
  /** `{ [rootName]: value }`, or null when the document holds no element. */
  root: XmlElement | null;
  /** Children of the root element whose tree is deeper than `depthLimit` levels (objects and arrays each a level). */
  tooDeep: ReadonlySet<unknown>;
}

/** Thrown inside sax callbacks to stop it once the root closed: xml2js ignored what follows. */
const DONE = Symbol('root closed');

/** Synchronous; throws sax's Error for malformed XML, as xml2js rejected with it. */
export function buildXmlTree(text: string, feedPrefixes: ReadonlySet<string>, depthLimit: number): XmlDocument {
  if (text.trim() === '') return { root: null, tooDeep: new Set() };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const nameOf = elementNames(feedPrefixes);
  try {
    const plain = new TreeBuilder(nameOf, depthLimit);
    if (scanPlainXml(text, plain)) return plain;
    const builder = new TreeBuilder(nameOf, depthLimit);
    buildWithSax(text, builder);
    return builder;
  } catch (err) {
    if (err !== COLLIDING) throw err;
    return buildLiteralTree(text, nameOf, depthLimit);
  }
}

/** Element name as the tree keys it: the prefix stripped when bound to the feed's namespace (as xml2js's stripPrefix). */
function elementNames(feedPrefixes: ReadonlySet<string>): (raw: string) => string {
  const seen = new Map<string, string>();
  return (raw) => {
    let name = seen.get(raw);
    if (name === undefined) {
      name = feedPrefixes.has(raw.split(':')[0]!) ? raw.replace(/(?!xmlns)^.*:/, '') : raw;
      seen.set(raw, name);
    }
    return name;
  };
}

function buildWithSax(text: string, builder: TreeBuilder): void {
  const sax = feedSaxParser((tag) => builder.open(tag.name, tag.attributes));
  sax.ontext = (chunk) => builder.text(chunk);
  sax.oncdata = (chunk) => builder.cdata(chunk);
  sax.onclosetag = () => {
    if (builder.close()) throw DONE;
  };
  try {
    sax.write(text).close();
  } catch (err) {
    if (err !== DONE) throw err;
  }
}
