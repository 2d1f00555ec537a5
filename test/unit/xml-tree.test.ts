import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FeedError, malformedXml, parseFeed } from '../../src/adapters/police/feed-parser';
import { scanPlainXml } from '../../src/adapters/police/xml-plain-scan';
import { buildXmlTree } from '../../src/adapters/police/xml-tree';
import { TreeBuilder } from '../../src/adapters/police/xml-tree-builder';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { compareWithXml2js, treeDifference } from '../helpers/xml-tree-differential';
import { depthExceeds, feedPrefixes, parseXmlXml2js } from '../helpers/xml2js-feed-parser';

/**
 * The sax tree builder against xml2js, which it replaced: for generated feeds, the example,
 * hand-written edge cases and random markup, the same tree (key order and prototypes included),
 * the same records marked too deep, the same ParsedFeed, the same FeedError.
 * test/unit/xml-tree-replay.test.ts does the same for every document the feed parser's suites build.
 */
const OPTS = { maxBytes: 64 * 1024 * 1024 };
const NS = 'urn:iasu:police-feed:1';
const EXAMPLE = readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml'), 'utf8');

/** The new builder's tree (or error) as parseXml reports it, next to xml2js's. */
async function trees(text: string, depthLimit: number) {
  let ours: unknown;
  let prefixes: Set<string>;
  try {
    prefixes = feedPrefixes(text);
  } catch (err) {
    return { ours: err, theirs: err, deepOk: true };
  }
  let deepOk = true;
  try {
    const doc = buildXmlTree(text, prefixes, depthLimit);
    ours = doc.root ?? new FeedError('document has no root element');
    const element: unknown = doc.root ? Object.values(doc.root)[0] : undefined;
    if (element && typeof element === 'object') {
      for (const children of Object.values(element))
        if (Array.isArray(children))
          for (const child of children) if (doc.tooDeep.has(child) !== depthExceeds(child, depthLimit)) deepOk = false;
    }
  } catch (err) {
    ours = malformedXml(err);
  }
  let theirs: unknown;
  try {
    theirs = await parseXmlXml2js(text);
  } catch (err) {
    theirs = err;
  }
  return { ours, theirs, deepOk };
}

async function expectSameTree(text: string, depthLimit = 64): Promise<void> {
  const { ours, theirs, deepOk } = await trees(text, depthLimit);
  expect(treeDifference(ours, theirs)).toBeUndefined();
  expect(deepOk).toBe(true);
}

async function expectSameFeed(text: string): Promise<void> {
  await compareWithXml2js(parseFeed, text, OPTS);
  await compareWithXml2js(parseFeed, Buffer.from(text), OPTS);
}

const doc = (body: string, attrs = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<CrimeFlagFeed xmlns="${NS}"${attrs}>${body}</CrimeFlagFeed>`;
const RECORD = /<CrimeRecord>[\s\S]*<\/CrimeRecord>/.exec(EXAMPLE)![0];
/** The example record with `inner` added: valid unless `inner` breaks it, and invalid (so its raw tree is kept) when `bad`. */
const withInner = (inner: string, bad = false) =>
  RECORD.replace('<Summary>', `${inner}<Summary>`).replace(
    bad ? '<RecordVersion>3</RecordVersion>' : /^$/,
    bad ? '<RecordVersion>x</RecordVersion>' : '',
  );

const EDGE_CASES: [string, string][] = [
  ['attributes and text', '<Thing a="1" b="2">text</Thing>'],
  ['attributes, text and children', '<Thing a="1">x<In>y</In>z</Thing>'],
  ['empty elements', '<E1/><E2></E2><E3 a="1"/><E4>   </E4><E5>\n\t</E5>'],
  ['CDATA', '<C1><![CDATA[ <not a tag> & ]]></C1><C2><![CDATA[]]></C2><C3> <![CDATA[   ]]> </C3><C4 a="1"><![CDATA[]]></C4>'],
  ['mixed text and CDATA', '<M>a<![CDATA[b]]>c<X/>d</M><M2>  lead <![CDATA[ mid ]]> trail  </M2>'],
  ['entities', '<En a="&amp;&lt;&gt;&quot;&apos;">&amp; &lt; &#x41; &#65; &gt; &#x1F600;</En>'],
  ['whitespace-only and unicode space', '<W1>\u00a0</W1><W2> \u2003 </W2><W3>\ufeff</W3><W4>\r\n</W4>'],
  ['repeated children', '<R><I>1</I><J/><I>2</I><I a="3"/></R>'],
  ['comments and processing instructions', '<P><!-- c -->x<?pi y?>z<!-- --></P><P2><!-- only --></P2>'],
  ['__proto__ element', '<__proto__><polluted>yes</polluted></__proto__>'],
  ['__proto__ twice', '<__proto__>a</__proto__><__proto__ x="1"/>'],
  ['constructor and toString elements', '<constructor>x</constructor><toString/><valueOf a="1"/><hasOwnProperty>y</hasOwnProperty>'],
  ['charkey element', '<_>x</_>'],
  ['charkey element with text after', 'lead<_>x</_>tail'],
  ['charkey element inside', '<O><_>x</_>t</O>'],
  ['cdata element', '<cdata>x</cdata>'],
  ['cdata element after CDATA', '<K><![CDATA[c]]><cdata>x</cdata></K>'],
  ['cdata element before CDATA', '<K><cdata>x</cdata><![CDATA[c]]></K>'],
  ['attributes named like keys', '<A __proto__="p" constructor="c" _="u" $="d"/>'],
  ['duplicate attribute', '<A b="1" b="2"/>'],
  ['foreign prefix', '<x:Ext xmlns:x="urn:other"><x:In>1</x:In></x:Ext>'],
  ['feed prefix nested', '<f:Ext xmlns:f="urn:iasu:police-feed:1"><f:In f:a="1">1</f:In><In>2</In></f:Ext>'],
  ['multi-colon names', '<f:a:b xmlns:f="urn:iasu:police-feed:1">1</f:a:b>'],
  ['xmlns-named prefix', '<xmlns:Ext xmlns:xmlns="urn:iasu:police-feed:1">1</xmlns:Ext>'],
  ['spacing the plain scan leaves to sax', `<S1 a = "1"/><S2 a='2' b="3"\t/><S3></S3 ><S4\n a="x\ty\nz"/>`],
  ['markup characters in values', `<V a="x>y" b='"q"'>a > b ]]> c</V><V2><![CDATA[a]]]></V2>`],
  ['comment holding -->', '<K1><!--->x--></K1>'],
  ['comment holding --', '<K2><!-- a -- b --></K2>'],
  ['comment ending in -', '<K3><!-- end ---></K3>'],
  ['empty comment', '<K4>a<!---->b</K4>'],
  ['upper-case entity', '<N1>&AMP;</N1>'],
  ['HTML entity', '<N1>&nbsp; &copy;</N1>'],
  ['character references in a value', '<N2 a="&#x41;&#65;"/>'],
  ['the five entities', `<N3 a="&quot;&apos;&amp;&lt;&gt;" b='&apos;'>&amp;&amp;&lt;&apos;&quot;&gt;</N3>`],
  ['a bare ampersand', '<N4>a & b</N4>'],
  ['processing instruction inside', '<Q><?php echo 1 ?>t</Q>'],
  ['non-ASCII names', '<é>1</é><aé b="1"/><c dé="2"/>'],
  ['carriage returns', '<R1>a\r\nb\r</R1><R2 a="\r\n"/>'],
  ['deep nesting', `${'<D>'.repeat(40)}x${'</D>'.repeat(40)}`],
];

const MALFORMED = [
  '<a>',
  '<a></b>',
  '<a><b></a>',
  'text',
  '<a/>junk',
  '<a/><b/>',
  '<a x=1/>',
  '<1a/>',
  '</a>',
  '<a>&bogus;</a>',
  '<a>&#xZZ;</a>',
  '<?xml version="1.0"?>',
  '<!-- only a comment -->',
  '   \n ',
  '\ufeff\ufeff<a/>',
  '<a><![CDATA[unclosed</a>',
  '<a>]]></a>',
  '<a b="1"c="2"/>',
  '<a><b/></a><!-- after -->junk',
  '<a>\u0001</a>',
  '<a:b/>',
  '  <?xml version="1.0"?><a/>',
  '<!-- before --><a>1</a>',
  '<a>1</a>  <!-- after -->',
  '<a b="<"/>',
  "<a b='1'c='2'/>",
  '<a/ >',
  '<a><!-- unclosed</a>',
  '<a>text',
];

describe('buildXmlTree gives the tree xml2js gave', () => {
  test.each([1, 2, 3, 7, 20261122])('generated feed, seed %i: trees, depth marks at several limits, ParsedFeed', async (seed) => {
    const text = feedDocument(
      generateFeedRecords({ records: 150, seed }).map((r) => r.xml),
      { cursor: { next: `c${seed}`, more: seed % 2 === 0 } },
    );
    for (const limit of [0, 1, 2, 3, 4, 5, 6, 8, 64]) await expectSameTree(text, limit);
    await expectSameFeed(text);
  });

  test('the one intended difference: an attribute named hasOwnProperty is left out, where xml2js refused the document', async () => {
    for (const inner of ['<A hasOwnProperty="h" b="2"/>', '<constructor>x</constructor><A hasOwnProperty="h" b="2"/>']) {
      const text = doc(inner);
      const { ours, theirs } = await trees(text, 64);
      expect(theirs).toBeInstanceOf(Error);
      expect(String(theirs)).toMatch(/hasOwnProperty is not a function/);
      const without = await trees(doc(inner.replace(' hasOwnProperty="h"', '')), 64);
      expect(treeDifference(ours, without.ours)).toBeUndefined();
      expect(treeDifference(without.ours, without.theirs)).toBeUndefined();
    }
    // So a record carrying one is read like any other, not its whole page refused.
    const named = RECORD.replace('<OfficerInCase ', '<OfficerInCase hasOwnProperty="x" ');
    const feed = await parseFeed(doc(named + RECORD.replace(/CC-26-\d+/, 'CC-26-0000062')), OPTS);
    const reference = await parseFeed(doc(RECORD + RECORD.replace(/CC-26-\d+/, 'CC-26-0000062')), OPTS);
    expect(feed.records.map((r) => r.ok)).toEqual([true, true]);
    expect(feed.records).toEqual(reference.records);
  });

  test('the example document', async () => {
    await expectSameTree(EXAMPLE);
    await expectSameFeed(EXAMPLE);
  });

  test.each(EDGE_CASES)('edge case: %s', async (_name, inner) => {
    for (const limit of [2, 5, 64]) await expectSameTree(doc(withInner(inner)), limit);
    await expectSameTree(doc(inner));
    await expectSameTree(`<Root>${inner}</Root>`);
    await expectSameFeed(doc(withInner(inner)));
    await expectSameFeed(doc(withInner(inner, true)));
    await expectSameFeed(doc(inner));
  });

  test.each(MALFORMED)('malformed or rootless document: %j', async (text) => {
    await expectSameTree(text);
    await expectSameFeed(text);
    await expectSameFeed(doc(withInner(text)));
  });

  test('a record deeper than the limit is marked as xml2js plus the depth walk did', async () => {
    for (const depth of [30, 31, 32, 33, 100]) {
      const text = doc(
        withInner(`${'<D>'.repeat(depth)}x${'</D>'.repeat(depth)}`) + withInner(`${'<D a="1">'.repeat(depth)}${'</D>'.repeat(depth)}`),
      );
      await expectSameTree(text);
      await expectSameFeed(text);
    }
  });

  test('values longer than sax buffers (64 KiB), read when the value limit allows them', async () => {
    const long = 'v'.repeat(70_000);
    const opts = { maxBytes: OPTS.maxBytes, maxValueChars: 200_000 };
    for (const inner of [
      `<L a="${long}"/>`,
      `<L>${long}</L>`,
      `<!--${long}-->`,
      `<L><![CDATA[${long}]]></L>`,
      `<L${'n'.repeat(70_000)}/>`,
    ]) {
      await compareWithXml2js(parseFeed, doc(withInner(inner, true)), opts);
    }
  });

  test('generated feeds and the example take the plain scan, not sax', () => {
    for (const text of [EXAMPLE, feedDocument(generateFeedRecords({ records: 50, seed: 3 }).map((r) => r.xml))]) {
      expect(scanPlainXml(text, new TreeBuilder((name) => name, 64))).toBe(true);
    }
  });

  test('the comparison itself sees a difference in shape', () => {
    expect(treeDifference({ a: ['x'] }, { a: 'x' })).toBeDefined();
    expect(treeDifference({ _: 't', $: {} }, { $: {}, _: 't' })).toBeDefined();
    expect(treeDifference(Object.create(null), {})).toBeDefined();
  });
});

/** Random markup from names, attributes, text and constructs that stress the tree's shape rules. */
const NAMES = [
  'CrimeRecord',
  'CrimeReference',
  'Summary',
  'Person',
  'Consent',
  'f:Summary',
  'x:Other',
  'a',
  'b',
  '_',
  'cdata',
  'constructor',
  '__proto__',
  'toString',
];
const textArb = fc.constantFrom(
  '',
  ' ',
  '\n  ',
  'x',
  ' y ',
  '&amp;',
  '&lt;b&gt;',
  '&#x41;',
  '&quot;&apos;',
  '\u00a0',
  '<!-- a -- b -->',
  '<!---->',
  'CC-26-0001234',
  '<![CDATA[]]>',
  '<![CDATA[ c ]]>',
  '<!-- c -->',
  '<?p i?>',
);
const attrsArb = fc
  .uniqueArray(fc.constantFrom('ref', 'role', 'code', 'a', 'f:b', '_', 'constructor', '__proto__'), { maxLength: 3 })
  .chain((names) =>
    fc.tuple(
      fc.constant(names),
      fc.array(fc.constantFrom('', '1', ' v ', '&amp;', 'VICTIM'), { minLength: names.length, maxLength: names.length }),
    ),
  )
  .map(([names, values]) => names.map((n, i) => ` ${n}="${values[i]}"`).join(''));
const elementArb: fc.Arbitrary<string> = fc.letrec<{ element: string }>((tie) => ({
  element: fc
    .tuple(
      fc.constantFrom(...NAMES),
      attrsArb,
      fc.array(fc.oneof({ weight: 2, arbitrary: textArb }, { weight: 1, arbitrary: tie('element') }), { maxLength: 4 }),
      fc.boolean(),
    )
    .map(([name, attrs, content, selfClosing]) =>
      selfClosing && content.length === 0 ? `<${name}${attrs}/>` : `<${name}${attrs}>${content.join('')}</${name}>`,
    ),
})).element;
const documentArb = fc.tuple(fc.array(elementArb, { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined })).map(([children, cut]) => {
  const text = doc(children.join(''), ' xmlns:f="urn:iasu:police-feed:1" xmlns:x="urn:other"');
  // Sometimes one character fewer, for malformed documents near real ones.
  return cut === undefined ? text : text.slice(0, cut % text.length) + text.slice((cut % text.length) + 1);
});

test('property: random markup gives the same tree and the same ParsedFeed as xml2js', async () => {
  await fc.assert(
    fc.asyncProperty(documentArb, async (text) => {
      await expectSameTree(text, 3);
      await expectSameTree(text);
      await expectSameFeed(text);
    }),
    { numRuns: 400, seed: 20261203 },
  );
});
