import { feedSaxParser } from './xml-tree-builder';

/**
 * The tree built as xml2js 0.6 builds it, step for step, for a document with a child element
 * whose name collides with a key the tree already holds (`_`, `cdata`, an Object.prototype name):
 * there xml2js keeps the collision (`constructor: [Object, child]`, text turned into an array,
 * even a TypeError for the page), and so must we for the same document to give the same result.
 * Slow (every element keeps its name and text as keys, deleted on close), and only ever used
 * for such documents.
 */
const DONE = Symbol('root closed');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped tree, read defensively
type XmlElement = Record<string, any>;

export function buildLiteralTree(
  text: string,
  nameOf: (raw: string) => string,
  depthLimit: number,
): { root: XmlElement | null; tooDeep: Set<unknown> } {
  const attrkey = '$';
  const charkey = '_';
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;

  const sax = feedSaxParser((node) => {
    const obj: XmlElement = {};
    obj[charkey] = '';
    const ref = node.attributes;
    for (const key in ref) {
      if (!Object.prototype.hasOwnProperty.call(ref, key)) continue;
      if (!(attrkey in obj)) obj[attrkey] = {};
      define(obj[attrkey] as XmlElement, key, ref[key]);
    }
    obj['#name'] = nameOf(node.name);
    stack.push(obj);
  });
  const ontext = (chunk: string): XmlElement | undefined => {
    const s = stack[stack.length - 1];
    if (s) s[charkey] += chunk;
    return s;
  };
  sax.ontext = ontext;
  sax.oncdata = (chunk) => {
    const s = ontext(chunk);
    if (s) s.cdata = true;
  };
  sax.onclosetag = () => {
    let obj: XmlElement | string = stack.pop()!;
    const nodeName = obj['#name'] as string;
    delete obj['#name'];
    let cdata: boolean | undefined;
    if (obj.cdata === true) {
      cdata = obj.cdata;
      delete obj.cdata;
    }
    const s = stack[stack.length - 1];
    // The same expressions as xml2js, so a collision fails with the same TypeError text.
    if (obj[charkey].match(/^\s*$/) && !cdata) {
      delete obj[charkey];
    } else {
      obj[charkey] = obj[charkey].trim();
      if (Object.keys(obj).length === 1 && charkey in obj) obj = obj[charkey] as string;
    }
    if (typeof obj === 'object' && Object.keys(obj).length === 0) obj = '';
    if (s) {
      assignOrPush(s, nodeName, obj);
      return;
    }
    root = {};
    define(root, nodeName, obj);
    throw DONE;
  };

  try {
    sax.write(text).close();
  } catch (err) {
    if (err !== DONE) throw err;
  }
  return { root, tooDeep: deepChildren(root, depthLimit) };
}

function define(obj: XmlElement, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function assignOrPush(obj: XmlElement, key: string, value: unknown): void {
  if (!(key in obj)) {
    define(obj, key, [value]);
    return;
  }
  if (!(obj[key] instanceof Array)) define(obj, key, [obj[key]]);
  (obj[key] as unknown[]).push(value);
}

/** The root element's children deeper than the limit, found by walking the finished tree. */
function deepChildren(root: XmlElement | null, limit: number): Set<unknown> {
  const deep = new Set<unknown>();
  const element: unknown = root ? Object.values(root)[0] : undefined;
  if (!element || typeof element !== 'object') return deep;
  for (const children of Object.values(element)) {
    if (!Array.isArray(children)) continue;
    for (const child of children) if (depthExceeds(child, limit)) deep.add(child);
  }
  return deep;
}

/** Iterative, so the check itself cannot overflow the stack it protects. */
function depthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) return true;
    if (node && typeof node === 'object') for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}
