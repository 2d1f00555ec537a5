import { createPublicKey, randomBytes, randomUUID, verify, type KeyObject } from 'node:crypto';
import Hapi from '@hapi/hapi';
import type {
  Bundle,
  BundleEntry,
  Encounter,
  Identifier,
  MessageHeader,
  OperationOutcome,
  OperationOutcomeIssue,
  Patient,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';

/**
 * An NHS BaRS receiver (nhs-fhir.md "Mode B — bars") for the demo and end-to-end tests: the
 * OAuth 2.0 token endpoint (client credentials, `private_key_jwt`, RS512) and
 * `POST /fhir/$process-message`, strict about headers and message shape so that it catches
 * bridge bugs, plus the trust's side of the workflow: `advance()` moves referrals on and POSTs a
 * `servicerequest-response` message for each step to the bridge's callback.
 * In memory; nothing from a payload is ever logged (there is no logging at all).
 */
export interface BarsReceiverOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** The only client allowed to get tokens. */
  clientId: string;
  /** Verifies the client's RS512 JWT assertions. */
  publicKeyPem: string;
  /** Expected `NHSD-Target-Identifier` value; default DEFAULT_BARS_SERVICE_ID. */
  serviceId?: string;
  /** Default 600. */
  tokenTtlSeconds?: number;
  /** The bridge's `POST /fhir/$process-message` and its bearer token. */
  callback?: { url: string; token: string };
  /** Run `advance()` on a timer (unref'd, so it never keeps a process alive). */
  advanceEveryMs?: number;
  /** Every Nth referral (by arrival) is declined (ServiceRequest revoked) instead of completed. */
  rejectEvery?: number;
  /**
   * `ServiceRequest.identifier.system` holding the referral id. Default: any system ending in
   * `/Id/referral` (the bridge's is configurable).
   */
  referralIdSystem?: string;
  faults?: { errorRate?: number; dropResponseRate?: number; random?: () => number };
}

export type BarsStage = 'received' | 'accepted' | 'in-progress' | 'finished' | 'declined' | 'cancelled';

export interface BarsReceiverStats {
  /** Well-formed messages that reached the workflow (authorised, headers and Bundle valid), resends included. */
  messages: number;
  /** Distinct referrals held. */
  referrals: number;
  /** 409s: a second `new` (or a second, different cancel) for a referral already held. */
  duplicatesRefused: number;
  cancelled: number;
  tokensIssued: number;
  /** Async responses the bridge answered 2xx. */
  responsesSent: number;
  /** Async responses the bridge refused (non-2xx) or that failed on the network. */
  responsesFailed: number;
  /** 401s, from the token endpoint and from `$process-message`. */
  authFailures: number;
}

export interface BarsReceiver {
  /** FHIR base, e.g. http://127.0.0.1:PORT/fhir (messages go to `${url}/$process-message`). */
  url: string;
  /** e.g. http://127.0.0.1:PORT/oauth2/token (the exact `aud` the assertions must carry). */
  tokenUrl: string;
  setCallback(cb: { url: string; token: string }): void;
  /** Moves every open referral one step, POSTing one response per step; returns how many moved. */
  advance(): Promise<number>;
  stats(): BarsReceiverStats;
  referral(referralId: string): { stage: BarsStage; messageId: string; cancelMessageId?: string } | undefined;
  /** Every token issued so far stops working (for the bridge's refresh-once on 401). */
  revokeTokens(): void;
  stop(): Promise<void>;
}

export const DEFAULT_BARS_SERVICE_ID = 'iasu-trust-service';
export const BARS_ERROR_SYSTEM = 'https://fhir.nhs.uk/Codesystem/http-error-codes';
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const BUNDLE_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage';
const RESPONSE_HEADER_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response';
const EVENT_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-events-bars';
const REASON_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-reason-bars';
const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const FHIR_BASE_PATH = '/fhir';
const TOKEN_PATH = '/oauth2/token';
const PROCESS_MESSAGE = '$process-message';
/** nhs-fhir.md: assertion `exp` ≤ 5 min; a little clock skew is forgiven. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
const CLOCK_SKEW_SECONDS = 5;
/** A bridge that keeps answering 404 does not know the referral: stop telling it. */
const MAX_NOT_FOUND = 3;
const CALLBACK_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 5 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

type BarsErrorCode =
  | 'REC_BAD_REQUEST'
  | 'REC_NOT_FOUND'
  | 'SEND_UNAUTHORIZED'
  | 'REC_CONFLICT'
  | 'REC_UNPROCESSABLE_ENTITY'
  | 'REC_SERVER_ERROR'
  | 'REC_METHOD_NOT_ALLOWED';

const ERRORS: Readonly<Record<BarsErrorCode, { status: number; issue: OperationOutcomeIssue['code']; display: string }>> = {
  REC_BAD_REQUEST: { status: 400, issue: 'invalid', display: '400: The receiver has rejected the request as malformed' },
  REC_NOT_FOUND: { status: 404, issue: 'not-found', display: '404: No such operation' },
  SEND_UNAUTHORIZED: { status: 401, issue: 'security', display: '401: The sender is not authorised' },
  REC_CONFLICT: { status: 409, issue: 'duplicate', display: '409: The receiver already holds this referral' },
  REC_UNPROCESSABLE_ENTITY: { status: 422, issue: 'business-rule', display: '422: The receiver cannot process the message' },
  REC_SERVER_ERROR: { status: 503, issue: 'transient', display: '503: The receiver is unavailable' },
  REC_METHOD_NOT_ALLOWED: { status: 405, issue: 'not-supported', display: '405: Method not allowed' },
};

/** What the trust keeps of a referral: identifiers and routing only, never the person's details. */
interface HeldReferral {
  seq: number;
  stage: BarsStage;
  /** The `new` message: answered by every progress response. */
  request: ReplyTarget;
  referralIdentifier: Identifier;
  patientIdentifiers: Identifier[];
  /** The trust's own ids for its copies, stable across responses. */
  ids: { serviceRequest: string; patient: string; encounter: string };
  cancel?: ReplyTarget & { pending: boolean };
  /** Consecutive 404s from the bridge; at MAX_NOT_FOUND the referral is given up on. */
  notFound: number;
  gaveUp: boolean;
}

interface ReplyTarget {
  messageId: string;
  correlationId: string;
  /** `MessageHeader.source.endpoint` of the bridge's message. */
  replyTo: string;
}

type Delivery = 'sent' | 'dropped' | 'failed';

class Refusal {
  constructor(
    readonly code: BarsErrorCode,
    readonly problems: string[],
  ) {}
}

class TokenRefusal {
  constructor(
    readonly status: 400 | 401,
    readonly error: 'invalid_request' | 'unsupported_grant_type' | 'invalid_client',
    readonly description: string,
  ) {}
}

/** What `stats()` reports, but for `referrals` (counted from the map). */
type Counters = Omit<BarsReceiverStats, 'referrals'>;

export async function startBarsReceiver(opts: BarsReceiverOptions): Promise<BarsReceiver> {
  const publicKey = rsaPublicKey(opts.publicKeyPem);
  const random = opts.faults?.random ?? Math.random;
  const referrals = new Map<string, HeldReferral>();
  const counters: Counters = {
    messages: 0,
    duplicatesRefused: 0,
    cancelled: 0,
    tokensIssued: 0,
    responsesSent: 0,
    responsesFailed: 0,
    authFailures: 0,
  };

  const server = Hapi.server({ port: opts.port ?? 0, host: '127.0.0.1', routes: { timeout: { server: false } } });
  const urls = receiverUrls(server);
  const tokens = new TokenIssuer({
    clientId: opts.clientId,
    publicKey,
    ttlSeconds: opts.tokenTtlSeconds ?? 600,
    tokenUrl: urls.tokenUrl,
    counters,
  });
  const sender = new ResponseSender(
    {
      referrals,
      counters,
      fhirBase: urls.fhirBase,
      dropRate: opts.faults?.dropResponseRate ?? 0,
      random,
      rejectEvery: () => opts.rejectEvery,
    },
    opts.callback,
  );
  const workflow = new ReferralWorkflow(referrals, counters, (held) => sender.cancelAfterReply(held));

  routeToken(server, tokens, counters);
  routeProcessMessage(server, {
    tokens,
    counters,
    workflow,
    serviceId: opts.serviceId ?? DEFAULT_BARS_SERVICE_ID,
    isReferralSystem: referralSystemMatcher(opts),
    errorRate: opts.faults?.errorRate ?? 0,
    random,
    fhirBase: urls.fhirBase,
  });
  await server.start();

  const timer = startAdvanceTimer(sender, opts.advanceEveryMs);
  return {
    url: urls.fhirBase(),
    tokenUrl: urls.tokenUrl(),
    setCallback: (cb) => {
      sender.callback = cb;
    },
    advance: () => sender.advance(),
    stats: () => ({ ...counters, referrals: referrals.size }),
    referral: (referralId) => {
      const r = referrals.get(referralId);
      if (!r) return undefined;
      return { stage: r.stage, messageId: r.request.messageId, ...(r.cancel ? { cancelMessageId: r.cancel.messageId } : {}) };
    },
    revokeTokens: () => tokens.revokeAll(),
    stop: async () => {
      if (timer) clearInterval(timer);
      await server.stop({ timeout: 1000 });
      await sender.idle();
    },
  };
}

/** Lazy, because the port is only known once the server has started (port 0 picks a free one). */
function receiverUrls(server: Hapi.Server): { fhirBase: () => string; tokenUrl: () => string } {
  const base = () => `http://127.0.0.1:${server.info.port}`;
  return { fhirBase: () => `${base()}${FHIR_BASE_PATH}`, tokenUrl: () => `${base()}${TOKEN_PATH}` };
}

/** The bridge's referral id system is configurable: without an exact one, any `/Id/referral` system is taken. */
function referralSystemMatcher(opts: Pick<BarsReceiverOptions, 'referralIdSystem'>): (system: string | undefined) => boolean {
  return (system) =>
    typeof system === 'string' && (opts.referralIdSystem ? system === opts.referralIdSystem : system.endsWith('/Id/referral'));
}

/** Runs `advance()` on a timer that never keeps a process alive. */
function startAdvanceTimer(sender: ResponseSender, everyMs: number | undefined): NodeJS.Timeout | undefined {
  const timer = everyMs
    ? setInterval(() => {
        // A failed tick is retried by the next one; the simulator has no one to report to.
        sender.advance().catch(() => undefined);
      }, everyMs)
    : undefined;
  timer?.unref();
  return timer;
}

// ---- OAuth 2.0 token endpoint ---------------------------------------------------------

/**
 * Client credentials with a `private_key_jwt` assertion. A class because it owns the issued
 * tokens and the jtis seen, which `$process-message` (authorised) and `revokeTokens()` also use.
 */
class TokenIssuer {
  /** token → expiry (ms). */
  private readonly tokens = new Map<string, number>();
  /** Assertion jti → its exp (s): a jti is only replayable until its assertion expires anyway. */
  private readonly seenJti = new Map<string, number>();

  constructor(
    private readonly cfg: { clientId: string; publicKey: KeyObject; ttlSeconds: number; tokenUrl: () => string; counters: Counters },
  ) {}

  issue(raw: Buffer, contentType: string | undefined): { access_token: string; expires_in: number; token_type: 'bearer' } {
    const assertion = readTokenForm(raw, contentType, this.cfg.clientId);
    this.verifyAssertion(assertion);
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, Date.now() + this.cfg.ttlSeconds * 1000);
    this.cfg.counters.tokensIssued += 1;
    return { access_token: accessToken, expires_in: this.cfg.ttlSeconds, token_type: 'bearer' };
  }

  authorised(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const expiresAt = match ? this.tokens.get(match[1]!) : undefined;
    return expiresAt !== undefined && Date.now() < expiresAt;
  }

  revokeAll(): void {
    this.tokens.clear();
  }

  /** Throws TokenRefusal(401) on anything wrong; records the jti only once all else is right. */
  private verifyAssertion(assertion: string): void {
    const refuse = (description: string) => new TokenRefusal(401, 'invalid_client', description);
    const claims = verifiedJwtClaims(assertion, this.cfg.publicKey, refuse);
    if (claims.iss !== this.cfg.clientId || claims.sub !== this.cfg.clientId) throw refuse('iss and sub must both be the client id');
    if (claims.aud !== this.cfg.tokenUrl()) throw refuse('aud must be the token endpoint URL');
    const now = Date.now() / 1000;
    const exp = claims.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw refuse('exp is required');
    if (exp <= now - CLOCK_SKEW_SECONDS) throw refuse('client_assertion has expired');
    if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) throw refuse('exp must be at most 5 minutes ahead');
    const jti = claims.jti;
    if (typeof jti !== 'string' || jti === '') throw refuse('jti is required');
    for (const [seen, seenExp] of this.seenJti) if (seenExp < now - CLOCK_SKEW_SECONDS) this.seenJti.delete(seen);
    if (this.seenJti.has(jti)) throw refuse('jti has been used before');
    this.seenJti.set(jti, exp);
  }
}

/** The token request's form, checked; returns the client assertion. Throws TokenRefusal. */
function readTokenForm(raw: Buffer, contentType: string | undefined, clientId: string): string {
  if (mediaType(contentType) !== 'application/x-www-form-urlencoded') {
    throw new TokenRefusal(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  const form = new URLSearchParams(raw.toString('utf8'));
  const single = (name: string): string | undefined => {
    const values = form.getAll(name);
    // RFC 6749 §3.2: request parameters must not be included more than once.
    if (values.length > 1) throw new TokenRefusal(400, 'invalid_request', `${name} is repeated`);
    return values[0];
  };
  const grantType = single('grant_type');
  if (!grantType) throw new TokenRefusal(400, 'invalid_request', 'grant_type is required');
  if (grantType !== 'client_credentials') throw new TokenRefusal(400, 'unsupported_grant_type', 'only client_credentials is supported');
  if (single('client_assertion_type') !== JWT_BEARER_ASSERTION_TYPE) {
    throw new TokenRefusal(400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);
  }
  const assertion = single('client_assertion');
  if (!assertion) throw new TokenRefusal(400, 'invalid_request', 'client_assertion is required');
  const clientIdParam = single('client_id');
  if (clientIdParam !== undefined && clientIdParam !== clientId) throw new TokenRefusal(401, 'invalid_client', 'unknown client');
  return assertion;
}

/** A compact JWT's claims once its RS512 signature checks out; anything else is `refuse`d. */
function verifiedJwtClaims(
  assertion: string,
  publicKey: KeyObject,
  refuse: (description: string) => TokenRefusal,
): Record<string, unknown> {
  const parts = assertion.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) throw refuse('client_assertion is not a signed JWT');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = jsonObject(Buffer.from(headerPart, 'base64url').toString('utf8'));
  const claims = jsonObject(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  if (!header || !claims) throw refuse('client_assertion is not a JWT');
  // The alg is pinned, never taken from the token: no `none`, no HS512 keyed with the public key.
  if (header.alg !== 'RS512') throw refuse('client_assertion must be signed with RS512');
  // RS512 = RSASSA-PKCS1-v1_5 with SHA-512, node's default padding for an RSA key.
  const valid = verify('sha512', Buffer.from(`${headerPart}.${payloadPart}`), publicKey, Buffer.from(signaturePart, 'base64url'));
  if (!valid) throw refuse('client_assertion signature is invalid');
  return claims;
}

function routeToken(server: Hapi.Server, tokens: TokenIssuer, counters: Counters): void {
  server.route({
    method: 'POST',
    path: TOKEN_PATH,
    // Raw bytes: content type and repeated parameters are checked here, with OAuth-shaped errors.
    options: { payload: { parse: false, output: 'data', maxBytes: 64 * 1024 } },
    handler: (request, h) => {
      try {
        const raw = Buffer.isBuffer(request.payload) ? request.payload : Buffer.alloc(0);
        return h
          .response(tokens.issue(raw, headerValue(request.headers, 'content-type')))
          .code(200)
          .header('Cache-Control', 'no-store');
      } catch (err) {
        if (!(err instanceof TokenRefusal)) throw err;
        if (err.status === 401) counters.authFailures += 1;
        // The description is always one of ours: the assertion is never echoed.
        return h.response({ error: err.error, error_description: err.description }).code(err.status).header('Cache-Control', 'no-store');
      }
    },
  });
}

// ---- $process-message -----------------------------------------------------------------

interface MessageRouteDeps {
  tokens: TokenIssuer;
  counters: Counters;
  workflow: ReferralWorkflow;
  serviceId: string;
  isReferralSystem: (system: string | undefined) => boolean;
  errorRate: number;
  random: () => number;
  fhirBase: () => string;
}

function routeProcessMessage(server: Hapi.Server, deps: MessageRouteDeps): void {
  /** Work to start once a request's response has been sent (hapi's 'response' event). */
  const afterReplies = new WeakMap<Hapi.Request, () => void>();
  server.events.on('response', (request) => afterReplies.get(request)?.());

  server.route({
    method: '*',
    path: `${FHIR_BASE_PATH}/{operation}`,
    // Raw bytes, parsed here, so that the order of checks is ours (auth before the body) and every
    // error is an OperationOutcome. (hapi would parse application/fhir+json as JSON by itself.)
    options: { payload: { parse: false, output: 'data', maxBytes: MAX_BODY_BYTES } },
    handler: (request, h) => handleProcessMessage(request, h, deps, afterReplies),
  });
}

/** The order is the point: operation, method, auth, injected fault, headers, body, workflow. */
function handleProcessMessage(
  request: Hapi.Request,
  h: Hapi.ResponseToolkit,
  deps: MessageRouteDeps,
  afterReplies: WeakMap<Hapi.Request, () => void>,
): Hapi.ResponseObject {
  const reply = (status: number, body: Resource) => fhirReply(request, h, status, body);
  const refuse = (refusal: Refusal) => reply(ERRORS[refusal.code].status, outcome(refusal.code, refusal.problems));
  // hapi matches `/fhir/$process-message` literally and `%24process-message` decoded; one route, checked here.
  if (request.params.operation !== PROCESS_MESSAGE) return refuse(new Refusal('REC_NOT_FOUND', ['only $process-message is served here']));
  if (request.method !== 'post') return refuse(new Refusal('REC_METHOD_NOT_ALLOWED', ['only POST is supported'])).header('Allow', 'POST');

  if (!deps.tokens.authorised(headerValue(request.headers, 'authorization'))) {
    deps.counters.authFailures += 1;
    return refuse(new Refusal('SEND_UNAUTHORIZED', ['a valid bearer access token is required'])).header('WWW-Authenticate', 'Bearer');
  }
  // Faults strike before anything is stored, so a retry is always safe.
  if (deps.errorRate > 0 && deps.random() < deps.errorRate) {
    return refuse(new Refusal('REC_SERVER_ERROR', ['the service is temporarily unavailable'])).header('Retry-After', '1');
  }
  try {
    checkHeaders(request.headers, deps.serviceId);
    const message = readMessage(Buffer.isBuffer(request.payload) ? request.payload : Buffer.alloc(0), deps.isReferralSystem);
    const { afterReply } = deps.workflow.process(message, headerValue(request.headers, 'x-correlation-id') ?? '');
    if (afterReply) afterReplies.set(request, afterReply);
    return reply(200, acknowledgement(message.target.messageId, message.target.replyTo, deps.fhirBase()));
  } catch (err) {
    if (err instanceof Refusal) return refuse(err);
    throw err;
  }
}

/** A receiver mirrors the integrity headers on every answer (Core 1.2.2 receiver responsibilities). */
function fhirReply(request: Hapi.Request, h: Hapi.ResponseToolkit, status: number, body: Resource): Hapi.ResponseObject {
  const response = h.response(body).code(status).type('application/fhir+json');
  for (const name of ['X-Request-Id', 'X-Correlation-Id']) {
    const value = headerValue(request.headers, name);
    if (value) response.header(name, value);
  }
  return response;
}

/** Strict on purpose, to catch bridge bugs: every problem found is named in one REC_BAD_REQUEST. */
function checkHeaders(headers: RequestHeaders, serviceId: string): void {
  const problems: string[] = [];
  const get = (name: string): string | undefined => headerValue(headers, name);
  for (const name of ['X-Request-Id', 'X-Correlation-Id']) {
    const value = get(name);
    if (!value) problems.push(`${name} header is required`);
    else if (!UUID.test(value)) problems.push(`${name} header must be a UUID`);
  }
  const target = base64Json(get('NHSD-Target-Identifier'));
  if (!target) problems.push('NHSD-Target-Identifier header is required (base64 JSON identifier)');
  else if (target.value !== serviceId || typeof target.system !== 'string' || target.system === '') {
    problems.push('NHSD-Target-Identifier header must identify this service (value and system)');
  }
  if (base64Json(get('NHSD-End-User-Organisation'))?.resourceType !== 'Organization') {
    problems.push('NHSD-End-User-Organisation header is required (base64 JSON Organization)');
  }
  if (base64Json(get('NHSD-Requesting-Software'))?.resourceType !== 'Device') {
    problems.push('NHSD-Requesting-Software header is required (base64 JSON Device)');
  }
  const useContext = get('use-context');
  const parts = useContext?.split('|');
  if (!parts || parts.length !== 4 || parts.some((p) => p.trim() === ''))
    problems.push('use-context header must have 4 non-empty parts separated by |');
  const accept = get('Accept')?.toLowerCase() ?? '';
  if (!accept.includes('application/fhir+json') || !/version\s*=\s*"?1\.4\.0"?/.test(accept)) {
    problems.push('Accept header must be application/fhir+json; version=1.4.0');
  }
  if (mediaType(get('Content-Type')) !== 'application/fhir+json') problems.push('Content-Type header must be application/fhir+json');
  if (problems.length) throw new Refusal('REC_BAD_REQUEST', problems);
}

/** What the workflow needs of a checked `servicerequest-request` message. */
interface ReadMessage {
  reason: 'new' | 'update';
  target: { messageId: string; replyTo: string };
  serviceRequestStatus: ServiceRequest['status'];
  referralIdentifier: Identifier;
  patientIdentifiers: Identifier[];
}

/** The message's parts, or a Refusal naming what is wrong. */
function readMessage(raw: Buffer, isReferralSystem: (system: string | undefined) => boolean): ReadMessage {
  const bundle = readBundle(raw);
  const problems: string[] = [];
  const unprocessable = () => new Refusal('REC_UNPROCESSABLE_ENTITY', problems);
  if (bundle.type !== 'message') problems.push('Bundle.type must be message');
  if (typeof bundle.id !== 'string' || bundle.id === '') problems.push('Bundle.id is required');
  if (!bundle.meta?.profile?.includes(BUNDLE_PROFILE)) problems.push(`Bundle.meta.profile must include ${BUNDLE_PROFILE}`);
  const entries: BundleEntry[] = Array.isArray(bundle.entry) ? bundle.entry : [];
  const header = entries[0]?.resource as MessageHeader | undefined;
  if (header?.resourceType !== 'MessageHeader') {
    problems.push('the first entry must be a MessageHeader');
    throw unprocessable();
  }
  if (header.eventCoding?.system !== EVENT_SYSTEM || header.eventCoding.code !== 'servicerequest-request') {
    problems.push(`MessageHeader.eventCoding must be ${EVENT_SYSTEM}|servicerequest-request`);
  }
  const reasonCoding = header.reason?.coding?.[0];
  const reason =
    reasonCoding?.system === REASON_SYSTEM && (reasonCoding.code === 'new' || reasonCoding.code === 'update')
      ? reasonCoding.code
      : undefined;
  if (!reason) problems.push(`MessageHeader.reason.coding[0] must be ${REASON_SYSTEM}|new or |update`);
  const replyTo = header.source?.endpoint;
  if (typeof replyTo !== 'string' || replyTo === '') problems.push('MessageHeader.source.endpoint is required');
  const focus = header.focus?.[0]?.reference;
  const srEntry = entries.find((e) => e?.fullUrl !== undefined && e.fullUrl === focus && e.resource?.resourceType === 'ServiceRequest');
  if (!srEntry) problems.push('MessageHeader.focus[0] must reference a ServiceRequest entry by its fullUrl');
  const serviceRequest = srEntry?.resource as ServiceRequest | undefined;
  const referralIdentifier = serviceRequest?.identifier?.find(
    (i) => isReferralSystem(i.system) && typeof i.value === 'string' && i.value !== '',
  );
  if (serviceRequest && !referralIdentifier) problems.push('the ServiceRequest must carry the referral id identifier');
  const patient = entries.find((e) => e?.resource?.resourceType === 'Patient')?.resource as Patient | undefined;
  if (!patient) problems.push('a Patient entry is required');
  if (!entries.some((e) => e?.resource?.resourceType === 'Consent')) problems.push('a Consent entry is required (BaRS)');
  if (problems.length || !reason || !serviceRequest || !referralIdentifier || !patient) throw unprocessable();
  return {
    reason,
    target: { messageId: bundle.id as string, replyTo: replyTo as string },
    serviceRequestStatus: serviceRequest.status,
    referralIdentifier,
    patientIdentifiers: patient.identifier ?? [],
  };
}

/** Not JSON, or not a Bundle at all, is a bad request (400); a Bundle that is wrong inside is 422. */
function readBundle(raw: Buffer): Partial<Bundle> {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Refusal('REC_BAD_REQUEST', ['body is not JSON']);
  }
  const bundle = body as Partial<Bundle> | null;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle')
    throw new Refusal('REC_BAD_REQUEST', ['body is not a FHIR Bundle']);
  return bundle;
}

// ---- the trust's referral workflow ------------------------------------------------------

/** What the trust does with a checked message: hold a new referral, or take its cancellation. */
class ReferralWorkflow {
  constructor(
    private readonly referrals: Map<string, HeldReferral>,
    private readonly counters: Counters,
    /** Sends the cancel's response; called only once our 200 is on the wire. */
    private readonly cancelAfterReply: (held: HeldReferral) => void,
  ) {}

  /** `afterReply` runs once the 200 has been sent. */
  process(message: ReadMessage, correlationId: string): { afterReply?: () => void } {
    this.counters.messages += 1;
    const referralId = message.referralIdentifier.value as string;
    const held = this.referrals.get(referralId);
    const target: ReplyTarget = { ...message.target, correlationId };
    return message.reason === 'new' ? this.receive(message, referralId, held, target) : this.cancel(message, referralId, held, target);
  }

  private receive(
    message: ReadMessage,
    referralId: string,
    held: HeldReferral | undefined,
    target: ReplyTarget,
  ): { afterReply?: () => void } {
    if (!held) {
      this.referrals.set(referralId, {
        seq: this.referrals.size + 1,
        stage: 'received',
        request: target,
        referralIdentifier: message.referralIdentifier,
        patientIdentifiers: message.patientIdentifiers,
        ids: { serviceRequest: randomUUID(), patient: randomUUID(), encounter: randomUUID() },
        notFound: 0,
        gaveUp: false,
      });
      // The 200 is the receipt: no async response for `received`.
      return {};
    }
    if (held.request.messageId === target.messageId) return {}; // a resend: nothing new
    this.counters.duplicatesRefused += 1;
    throw new Refusal('REC_CONFLICT', [`referral ${referralId} is already held (message ${held.request.messageId})`]);
  }

  /** `update`: the only update the trust acts on is the cancellation. */
  private cancel(
    message: ReadMessage,
    referralId: string,
    held: HeldReferral | undefined,
    target: ReplyTarget,
  ): { afterReply?: () => void } {
    if (!held) throw new Refusal('REC_UNPROCESSABLE_ENTITY', [`referral ${referralId} is not known to this service`]);
    if (message.serviceRequestStatus !== 'revoked')
      throw new Refusal('REC_UNPROCESSABLE_ENTITY', ['only a cancellation (ServiceRequest revoked) is accepted as an update']);
    if (held.cancel) {
      if (held.cancel.messageId === target.messageId) return {}; // a resend of the same cancel
      this.counters.duplicatesRefused += 1;
      throw new Refusal('REC_CONFLICT', [`referral ${referralId} already has a cancellation (message ${held.cancel.messageId})`]);
    }
    held.cancel = { ...target, pending: true };
    // A referral the trust already closed stays closed; the response tells the bridge how it ended.
    if (held.stage !== 'finished' && held.stage !== 'declined') {
      held.stage = 'cancelled';
      this.counters.cancelled += 1;
    }
    // Sent once our 200 is on the wire: the bridge learns of the cancel's outcome after its send completed.
    return { afterReply: () => this.cancelAfterReply(held) };
  }
}

// ---- asynchronous responses -------------------------------------------------------------

/**
 * The trust's outbound side: progress and cancel responses POSTed to the bridge's callback.
 * A class because the callback, the one-at-a-time chain and the fault dice are shared by
 * `advance()` ticks and cancel responses.
 */
class ResponseSender {
  /** One outbound conversation at a time: advance() ticks and cancel responses never interleave. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cfg: {
      referrals: Map<string, HeldReferral>;
      counters: Counters;
      fhirBase: () => string;
      dropRate: number;
      random: () => number;
      /** Read on each step, as the options are. */
      rejectEvery: () => number | undefined;
    },
    public callback: { url: string; token: string } | undefined,
  ) {}

  /** Resolves once the outbound work queued so far is done. */
  idle(): Promise<unknown> {
    return this.chain;
  }

  cancelAfterReply(r: HeldReferral): void {
    void this.exclusive(() => this.deliverCancel(r));
  }

  /** Moves every open referral one step, POSTing one response per step; returns how many moved. */
  advance(): Promise<number> {
    return this.exclusive(async () => {
      // Without a callback there is no one to tell: the trust waits rather than lose the steps.
      if (!this.callback) return 0;
      let moved = 0;
      for (const r of [...this.cfg.referrals.values()].sort((a, b) => a.seq - b.seq)) {
        if (r.gaveUp) continue;
        if (r.cancel?.pending) {
          await this.deliverCancel(r);
          continue;
        }
        const from = r.stage;
        const next = nextStage(r, this.cfg.rejectEvery());
        if (!next || next === 'received') continue;
        const result = await this.deliver(r, responseFor(r, next, r.request, this.cfg.fhirBase()), r.request);
        // A cancel may have arrived while the response was in flight: it wins.
        if (result === 'failed' || r.stage !== from) continue;
        r.stage = next;
        moved += 1;
      }
      return moved;
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async deliverCancel(r: HeldReferral): Promise<void> {
    const cancel = r.cancel;
    if (!cancel?.pending || r.gaveUp || !this.callback) return;
    const stage = r.stage === 'received' ? 'cancelled' : r.stage;
    const result = await this.deliver(r, responseFor(r, stage, cancel, this.cfg.fhirBase()), cancel);
    if (result !== 'failed' || r.gaveUp) cancel.pending = false;
  }

  /** POSTs one response; only a 2xx counts as delivered. A drop is "delivered" from our side: it is lost. */
  private async deliver(r: HeldReferral, bundle: Bundle, to: ReplyTarget): Promise<Delivery> {
    const cb = this.callback;
    if (!cb) return 'failed';
    if (this.cfg.dropRate > 0 && this.cfg.random() < this.cfg.dropRate) return 'dropped';
    const status = await postToCallback(cb, bundle, to);
    if (status !== undefined && status >= 200 && status < 300) {
      this.cfg.counters.responsesSent += 1;
      r.notFound = 0;
      return 'sent';
    }
    this.cfg.counters.responsesFailed += 1;
    if (status === 404 && ++r.notFound >= MAX_NOT_FOUND) r.gaveUp = true;
    return 'failed';
  }
}

/** The HTTP status the bridge answered, or undefined when the network failed or timed out. */
async function postToCallback(cb: { url: string; token: string }, bundle: Bundle, to: ReplyTarget): Promise<number | undefined> {
  try {
    const res = await fetch(cb.url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${cb.token}`,
        'Content-Type': 'application/fhir+json',
        Accept: 'application/fhir+json',
        'X-Correlation-Id': UUID.test(to.correlationId) ? to.correlationId : randomUUID(),
        'X-Request-Id': randomUUID(),
      },
      body: JSON.stringify(bundle),
      signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
    });
    const status = res.status;
    await res.arrayBuffer(); // drain, so the connection is reusable
    return status;
  } catch {
    return undefined;
  }
}

function nextStage(r: HeldReferral, rejectEvery: number | undefined): BarsStage | undefined {
  switch (r.stage) {
    case 'received':
      return rejectEvery && r.seq % rejectEvery === 0 ? 'declined' : 'accepted';
    case 'accepted':
      return 'in-progress';
    case 'in-progress':
      return 'finished';
    default:
      return undefined;
  }
}

/** The synchronous 200's body: a `servicerequest-response` acknowledging `messageId`. */
function acknowledgement(messageId: string, replyTo: string, fhirBase: string): Bundle {
  const headerId = randomUUID();
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    id: headerId,
    meta: { profile: [RESPONSE_HEADER_PROFILE] },
    eventCoding: { system: EVENT_SYSTEM, code: 'servicerequest-response' },
    destination: [{ endpoint: replyTo }],
    source: { endpoint: fhirBase },
    response: { identifier: messageId, code: 'ok' },
  };
  return messageBundle([{ fullUrl: `urn:uuid:${headerId}`, resource: header }]);
}

/** The response for a referral in `stage`, answering `to`. */
function responseFor(r: HeldReferral, stage: Exclude<BarsStage, 'received'>, to: ReplyTarget, fhirBase: string): Bundle {
  const headerId = randomUUID();
  const srUrl = `urn:uuid:${r.ids.serviceRequest}`;
  const patientUrl = `urn:uuid:${r.ids.patient}`;
  const srStatus: ServiceRequest['status'] =
    stage === 'finished' ? 'completed' : stage === 'declined' || stage === 'cancelled' ? 'revoked' : 'active';
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    id: headerId,
    meta: { profile: [RESPONSE_HEADER_PROFILE] },
    eventCoding: { system: EVENT_SYSTEM, code: 'servicerequest-response' },
    destination: [{ endpoint: to.replyTo }],
    source: { endpoint: fhirBase },
    response: { identifier: to.messageId, code: 'ok' },
    focus: [{ reference: srUrl }],
  };
  const serviceRequest: ServiceRequest = {
    resourceType: 'ServiceRequest',
    id: r.ids.serviceRequest,
    identifier: [r.referralIdentifier],
    status: srStatus,
    intent: 'plan',
    subject: { reference: patientUrl },
  };
  const patient: Patient = {
    resourceType: 'Patient',
    id: r.ids.patient,
    ...(r.patientIdentifiers.length ? { identifier: r.patientIdentifiers } : {}),
  };
  const entries: BundleEntry[] = [
    { fullUrl: `urn:uuid:${headerId}`, resource: header },
    { fullUrl: srUrl, resource: serviceRequest },
    { fullUrl: patientUrl, resource: patient },
  ];
  const encounter = encounterFor(r, stage, srUrl, patientUrl);
  if (encounter) entries.push({ fullUrl: `urn:uuid:${r.ids.encounter}`, resource: encounter });
  return messageBundle(entries);
}

/** Only a referral the trust took on has an Encounter; a declined or cancelled one has none. */
function encounterFor(r: HeldReferral, stage: Exclude<BarsStage, 'received'>, srUrl: string, patientUrl: string): Encounter | undefined {
  const encounterStatus: Encounter['status'] | undefined =
    stage === 'accepted' ? 'planned' : stage === 'in-progress' ? 'in-progress' : stage === 'finished' ? 'finished' : undefined;
  if (!encounterStatus) return undefined;
  return {
    resourceType: 'Encounter',
    id: r.ids.encounter,
    status: encounterStatus,
    class: { system: ACT_CODE_SYSTEM, code: 'AMB', display: 'ambulatory' },
    subject: { reference: patientUrl },
    basedOn: [{ reference: srUrl }],
  };
}

// ---- helpers ------------------------------------------------------------------------------

type RequestHeaders = Record<string, unknown>;

/** A request header (hapi lower-cases names), trimmed; undefined when absent, blank or repeated. */
function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function rsaPublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error('publicKeyPem must be an RSA public key (RS512)');
  return key;
}

function messageBundle(entry: BundleEntry[]): Bundle {
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { profile: [BUNDLE_PROFILE] },
    type: 'message',
    timestamp: new Date().toISOString(),
    entry,
  };
}

function outcome(code: BarsErrorCode, problems: string[]): OperationOutcome {
  const { issue, display } = ERRORS[code];
  return {
    resourceType: 'OperationOutcome',
    issue: problems.map((diagnostics) => ({
      severity: 'error',
      code: issue,
      details: { coding: [{ system: BARS_ERROR_SYSTEM, code, display }] },
      diagnostics,
    })),
  };
}

/** `type/subtype` of a Content-Type, lower-cased, without parameters. */
function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase();
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Strict base64 (not base64url, not raw JSON): Buffer.from(…, 'base64') alone skips bad characters. */
function base64Json(value: string | undefined): Record<string, unknown> | undefined {
  if (!value || value.length % 4 !== 0 || !BASE64.test(value)) return undefined;
  return jsonObject(Buffer.from(value, 'base64').toString('utf8'));
}
