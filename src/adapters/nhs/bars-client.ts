import type { Bundle, Device, MessageHeader, Organization } from '@medplum/fhirtypes';
import { useContextOf } from '../../mappings/referral-to-bars';
import { PartnerError } from '../partner-error';
import { summariseOutcome } from '../../mappings/operation-outcome';
import { NhsRequester, type RequestContext } from './nhs-requester';
import type { AccessTokenSource } from './token-client';

/**
 * nhs-fhir.md Mode B (`bars`): POSTs BaRS message Bundles to `{base}/$process-message` with
 * every header BaRS asks for. I/O only; the message is built in src/mappings.
 */
export const BARS_ACCEPT = 'application/fhir+json; version=1.4.0';

export interface BarsParties {
  /** The receiving service (NHSD-Target-Identifier). */
  target: { system: string; value: string };
  /** The sending organisation (NHSD-End-User-Organisation): the police force. */
  endUserOrganisation: Organization;
  /** This software (NHSD-Requesting-Software). */
  requestingSoftware: Device;
}

export interface BarsClientOptions {
  baseUrl: string;
  timeoutMs: number;
  parties: BarsParties;
  auth?: AccessTokenSource;
}

export type BarsSendResult = { outcome: 'accepted' } | { outcome: 'duplicate' };

export class NhsBarsClient {
  private readonly requester: NhsRequester;
  private readonly partyHeaders: Record<string, string>;

  constructor(opts: BarsClientOptions) {
    this.requester = new NhsRequester({ baseUrl: opts.baseUrl, timeoutMs: opts.timeoutMs, ...(opts.auth ? { auth: opts.auth } : {}) });
    this.partyHeaders = barsPartyHeaders(opts.parties);
  }

  /** Closes the kept-alive sockets (shutdown, tests). */
  close(): void {
    this.requester.close();
  }

  /**
   * Sends one message. A 409 (REC_CONFLICT) means the trust already holds the referral: the
   * caller treats it as delivered. A 2xx without the integrity headers mirrored is retried. A 200 whose body is a response message saying
   * `fatal-error` / `transient-error` is a failure of that kind, whatever the HTTP status said.
   */
  async sendMessage(message: Bundle, ctx: RequestContext): Promise<BarsSendResult> {
    const headers = {
      ...this.partyHeaders,
      'use-context': useContextOf(message),
      Accept: BARS_ACCEPT,
      'Content-Type': 'application/fhir+json',
      // A retry is the same request (Core 1.2.2 "Definition of a retry"): the id is the message's.
      ...(message.id ? { 'X-Request-Id': message.id } : {}),
    };
    let answer: unknown;
    try {
      answer = await this.requester.post(ctx, '$process-message', message, headers, { requireEcho: true });
    } catch (err) {
      if (err instanceof PartnerError && err.status === 409) return { outcome: 'duplicate' };
      throw err;
    }
    assertNotRefused(answer);
    return { outcome: 'accepted' };
  }
}

/** The three base64 JSON headers BaRS needs on every call; fixed per deployment. */
export function barsPartyHeaders(parties: BarsParties): Record<string, string> {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
  return {
    'NHSD-Target-Identifier': encode(parties.target),
    'NHSD-End-User-Organisation': encode(parties.endUserOrganisation),
    'NHSD-Requesting-Software': encode(parties.requestingSoftware),
  };
}

function assertNotRefused(answer: unknown): void {
  const bundle = answer as Partial<Bundle> | undefined;
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'message') return;
  const header = bundle.entry?.[0]?.resource as MessageHeader | undefined;
  const code = header?.response?.code;
  if (code !== 'fatal-error' && code !== 'transient-error') return;
  const outcome = bundle.entry?.find((e) => e.resource?.resourceType === 'OperationOutcome')?.resource;
  const { detail, code: barsCode, text } = summariseOutcome(outcome);
  throw new PartnerError('NHS', code === 'fatal-error' ? 'permanent' : 'transient', `NHS BaRS receiver answered ${code}`, {
    ...(detail ? { detail } : {}),
    ...(barsCode ? { code: barsCode } : {}),
    ...(text ? { partnerText: text } : {}),
  });
}
