import Boom from '@hapi/boom';
import Joi from 'joi';
import type { Plugin, Request } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import {
  DEAD_LETTER_ERROR_KINDS,
  DEAD_LETTER_PARTNERS,
  DEAD_LETTER_QUEUES,
  discardDeadLetter,
  listDeadLetters,
  redriveDeadLetter,
  redriveMatching,
  showDeadLetter,
  validDiscardReason,
  type AuditSink,
  type DeadLetterFilter,
} from '../operations/dead-letter-admin';
import { operatorAuth, operatorOf, SCOPE } from './auth';
import { auditOrWithhold, includePersonalQuery, wantsPersonalData } from './personal-data';

/**
 * Dead letters for operators (scope dlq:redrive, or admin):
 * - `GET /v1/dead-letters?partner=&errorKind=&queue=&olderThanMinutes=&newerThanMinutes=&limit=`
 * - `GET /v1/dead-letters/{id}` metadata, the referral's timeline, whether a redrive would be
 *   accepted; `?include=personal` adds the personal data (admin only, audited as admin.read)
 * - `POST /v1/dead-letters/{id}/redrive`, `POST /v1/dead-letters/redrive` (a filter, or `{ all: true }`)
 * - `POST /v1/dead-letters/{id}/discard` `{ reason }`
 * Refusals answer 409 with the reason; an unknown id 404. Ids are the dead-letter job ids (a `/`
 * in one, from a crime reference, is sent as `%2F`).
 */
const MINUTE = 60_000;
const MAX_MINUTES = 366 * 24 * 60;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const minutes = Joi.number().integer().min(0).max(MAX_MINUTES);
const filterKeys = {
  partner: Joi.string().valid(...DEAD_LETTER_PARTNERS),
  errorKind: Joi.string().valid(...DEAD_LETTER_ERROR_KINDS),
  queue: Joi.string().valid(...DEAD_LETTER_QUEUES),
  olderThanMinutes: minutes,
  newerThanMinutes: minutes,
};
const FILTER_NAMES = Object.keys(filterKeys);
const idParams = Joi.object({
  id: Joi.string()
    .pattern(/^[A-Za-z0-9@._/-]{1,300}$/)
    .required(),
});

interface FilterInput {
  partner?: DeadLetterFilter['partner'];
  errorKind?: DeadLetterFilter['errorKind'];
  queue?: DeadLetterFilter['queue'];
  olderThanMinutes?: number;
  newerThanMinutes?: number;
  limit?: number;
}

function toFilter(input: FilterInput): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  if (input.partner) filter.partner = input.partner;
  if (input.errorKind) filter.errorKind = input.errorKind;
  if (input.queue) filter.queue = input.queue;
  if (input.olderThanMinutes !== undefined) filter.olderThanMs = input.olderThanMinutes * MINUTE;
  if (input.newerThanMinutes !== undefined) filter.newerThanMs = input.newerThanMinutes * MINUTE;
  if (input.limit !== undefined) filter.limit = input.limit;
  return filter;
}

const idOf = (request: Request) => (request.params as { id: string }).id;

export const deadLettersPlugin: Plugin<{ ctx: BridgeContext; audit?: AuditSink }> = {
  name: 'iasu-dead-letters',
  register(server, { ctx, audit }) {
    const auth = operatorAuth(SCOPE.dlqRedrive);

    server.route({
      method: 'GET',
      path: '/v1/dead-letters',
      options: {
        auth,
        validate: { query: Joi.object({ ...filterKeys, limit: Joi.number().integer().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT) }) },
      },
      handler: async (request) => {
        const input = request.query as unknown as FilterInput & { limit: number };
        // One more than asked, to say whether there are more.
        const items = await listDeadLetters(ctx, toFilter({ ...input, limit: input.limit + 1 }));
        return { items: items.slice(0, input.limit), truncated: items.length > input.limit };
      },
    });

    server.route({
      method: 'GET',
      path: '/v1/dead-letters/{id}',
      options: { auth, validate: { params: idParams, query: includePersonalQuery } },
      handler: async (request) => {
        const id = idOf(request);
        const personal = wantsPersonalData(request, 'a dead letter');
        // An operator's read of personal data must not go unrecorded: without an audit trail, no read.
        if (personal && !audit) throw Boom.serverUnavailable('personal data cannot be shown: no audit trail is configured');
        const detail = await showDeadLetter(ctx, id, { withPersonalData: personal });
        if (!detail) throw Boom.notFound('no dead letter with that id');
        if (personal) {
          await auditOrWithhold(
            ctx.logger,
            () =>
              audit!.record({
                actor: operatorOf(request.auth.credentials),
                action: 'admin.read',
                ...(detail.referralId ? { referralId: detail.referralId } : {}),
                ...(detail.crimeReference ? { crimeReference: detail.crimeReference } : {}),
                partner: detail.partner,
                outcome: 'ok',
                target: id,
              }),
            { target: id },
          );
        }
        return detail;
      },
    });

    server.route({
      method: 'POST',
      path: '/v1/dead-letters/{id}/redrive',
      options: { auth, validate: { params: idParams }, payload: { parse: false, maxBytes: 1024 } },
      handler: async (request) => {
        const result = await redriveDeadLetter(ctx, idOf(request), operatorOf(request.auth.credentials), audit);
        if (result.outcome === 'refused') throw refused(result);
        return result;
      },
    });

    server.route({
      method: 'POST',
      path: '/v1/dead-letters/redrive',
      options: {
        auth,
        validate: {
          payload: Joi.object({ ...filterKeys, all: Joi.boolean().valid(true) })
            .or('all', ...FILTER_NAMES)
            .without('all', FILTER_NAMES)
            .messages({ 'object.missing': 'give at least one filter, or "all": true to redrive every dead letter' }),
          failAction: (_request, _h, err) => {
            throw Boom.badRequest(err?.message ?? 'invalid filter');
          },
        },
      },
      handler: async (request) => {
        const { all: _all, ...input } = request.payload as FilterInput & { all?: true };
        const results = await redriveMatching(ctx, toFilter(input), operatorOf(request.auth.credentials), audit);
        return { results };
      },
    });

    server.route({
      method: 'POST',
      path: '/v1/dead-letters/{id}/discard',
      options: {
        auth,
        validate: {
          params: idParams,
          payload: Joi.object({
            reason: Joi.string()
              .required()
              .custom((v: string, helpers) => validDiscardReason(v) ?? helpers.error('any.invalid')),
          }).messages({
            'any.invalid': 'reason must be 1 to 200 characters on one line',
          }),
          failAction: (_request, _h, err) => {
            throw Boom.badRequest(err?.message ?? 'a reason of 1 to 200 characters on one line is required');
          },
        },
      },
      handler: async (request) => {
        const { reason } = request.payload as { reason: string };
        const result = await discardDeadLetter(ctx, idOf(request), reason, operatorOf(request.auth.credentials), audit);
        if (result.outcome === 'refused') throw refused(result);
        return result;
      },
    });
  },
};

/** 404 for an unknown id; otherwise 409 with the refusal itself in the body. */
function refused(result: { id: string; outcome: 'refused'; why: string; notFound?: true }): Boom.Boom {
  if (result.notFound) return Boom.notFound(result.why);
  const boom = Boom.conflict(result.why);
  Object.assign(boom.output.payload, { id: result.id, outcome: result.outcome, why: result.why });
  return boom;
}
