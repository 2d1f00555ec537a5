import type { FeedParseOptions } from '../../src/adapters/police/feed-parser';
import { compareWithXml2js } from '../helpers/xml-tree-differential';

/**
 * The feed parser's own suites (test/unit/feed-parser.test.ts, test/fuzz/feed-fuzz.test.ts) run
 * again with every parseFeed call also made by the xml2js original: every document they build,
 * example, hostile or fuzzed, must give the same ParsedFeed or the same FeedError.
 */
jest.mock('../../src/adapters/police/feed-parser', () => {
  const actual = jest.requireActual<typeof import('../../src/adapters/police/feed-parser')>('../../src/adapters/police/feed-parser');
  return {
    ...actual,
    parseFeed: async (input: Buffer | string, opts: FeedParseOptions) => {
      const result = await compareWithXml2js(actual.parseFeed, input, opts);
      if (result.ok) return result.feed;
      throw result.error;
    },
  };
});

/* eslint-disable @typescript-eslint/no-require-imports -- the suites register their tests on load */
require('./feed-parser.test');
require('../fuzz/feed-fuzz.test');
