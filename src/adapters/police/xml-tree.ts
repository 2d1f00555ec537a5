import { parser as saxParser, type Tag } from 'sax';
import { buildLiteralTree } from './xml-tree-literal';

/**
 * The feed document as the tree xml2js built for it (explicitArray, explicitRoot, trim, attrkey
 * `$`, charkey `_`, empty elements as ''), built straight from sax events: every element's
 * children by name in arrays, text-only elements as their trimmed text, attributes under `$`, and
 * text beside attributes or children under `_`. Prefixes bound to the feed's namespace are
 * stripped from element names. Child names that collide with those keys or with Object.prototype
 * (`_`, `cdata`, `constructor`, `__proto__`...) change that shape in xml2js's own ways: a document
 * holding one is built again by xml-tree-literal.ts, which follows xml2js step by step.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped tree, read defensively
export type XmlElement = Record<string, any>;

export interface XmlDocument {
  /** `{ [rootName]: value }`, or null when the document holds no element. */
  root: XmlElement | null;
  /** Children of the root element whose tree is deeper than `depthLimit` levels (objects and arrays each a level). */
  tooDeep: ReadonlySet<unknown>;
}

/** Thrown inside sax callbacks to stop it: the root closed, or the document needs the literal builder. */
const DONE = Symbol('root closed');
const COLLIDING = Symbol('colliding name');

const BLANK = /^\s*$/;

interface Frame {
  name: string;
  /** Attributes, then children by name in first-seen order; undefined while it has neither. */
  obj: XmlElement | undefined;
  text: string;
  cdata: boolean;
  /** Levels below this element's value from its children, as the depth limit counts them. */
  height: number;
}

/** Synchronous; throws sax's Error for malformed XML, as xml2js rejected with it. */
export function buildXmlTree(text: string, feedPrefixes: ReadonlySet<string>, depthLimit: number): XmlDocument {
  if (text.trim() === '') return { root: null, tooDeep: new Set() };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return buildFast(text, elementNames(feedPrefixes), depthLimit);
  } catch (err) {
    if (err !== COLLIDING) throw err;
    return buildLiteralTree(text, elementNames(feedPrefixes), depthLimit);
  }
}

/** Element name as the tree keys it: the prefix stripped when bound to the feed's namespace (as xml2js's stripPrefix). */
export type ElementName = (raw: string) => string;

function elementNames(feedPrefixes: ReadonlySet<string>): ElementName {
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

/** A name xml2js finds already present (`name in obj`) on an element it has just opened. */
function collides(name: string): boolean {
  return name === '_' || name === '$' || name === 'cdata' || name === '#name' || name in Object.prototype;
}

function buildFast(text: string, nameOf: ElementName, depthLimit: number): XmlDocument {
  const sax = saxParser(true, { trim: false, normalize: false });
  const stack: Frame[] = [];
  const tooDeep = new Set<unknown>();
  let root: XmlElement | null = null;

  sax.onerror = (err) => {
    throw err;
  };
  sax.onopentag = (tag) => {
    const name = nameOf(tag.name);
    if (stack.length > 0 && collides(name)) throw COLLIDING;
    const attributes = (tag as Tag).attributes;
    stack.push({ name, obj: hasOwnKey(attributes) ? { $: attributes } : undefined, text: '', cdata: false, height: 0 });
  };
  sax.ontext = (chunk) => {
    const top = stack[stack.length - 1];
    if (top) top.text += chunk;
  };
  sax.oncdata = (chunk) => {
    const top = stack[stack.length - 1];
    if (top) {
      top.text += chunk;
      top.cdata = true;
    }
  };
  sax.onclosetag = () => {
    const frame = stack.pop()!;
    let { obj, height } = frame;
    let value: string | XmlElement;
    if (!frame.cdata && BLANK.test(frame.text)) {
      value = obj ?? '';
    } else {
      const trimmed = frame.text.trim();
      if (obj === undefined) {
        value = trimmed;
      } else {
        obj = { _: trimmed, ...obj };
        value = obj;
        height = Math.max(height, 1);
      }
    }
    if (obj !== undefined && '$' in obj) height = Math.max(height, 2);
    if (typeof value === 'string') height = 0;

    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      root = {};
      Object.defineProperty(root, frame.name, { value, writable: true, enumerable: true, configurable: true });
      throw DONE;
    }
    if (stack.length === 1 && height > depthLimit) tooDeep.add(value);
    const siblings = (parent.obj ??= {});
    const list = siblings[frame.name] as unknown[] | undefined;
    if (list === undefined) siblings[frame.name] = [value];
    else list.push(value);
    parent.height = Math.max(parent.height, height + 2);
  };

  try {
    sax.write(text).close();
  } catch (err) {
    if (err !== DONE) throw err;
  }
  return { root, tooDeep };
}

function hasOwnKey(object: object): boolean {
  for (const key in object) if (Object.prototype.hasOwnProperty.call(object, key)) return true;
  return false;
}
