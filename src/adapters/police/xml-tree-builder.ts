import { parser as saxParser, type SAXParser, type Tag } from 'sax';

/**
 * Builds the xml2js-shaped tree from parse events (open, text, CDATA, close), whoever produces
 * them: each element's children by name in arrays, text-only elements as their trimmed text,
 * attributes under `$`, text beside attributes or children under `_`, empty elements as ''. The
 * root's children deeper than the depth limit are marked as they close.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped tree, read defensively
export type XmlElement = Record<string, any>;

/** Thrown for a child name xml2js finds already present on an element (see xml-tree-literal.ts). */
export const COLLIDING = Symbol('colliding name');

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

/**
 * The sax parser both tree builders read with, as xml2js ran it: strict, untrimmed, throwing its
 * errors; `onOpenTag` gets each tag with its attributes read.
 *
 * sax tells a repeated attribute by `tag.attributes.hasOwnProperty(name)`, so an attribute named
 * `hasOwnProperty` replaced that method and the next attribute failed the whole well-formed
 * document as malformed (xml2js, on sax, did the same). The method is pinned on each tag's
 * attributes while sax reads them, so such an attribute is left out, as any attribute the feed
 * does not define is ignored, and the pin is gone before `onOpenTag` sees them.
 */
export function feedSaxParser(onOpenTag: (tag: Tag) => void): SAXParser {
  const sax = saxParser(true, { trim: false, normalize: false });
  sax.onerror = (err) => {
    throw err;
  };
  sax.onopentagstart = (tag) =>
    Object.defineProperty(tag.attributes, 'hasOwnProperty', {
      value: Object.prototype.hasOwnProperty,
      writable: false,
      enumerable: false,
      configurable: true,
    });
  sax.onopentag = (tag) => {
    delete (tag.attributes as { hasOwnProperty?: unknown }).hasOwnProperty;
    onOpenTag(tag as Tag);
  };
  return sax;
}

export class TreeBuilder {
  private readonly stack: Frame[] = [];
  readonly tooDeep = new Set<unknown>();
  root: XmlElement | null = null;

  constructor(
    private readonly nameOf: (raw: string) => string,
    private readonly depthLimit: number,
  ) {}

  open(rawName: string, attributes: Record<string, string>): void {
    const name = this.nameOf(rawName);
    if (this.stack.length > 0 && collides(name)) throw COLLIDING;
    this.stack.push({ name, obj: hasOwnKey(attributes) ? { $: attributes } : undefined, text: '', cdata: false, height: 0 });
  }

  text(chunk: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top) top.text += chunk;
  }

  cdata(chunk: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top) {
      top.text += chunk;
      top.cdata = true;
    }
  }

  /** Closes the innermost element; true when that was the root. */
  close(): boolean {
    const frame = this.stack.pop()!;
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

    const parent = this.stack[this.stack.length - 1];
    if (parent === undefined) {
      this.root = {};
      Object.defineProperty(this.root, frame.name, { value, writable: true, enumerable: true, configurable: true });
      return true;
    }
    if (this.stack.length === 1 && height > this.depthLimit) this.tooDeep.add(value);
    const siblings = (parent.obj ??= {});
    const list = siblings[frame.name] as unknown[] | undefined;
    if (list === undefined) siblings[frame.name] = [value];
    else list.push(value);
    parent.height = Math.max(parent.height, height + 2);
    return false;
  }
}

/** A name xml2js finds already present (`name in obj`) on an element it has just opened. */
function collides(name: string): boolean {
  return name === '_' || name === '$' || name === 'cdata' || name === '#name' || name in Object.prototype;
}

function hasOwnKey(object: object): boolean {
  for (const key in object) if (Object.prototype.hasOwnProperty.call(object, key)) return true;
  return false;
}
