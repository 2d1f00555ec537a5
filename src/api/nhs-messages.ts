import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { barsAcknowledgement, nhsUpdateFromBars, readBarsResponse, type BarsResponse } from '../mappings/bars-response';
import { applyNhsUpdate, type NhsUpdateResult } from '../pipeline/partner-status/nhs-updates';
import { enqueueResend } from '../pipeline/delivery/delivery-jobs';
import type { SentMessage } from '../store/message-index';
import type { ReferralMeta } from '../domain/referral-state';
import { partnerRoute } from './auth';
import { barsOutcome, FHIR_JSON } from './fhir-outcome';
import { barsReceiverAnswers } from './message-integrity';
import { RETRY_AFTER_SECONDS } from './payload-budget';

/**
 * `POST /fhir/$process-message` (nhs-fhir.md Mode B): the trust's `servicerequest-response`
 * messages. Matched to the message the bridge sent by `MessageHeader.response.identifier`,
 * applied through the one state machine (never backwards), acknowledged with a response
 * message. Errors are OperationOutcomes with BaRS codes, as the trust's own API answers; a
 * message id already applied is answered 409 (duplicate) and the integrity headers are checked
 * and mirrored (message-integrity.ts), as BaRS Core 1.2.2 asks of a receiver.
 */
export const NHS_MESSAGE_PATH = '/fhir/$process-message';
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** The trust's message ids, in the store of partner callbacks already applied. */
const MESSAGE_PARTNER = 'nhs';

export const nhsMessagesPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-nhs-messages',
  register(server, { ctx }) {
    server.route({
      method: 'POST',
      path: NHS_MESSAGE_PATH,
      options: {
        ...partnerRoute('nhs-inbound'),
        ext: barsReceiverAnswers(),
        // Parsed here, not by hapi, so a bad body gets an OperationOutcome rather than a Boom.
        payload: { parse: false, output: 'data', maxBytes: MAX_MESSAGE_BYTES, allow: [FHIR_JSON, 'application/json'] },
      },
      handler: async (request, h) => {
        let body: unknown;
        try {
          body = JSON.parse((request.payload as Buffer).toString('utf8'));
        } catch {
          return barsOutcome(h, 400, 'REC_BAD_REQUEST', 'invalid', 'the body is not JSON');
        }
        const read = readBarsResponse(body, ctx.config.nhs.referralIdSystem);
        if (!read.ok) return barsOutcome(h, 400, 'REC_BAD_REQUEST', 'invalid', read.error);
        const response = read.response;

        const sent = await ctx.messages.lookup(response.respondsTo);
        const meta = sent && (await ctx.referrals.get(sent.referralId));
        if (!sent || !meta) return barsOutcome(h, 404, 'REC_NOT_FOUND', 'not-found', 'no referral was sent with that message id');
        if (response.referralId !== undefined && response.referralId !== sent.referralId) {
          return barsOutcome(
            h,
            422,
            'REC_UNPROCESSABLE_ENTITY',
            'invalid',
            'the enclosed ServiceRequest is not the referral the message id names',
          );
        }
        // BaRS receiver responsibilities: a message already processed is answered 409 / duplicate
        // and changes nothing; one still being applied is retried by the trust later.
        const claim = await ctx.webhookEvents.claim(MESSAGE_PARTNER, response.messageId);
        if (claim === 'applied')
          return barsOutcome(h, 409, 'REC_CONFLICT', 'duplicate', 'the message has been identified as having already been processed');
        if (claim === 'in-progress') {
          return barsOutcome(h, 503, 'REC_SERVICE_UNAVAILABLE', 'transient', 'this message is being processed; retry').header(
            'Retry-After',
            String(RETRY_AFTER_SECONDS),
          );
        }
        let result: Awaited<ReturnType<typeof apply>>;
        try {
          result = await apply(ctx, meta, sent, response);
          if (result !== 'busy') await ctx.messages.link(response.messageId, sent);
        } catch (err) {
          await ctx.webhookEvents.release(MESSAGE_PARTNER, response.messageId);
          throw err;
        }
        if (result === 'busy') {
          // Another update held the referral too long: the trust retries the same message.
          await ctx.webhookEvents.release(MESSAGE_PARTNER, response.messageId);
          return barsOutcome(h, 503, 'REC_SERVICE_UNAVAILABLE', 'transient', 'the referral is busy; retry').header(
            'Retry-After',
            String(RETRY_AFTER_SECONDS),
          );
        }
        await ctx.webhookEvents.applied(MESSAGE_PARTNER, response.messageId);
        // A response without a source endpoint is answered at the trust's configured service.
        const replyTo = response.sourceEndpoint ?? ctx.config.nhs.barsDestinationEndpoint;
        const ack = barsAcknowledgement(
          { messageId: response.messageId, sourceEndpoint: replyTo },
          ctx.config.nhs.barsSourceEndpoint,
          new Date().toISOString(),
        );
        return h.response(ack).code(200).type(FHIR_JSON);
      },
    });
  },
};

/** What the response asks of the bridge: a resend, or a status change through the one NHS path. */
async function apply(
  ctx: BridgeContext,
  meta: ReferralMeta,
  sent: SentMessage,
  response: BarsResponse,
): Promise<NhsUpdateResult | 'resend'> {
  const { referralId, correlationId } = meta;
  const log = ctx.logger.child({
    correlationId,
    referralId,
    crimeReference: meta.crimeReference,
    partner: 'NHS',
    messageId: response.messageId,
  });
  if (response.code === 'transient-error') {
    // The trust could not take the message just now and asks for it again: the same frozen
    // message is resent (idempotent at the trust by its Bundle id).
    if (sent.kind === 'new') await enqueueResend(ctx, referralId, 'NHS', correlationId, response.messageId);
    log.warn({ answers: sent.kind, detail: response.detail }, 'trust reported a transient error; message will be resent');
    return 'resend';
  }
  if (response.code === 'fatal-error')
    log.error({ alert: true, answers: sent.kind, detail: response.detail }, 'trust could not process the message');
  const update = nhsUpdateFromBars(response, sent.kind);
  const result = await applyNhsUpdate(ctx, referralId, update, 'nhs-bars');
  if (result === 'recorded' && update.to)
    log.info({ status: meta.status, reported: update.to }, 'trust response ignored: the referral is already there or beyond');
  return result;
}
