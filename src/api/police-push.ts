import Boom from '@hapi/boom';
import type { Plugin } from '@hapi/hapi';
import { FeedError } from '../adapters/police/feed-parser';
import type { BridgeContext } from '../context';
import { ingestDocument } from '../pipeline/ingest/feed-ingest';
import { partnerRoute } from './auth';

/**
 * `POST /v1/police/flags` (police-feed.md §2): the RMS pushes a CrimeFlagFeed document.
 * 202 with a summary; 400 only when the document as a whole is unreadable; 413 over the size
 * limit (hapi refuses it before anything is parsed).
 */
export const policePushPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-police-push',
  register(server, { ctx }) {
    server.route({
      method: 'POST',
      path: '/v1/police/flags',
      options: {
        ...partnerRoute('police-push-token'),
        payload: {
          parse: false,
          output: 'data',
          maxBytes: ctx.config.police.maxDocumentBytes,
          allow: ['application/xml', 'text/xml'],
        },
      },
      handler: async (request, h) => {
        const body = request.payload as Buffer;
        try {
          const summary = await ingestDocument(ctx, body, 'push');
          return h.response({ accepted: summary.accepted, held: summary.held, quarantined: summary.quarantined }).code(202);
        } catch (err) {
          if (err instanceof FeedError) throw Boom.badRequest(err.message);
          throw err;
        }
      },
    });
  },
};
