import type { Plugin, RequestRoute, Server } from '@hapi/hapi';
import type Joi from 'joi';
import { version } from '../../package.json';
import { DASHBOARD_PATH } from './admin-dashboard';
import joiToJson from 'joi-to-json';
import { RESPONSE_SCHEMAS } from './response-schemas';
import { publicRoute, type PartnerCredential, type RouteCredential } from './auth';

/**
 * `GET /openapi.json`: an OpenAPI 3.0 description built from the server's own route table, so
 * it cannot drift from what is served: paths, parameters (from the joi validation), request
 * content types, and who may call each route (scopes, or the partner's credential). The words
 * live in ROUTE_DOCS; a test fails when a route has none. (hapi-swagger would do this, but it
 * requires joi 17 and this project is on joi 18.)
 */
interface RouteDoc {
  summary: string;
  tag: 'referrals' | 'operations' | 'dead letters' | 'partners' | 'health' | 'dashboard' | 'console';
  responses: Record<string, string>;
}

export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  'GET /health/live': { tag: 'health', summary: 'The process answers.', responses: { 200: 'alive' } },
  'GET /health/ready': {
    tag: 'health',
    summary: 'Redis takes a write within a second.',
    responses: { 200: 'ready', 503: 'Redis not answering or refusing writes' },
  },
  'GET /openapi.json': { tag: 'health', summary: 'This description.', responses: { 200: 'OpenAPI 3.0 document' } },
  'POST /v1/police/flags': {
    tag: 'partners',
    summary: 'The police RMS pushes a CrimeFlagFeed document (police-feed.md §2).',
    responses: {
      202: '{accepted, held, quarantined[]}',
      400: 'unreadable document',
      401: 'bad token',
      413: 'too large',
      415: 'not XML',
      503: 'push not configured, or too many documents in flight (Retry-After)',
    },
  },
  'POST /v1/webhooks/charity': {
    tag: 'partners',
    summary: "The charity's referral.status_changed events, signed with X-Charity-Signature.",
    responses: {
      200: '{eventId, result}',
      400: 'not an event',
      401: 'missing, wrong or stale signature',
      404: 'unknown referral',
      503: 'webhooks not configured, or retry later (the event is still being applied, the referral is busy, or too many events are in flight: Retry-After)',
    },
  },
  'POST /fhir/$process-message': {
    tag: 'partners',
    summary:
      "The NHS trust's BaRS servicerequest-response messages. X-Request-Id and X-Correlation-Id (UUIDs) are required and mirrored on every answer.",
    responses: {
      200: 'acknowledgement message',
      400: 'OperationOutcome: REC_BAD_REQUEST (not a response message, or no X-Request-Id / X-Correlation-Id)',
      401: 'OperationOutcome: REC_UNAUTHORIZED',
      403: 'OperationOutcome: REC_FORBIDDEN',
      404: 'OperationOutcome: unknown message',
      409: 'OperationOutcome: REC_CONFLICT / duplicate (this message id was already processed)',
      422: 'OperationOutcome',
      503: 'OperationOutcome: not configured, the message is being processed, or too many messages in flight (Retry-After)',
    },
  },
  'GET /v1/referrals/{id}': {
    tag: 'referrals',
    summary:
      "Status, partner reference, timeline and last error (structured) of one referral; include=personal (admin, audited) adds the partner's own words about the failure.",
    responses: { 200: 'referral', 404: 'unknown' },
  },
  'GET /v1/referrals': {
    tag: 'referrals',
    summary:
      'Referrals by crimeReference, status, partner and updatedSince, newest change first; paged with limit and the nextCursor it returns.',
    responses: { 200: '{items, nextCursor?}', 400: 'a query field is invalid (the message names it)' },
  },
  'GET /v1/crimes/{crimeReference}': {
    tag: 'referrals',
    summary: "A crime's story: its referrals with their timelines, record versions seen, quarantine entries, write-backs pending.",
    responses: { 200: 'story', 404: 'nothing held for that crime' },
  },
  'GET /v1/quarantine': {
    tag: 'referrals',
    summary: 'Quarantined records, newest first: reason (field and rule), crime reference, version.',
    responses: { 200: '{items, total}' },
  },
  'GET /v1/quarantine/{id}': {
    tag: 'referrals',
    summary: 'One quarantine entry; include=personal adds the record as received (admin, audited).',
    responses: { 200: 'entry', 403: 'personal data needs admin', 404: 'unknown' },
  },
  'POST /v1/quarantine/{id}/discard': {
    tag: 'referrals',
    summary: 'Discard a quarantine entry with a reason code (audited).',
    responses: { 200: 'discarded', 404: 'unknown' },
  },
  'POST /v1/quarantine/{id}/release': {
    tag: 'referrals',
    summary: "Read a quarantined record again through today's validation: queued for intake if it passes now (audited).",
    responses: { 200: '{outcome: released, queued}', 404: 'unknown', 409: 'refused, with why (still fails, a conflict, not kept)' },
  },
  'GET /v1/service-levels': {
    tag: 'referrals',
    summary: "Victims' Code breaches open now (a victim still waiting) and closed late; clinical referrals overdue.",
    responses: { 200: 'service levels' },
  },
  'GET /v1/reconciliation': { tag: 'referrals', summary: 'The last reconciliation report.', responses: { 200: 'report', 404: 'none yet' } },
  'POST /v1/reconciliation': {
    tag: 'referrals',
    summary: 'Run a reconciliation now and answer its report.',
    responses: { 200: 'report', 409: 'another is running' },
  },
  'GET /v1/dead-letters': {
    tag: 'dead letters',
    summary: 'Dead letters, filtered by partner, error class, queue and age.',
    responses: { 200: '{items, truncated}' },
  },
  'GET /v1/dead-letters/{id}': {
    tag: 'dead letters',
    summary: 'One dead letter: metadata, error, the referral timeline; include=personal for administrators (audited).',
    responses: { 200: 'detail', 403: 'personal data needs admin', 404: 'unknown' },
  },
  'POST /v1/dead-letters/{id}/redrive': {
    tag: 'dead letters',
    summary: 'Redrive one dead letter.',
    responses: { 200: 'redriven', 404: 'unknown', 409: 'refused, with why' },
  },
  'POST /v1/dead-letters/redrive': {
    tag: 'dead letters',
    summary: 'Redrive every dead letter matching a filter (or all).',
    responses: { 200: '{results}' },
  },
  'POST /v1/dead-letters/{id}/discard': {
    tag: 'dead letters',
    summary: 'Discard one dead letter, with a reason.',
    responses: { 200: 'discarded', 404: 'unknown', 409: 'refused' },
  },
  'GET /metrics': { tag: 'operations', summary: 'Prometheus metrics.', responses: { 200: 'text exposition format' } },
  'GET /v1/audit': {
    tag: 'operations',
    summary: 'The audit trail by referral and time range (metadata only).',
    responses: { 200: '{events}' },
  },
  'GET /v1/audit/export': { tag: 'operations', summary: 'The audit trail as JSON lines.', responses: { 200: 'application/x-ndjson' } },
  'GET /admin/login': {
    tag: 'dashboard',
    summary: 'Sign in to the queue dashboard with an administrator token.',
    responses: { 200: 'HTML' },
  },
  'POST /admin/session': {
    tag: 'dashboard',
    summary: "Turn the bearer token into the dashboard's HttpOnly cookie.",
    responses: { 204: 'cookie set' },
  },
};

/** bull-board's own routes, described once: the dashboard and its read-only API. */
const DASHBOARD_DOC: RouteDoc = {
  tag: 'dashboard',
  summary: 'Queue dashboard (bull-board), read-only, administrators only.',
  responses: { 200: 'dashboard' },
};

/** The operator console's pages (HTML for people; the JSON under /v1 is the API). */
const CONSOLE_DOC: RouteDoc = {
  tag: 'console',
  summary: 'Operator console page (HTML): worklists, a crime story, service levels; sign-in with an operator token.',
  responses: { 200: 'HTML', 302: 'to the sign-in page', 303: 'after a form' },
};

export function routeDoc(method: string, path: string): RouteDoc | undefined {
  return (
    ROUTE_DOCS[`${method.toUpperCase()} ${path}`] ??
    (path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`) ? DASHBOARD_DOC : undefined) ??
    (path === '/console' || path.startsWith('/console/') ? CONSOLE_DOC : undefined)
  );
}

export const openapiPlugin: Plugin<void> = {
  name: 'iasu-openapi',
  register(server) {
    server.route({ method: 'GET', path: '/openapi.json', options: { ...publicRoute() }, handler: () => buildOpenApi(server) });
  },
};

export function buildOpenApi(server: Server): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of server.table()) {
    const doc = routeDoc(route.method, route.path);
    if (!doc) continue; // undocumented: the route-table test fails on it
    // bull-board's own API is not the bridge's: only its entry page is described.
    if (route.path.startsWith(`${DASHBOARD_PATH}/`)) continue;
    const openApiPath = route.path.replace(/\{(\w+)\*?\d*\}/g, '{$1}');
    paths[openApiPath] ??= {};
    paths[openApiPath]![route.method] = {
      operationId: operationIdOf(route.method, openApiPath),
      summary: doc.summary,
      tags: [doc.tag],
      parameters: parametersOf(route),
      ...requestBodyOf(route),
      responses: responsesOf(route, doc),
      ...securityOf(route),
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'iasu-bridge',
      version,
      license: { name: 'Proprietary (UNLICENSED): for the Integrated Anti-Stalking Unit' },
      description: 'Integration middleware for an Integrated Anti-Stalking Unit: police, NHS trust and charity.',
    },
    servers: [{ url: '/', description: 'this bridge' }],
    paths,
    components: {
      securitySchemes: {
        operatorJwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Operator token; scopes in the scope claim: referrals:read, dlq:redrive, metrics:read, admin.',
        },
        policePushToken: { type: 'http', scheme: 'bearer', description: 'POLICE_PUSH_TOKEN' },
        charitySignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Charity-Signature',
          description: 't={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{raw body}")}',
        },
        nhsInbound: { type: 'http', scheme: 'bearer', description: 'NHS_INBOUND_TOKEN, or mTLS when NHS_INBOUND_AUTH=mtls' },
      },
    },
  };
}

function parametersOf(route: RequestRoute): unknown[] {
  const params: { name: string | undefined; in: string; required: boolean; schema: Record<string, unknown> }[] = [
    ...route.path.matchAll(/\{(\w+)\*?\d*\}/g),
  ].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = (route.settings.validate as { query?: Joi.ObjectSchema } | undefined)?.query;
  const described = query && typeof query.describe === 'function' ? (query.describe() as { keys?: Record<string, JoiKey> }) : undefined;
  for (const [name, key] of Object.entries(described?.keys ?? {})) {
    params.push({ name, in: 'query', required: key.flags?.presence === 'required', schema: schemaOf(key) });
  }
  return params;
}

interface JoiKey {
  type?: string;
  flags?: { presence?: string; only?: boolean; default?: unknown };
  allow?: unknown[];
  rules?: { name: string; args?: { limit?: number } }[];
}

/** A query key's Joi rules as the OpenAPI schema a client can rely on: type, allowed values, bounds, format. */
export function schemaOf(key: JoiKey): Record<string, unknown> {
  const rule = (name: string) => key.rules?.find((r) => r.name === name);
  const integer = key.type === 'number' && rule('integer') !== undefined;
  const type = integer ? 'integer' : key.type === 'number' ? 'number' : key.type === 'boolean' ? 'boolean' : 'string';
  const bound = (name: 'min' | 'max', as: string) => (rule(name)?.args?.limit !== undefined ? { [as]: rule(name)!.args!.limit } : {});
  const numeric = type === 'integer' || type === 'number';
  return {
    type,
    ...(key.flags?.only && key.allow ? { enum: key.allow } : {}),
    ...(numeric
      ? { ...bound('min', 'minimum'), ...bound('max', 'maximum') }
      : { ...bound('min', 'minLength'), ...bound('max', 'maxLength') }),
    ...(rule('isoDate') ? { format: 'date-time' } : {}),
    ...(rule('guid') ? { format: 'uuid' } : {}),
    ...(key.flags?.default !== undefined ? { default: key.flags.default } : {}),
  };
}

function requestBodyOf(route: RequestRoute): Record<string, unknown> {
  if (route.method === 'get') return {};
  const allow = (route.settings.payload as { allow?: string | string[] } | undefined)?.allow;
  const types = allow ? (Array.isArray(allow) ? allow : [allow]) : ['application/json'];
  return { requestBody: { content: Object.fromEntries(types.map((t) => [t, {}])) } };
}

/** Who may call a route: anyone, a partner with its credential, or operators with these scopes. */
type RouteAccess = { kind: 'public' } | { kind: 'partner'; credential: PartnerCredential } | { kind: 'operator'; scopes: string[] };

function accessOf(route: RequestRoute): RouteAccess {
  const auth = route.settings.auth as false | { access?: { scope?: { selection?: string[] } }[] } | undefined;
  const credential = (route.settings.app as { credential?: RouteCredential } | undefined)?.credential;
  if (credential && 'partnerCredential' in credential) return { kind: 'partner', credential: credential.partnerCredential };
  if (auth === false || credential) return { kind: 'public' };
  return { kind: 'operator', scopes: auth?.access?.flatMap((a) => a.scope?.selection ?? []) ?? [] };
}

const PARTNER_SCHEMES: Record<PartnerCredential, string> = {
  'police-push-token': 'policePushToken',
  'charity-signature': 'charitySignature',
  'nhs-inbound': 'nhsInbound',
};

function securityOf(route: RequestRoute): Record<string, unknown> {
  const access = accessOf(route);
  if (access.kind === 'public') return { security: [] };
  if (access.kind === 'partner') return { security: [{ [PARTNER_SCHEMES[access.credential]]: [] }] };
  return { security: [{ operatorJwt: access.scopes }] };
}

/** `GET /v1/referrals/{id}` → `getV1ReferralsById`: stable, unique per route. */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .map((part) => (part.startsWith('{') ? `by-${part.slice(1, -1)}` : part.replace(/^\$/, '')))
    .flatMap((part) => part.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return [method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}

/** What every route of its kind may answer: validation, and its credential's refusals. */
function impliedResponses(route: RequestRoute): Record<string, string> {
  const out: Record<string, string> = {};
  const validate = route.settings.validate as { query?: unknown; params?: unknown; payload?: unknown } | undefined;
  if (validate?.query || validate?.params || validate?.payload) out['400'] = 'invalid request (the message names the field)';
  const access = accessOf(route);
  if (access.kind === 'partner') out['401'] = 'missing or wrong partner credential';
  else if (access.kind === 'operator') Object.assign(out, { 401: 'no valid operator token', 403: 'the token lacks the scope' });
  return out;
}

/** The route's answers in words; the 200 of a JSON operator route with its schema (response-schemas.ts). */
function responsesOf(route: RequestRoute, doc: RouteDoc): Record<string, unknown> {
  const schema = RESPONSE_SCHEMAS[`${route.method.toUpperCase()} ${route.path}`];
  return Object.fromEntries(
    Object.entries({ ...impliedResponses(route), ...doc.responses }).map(([code, description]) => [
      code,
      code === '200' && schema
        ? { description, content: { 'application/json': { schema: joiToJson(schema, 'open-api') } } }
        : { description },
    ]),
  );
}
