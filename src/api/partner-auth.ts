import Boom from '@hapi/boom';
import type { Plugin, Request, ResponseToolkit, ServerAuthSchemeObject } from '@hapi/hapi';
import type { TLSSocket } from 'node:tls';
import { checkSignatureHeader, SIGNATURE_HEADER, verifyCharitySignature } from '../adapters/charity/webhook-signature';
import type { BridgeContext } from '../context';
import { bearerTokenMatches, type PartnerCredential } from './auth';
import { PayloadBudget, RETRY_AFTER_SECONDS } from './payload-budget';
import { barsOutcome } from './fhir-outcome';
import { integrityRefusal } from './message-integrity';

/**
 * The partners' credentials as hapi auth strategies, one per partner route, so each is checked
 * when the request's headers are in and before its body is read: an unauthenticated client
 * cannot make the bridge buffer anything. Once the credential is accepted the body reserves room
 * in its route's PayloadBudget (503 with Retry-After when full).
 *
 * The charity's webhook is signed over the body, so before the body only the signature header
 * can be checked (there, well formed, its time within 300 s); the HMAC is checked as soon as the
 * body is in (the scheme's payload step), before anything parses it. A forger can then make the
 * bridge read one webhook-sized body (64 KiB) per request with a fresh-looking header, no more.
 */

export const partnerAuthPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-partner-auth',
  register(server, { ctx }) {
    // One budget per strategy, and each strategy guards one route.
    const budget = () => new PayloadBudget(ctx.config.http.bodyBytesInFlight);
    const schemes: Record<PartnerCredential, ServerAuthSchemeObject> = {
      'police-push-token': policePush(ctx, budget()),
      'charity-signature': charitySignature(ctx, budget()),
      'nhs-inbound': nhsInbound(ctx, budget()),
    };
    for (const [name, scheme] of Object.entries(schemes)) {
      server.auth.scheme(name, () => scheme);
      server.auth.strategy(name, name);
    }
  },
};

function busy(): Boom.Boom {
  const err = Boom.serverUnavailable('too many request bodies in flight; retry');
  err.output.headers['Retry-After'] = String(RETRY_AFTER_SECONDS);
  return err;
}

function policePush(ctx: BridgeContext, budget: PayloadBudget): ServerAuthSchemeObject {
  return {
    authenticate: (request, h) => {
      const expected = ctx.config.police.pushToken;
      if (!expected) throw Boom.serverUnavailable('police push is not configured (set POLICE_PUSH_TOKEN)');
      if (!bearerTokenMatches(request.headers.authorization, expected))
        throw Boom.unauthorized('a valid bearer token is required', 'Bearer');
      if (!budget.admit(request)) throw busy();
      return h.authenticated({ credentials: { app: 'police-push' } });
    },
  };
}

function charitySignature(ctx: BridgeContext, budget: PayloadBudget): ServerAuthSchemeObject {
  const refuse = (reason: string) => {
    ctx.logger.warn({ reason }, 'charity webhook refused: signature');
    return Boom.unauthorized(`signature ${reason}`);
  };
  const headerOf = (request: Request) => {
    const header = request.headers[SIGNATURE_HEADER];
    return typeof header === 'string' ? header : undefined;
  };
  return {
    options: { payload: true },
    authenticate: (request, h) => {
      if (ctx.config.charity.webhookSecrets.length === 0)
        throw Boom.serverUnavailable('charity webhooks are not configured (set CHARITY_WEBHOOK_SECRETS)');
      const checked = checkSignatureHeader(headerOf(request));
      if (!checked.ok) throw refuse(checked.reason);
      if (!budget.admit(request)) throw busy();
      return h.authenticated({ credentials: { app: 'charity-webhook' } });
    },
    payload: (request, h) => {
      const raw = Buffer.isBuffer(request.payload) ? request.payload : Buffer.alloc(0);
      const verdict = verifyCharitySignature(headerOf(request), raw, ctx.config.charity.webhookSecrets);
      if (!verdict.ok) throw refuse(verdict.reason);
      return h.continue;
    },
  };
}

/**
 * The trust's credential, as configured: a bearer token compared in constant time (unset means
 * the route is closed), or its client certificate, verified against HTTP_TLS_CLIENT_CA_FILE
 * and, when NHS_INBOUND_CLIENT_CN is set, carrying that subject CN; then BaRS's integrity
 * headers (message-integrity.ts), still before the body. Refusals are
 * OperationOutcomes with the receiver's (REC_) BaRS codes and the issue codes of the BaRS API's
 * own examples (401 and 403 both `forbidden`), as the trust's own API answers.
 */
function nhsInbound(ctx: BridgeContext, budget: PayloadBudget): ServerAuthSchemeObject {
  return {
    authenticate: (request, h) => {
      const refused = refusal(ctx, request, h) ?? integrityRefusal(request, h);
      if (refused) return refused.takeover();
      if (!budget.admit(request)) {
        return barsOutcome(h, 503, 'REC_SERVICE_UNAVAILABLE', 'transient', 'too many request bodies in flight; retry')
          .header('Retry-After', String(RETRY_AFTER_SECONDS))
          .takeover();
      }
      return h.authenticated({ credentials: { app: 'nhs-trust' } });
    },
  };
}

function refusal(ctx: BridgeContext, request: Request, h: ResponseToolkit) {
  const nhs = ctx.config.nhs;
  if (nhs.inboundAuth === 'mtls') {
    const socket = request.raw.req.socket as Partial<TLSSocket>;
    if (!socket.encrypted || !socket.authorized) {
      return barsOutcome(h, 401, 'REC_UNAUTHORIZED', 'forbidden', 'a client certificate signed by the configured CA is required');
    }
    const cn = socket.getPeerCertificate?.().subject?.CN;
    if (nhs.inboundClientCn && cn !== nhs.inboundClientCn) {
      return barsOutcome(h, 403, 'REC_FORBIDDEN', 'forbidden', "this client certificate is not the trust's");
    }
    return undefined;
  }
  const expected = nhs.inboundToken;
  if (!expected)
    return barsOutcome(
      h,
      503,
      'REC_SERVICE_UNAVAILABLE',
      'transient',
      'NHS responses are not configured on this bridge (set NHS_INBOUND_TOKEN)',
    );
  if (!bearerTokenMatches(request.headers.authorization, expected)) {
    return barsOutcome(h, 401, 'REC_UNAUTHORIZED', 'forbidden', 'a valid bearer token is required').header('WWW-Authenticate', 'Bearer');
  }
  return undefined;
}
