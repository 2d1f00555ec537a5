import Boom from '@hapi/boom';
import type { Lifecycle, Plugin, Request, ResponseObject, RouteOptions } from '@hapi/hapi';
import Joi from 'joi';
import { createHash } from 'node:crypto';
import type { BridgeContext } from '../context';
import { discardDeadLetter, listDeadLetters, redriveDeadLetter, strictAuditSink } from '../operations/dead-letter-admin';
import { crimeStory, listReferrals, MAX_PAGE, serviceLevelView } from '../operations/worklists';
import { lastReport } from '../reconcile/reconciler';
import {
  CONSOLE_COOKIE,
  CONSOLE_COOKIE_STRATEGY,
  JWT_SHAPE,
  sameSecret,
  OPERATOR_STRATEGY,
  operatorAccess,
  operatorOf,
  publicRoute,
  SCOPE,
  type Scope,
} from './auth';
import {
  CONSOLE_CSS,
  crimePage,
  esc,
  deadLettersPage,
  DISCARD_REASONS,
  forbiddenPage,
  heldPage,
  loginPage,
  overviewPage,
  page,
  quarantinePage,
  type Viewer,
} from './console-pages';
import { consoleOidcPlugin, OIDC_START } from './console-oidc';
import { CRIME_REFERENCE, namingFailAction } from './worklists';

/**
 * The operator console at /console: the worklists, a crime's story and service levels as pages,
 * for `referrals:read` and above; redrive for `dlq:redrive`. A browser signs in once with its
 * operator token, kept in an HttpOnly, SameSite=Strict cookie scoped to /console; actions also
 * carry a form token derived from that cookie (CSRF). Bearer tokens work too (no form token
 * needed: a bearer is never sent by a browser on its own).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

function consoleAuth(...scopes: Scope[]): NonNullable<RouteOptions['auth']> {
  return { strategies: [CONSOLE_COOKIE_STRATEGY, OPERATOR_STRATEGY], access: operatorAccess(...scopes) };
}

/** The form token for a cookie session: only a page the bridge served can know it. */
export function csrfFor(sessionToken: string): string {
  return createHash('sha256').update(`iasu-console-csrf:${sessionToken}`).digest('base64url');
}

function sessionToken(request: Request): string | undefined {
  const value = (request.state as Record<string, unknown> | undefined)?.[CONSOLE_COOKIE];
  return typeof value === 'string' ? value : undefined;
}

function viewerOf(request: Request): Viewer {
  const scope = ((request.auth.credentials as { scope?: string[] } | undefined)?.scope ?? []) as string[];
  const token = sessionToken(request);
  return {
    operator: operatorOf(request.auth.credentials),
    canAct: scope.includes(SCOPE.dlqRedrive) || scope.includes(SCOPE.admin),
    csrf: token ? csrfFor(token) : '',
  };
}

/** A cookie session's action must carry its form token; a bearer caller needs none. */
function checkCsrf(request: Request): void {
  const token = sessionToken(request);
  if (!token || request.headers.authorization) return;
  if (!sameSecret(String((request.payload as { csrf?: unknown } | null)?.csrf ?? ''), csrfFor(token)))
    throw Boom.forbidden('the form token is missing or stale: reload the page');
}

/** Security headers on every console answer; a browser without a session is sent to sign in. */
const consoleAnswers: Lifecycle.Method = (request, h) => {
  const raw = request.response;
  let response: ResponseObject;
  if ('isBoom' in raw && raw.isBoom) {
    const status = raw.output.statusCode;
    const wantsHtml = String(request.headers.accept ?? '').includes('text/html');
    if (!wantsHtml) return h.continue;
    if (status === 401) response = h.redirect(`/console/login?next=${encodeURIComponent(request.url.pathname)}`).code(302);
    else if (status === 403) response = h.response(forbiddenPage(undefined)).code(403).type('text/html');
    else
      response = h
        .response(page('Something went wrong', `<p>${esc(raw.output.payload.message)}</p>`))
        .code(status)
        .type('text/html');
  } else response = raw as ResponseObject;
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.header(name, value);
  return response === raw ? h.continue : response;
};

const ext = { onPreResponse: { method: consoleAnswers } };

export const consolePlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-console',
  async register(server, { ctx }) {
    const oidc = ctx.config.http.consoleOidc;
    if (oidc)
      await server.register({ plugin: consoleOidcPlugin, options: { config: oidc, secure: ctx.config.http.tls !== undefined, safeNext } });
    const route = (method: 'GET' | 'POST', path: string, options: RouteOptions, handler: Lifecycle.Method) =>
      server.route({
        method,
        path,
        // Validation errors name the field (and may repeat the value: every page escapes it).
        options: { ...options, ext, ...(options.validate ? { validate: { ...options.validate, failAction: namingFailAction } } : {}) },
        // Every page an operator opens is in the audit trail, as every API read is.
        handler:
          method === 'GET' && options.auth !== false
            ? async (request, h) => {
                const crimeReference = (request.params as { crimeReference?: string }).crimeReference;
                await ctx.audit.record({
                  actor: operatorOf(request.auth.credentials),
                  action: 'admin.read',
                  target: path,
                  ...(crimeReference ? { crimeReference } : {}),
                });
                return handler.call(null, request, h);
              }
            : handler,
      });
    const send = (h: Parameters<Lifecycle.Method>[1], body: string) => h.response(body).type('text/html; charset=utf-8');

    route('GET', '/console/console.css', { ...publicRoute() }, (_r, h) => h.response(CONSOLE_CSS).type('text/css'));
    route(
      'GET',
      '/console/login',
      { ...publicRoute(), validate: { query: Joi.object({ next: Joi.string().max(200), error: Joi.string().valid('token', 'idp') }) } },
      (request, h) => {
        const { next, error } = request.query as { next?: string; error?: string };
        const message =
          error === 'idp'
            ? 'The identity provider did not sign you in: try again, or use a token.'
            : error
              ? 'That token was not accepted: check it has not expired.'
              : undefined;
        return send(h, loginPage(safeNext(next), message, oidc ? `${OIDC_START}?next=${encodeURIComponent(safeNext(next))}` : undefined));
      },
    );
    route(
      'POST',
      '/console/session',
      {
        ...publicRoute(),
        payload: { maxBytes: 16 * 1024 },
        validate: { payload: Joi.object({ token: Joi.string().trim().max(8192).required(), next: Joi.string().max(200) }) },
      },
      (request, h) => {
        const { token, next } = request.payload as { token: string; next?: string };
        if (!JWT_SHAPE.test(token)) return h.redirect(`/console/login?error=token&next=${encodeURIComponent(safeNext(next))}`).code(303);
        // The cookie is only honoured once its token verifies, on the next page.
        return h.redirect(safeNext(next)).code(303).state(CONSOLE_COOKIE, token);
      },
    );
    route('POST', '/console/logout', { auth: consoleAuth(SCOPE.referralsRead), payload: { maxBytes: 4096 } }, (request, h) => {
      checkCsrf(request);
      return h.redirect('/console/login').code(303).unstate(CONSOLE_COOKIE);
    });

    route('GET', '/console', { auth: consoleAuth(SCOPE.referralsRead) }, async (request, h) => {
      return send(h, overviewPage(await overview(ctx), viewerOf(request)));
    });
    route('GET', '/console/held', { auth: consoleAuth(SCOPE.referralsRead) }, async (request, h) => {
      const held = await listReferrals(ctx, { status: 'HELD' }, { limit: MAX_PAGE });
      return send(h, heldPage(held.items, viewerOf(request)));
    });
    route('GET', '/console/quarantine', { auth: consoleAuth(SCOPE.referralsRead) }, async (request, h) =>
      send(h, quarantinePage(await ctx.quarantine.list(MAX_PAGE), await ctx.quarantine.count(), viewerOf(request))),
    );
    route(
      'GET',
      '/console/dead-letters',
      { auth: consoleAuth(SCOPE.referralsRead), validate: { query: Joi.object({ notice: Joi.string().max(200) }) } },
      async (request, h) => {
        const { notice } = request.query as { notice?: string };
        return send(h, deadLettersPage(await listDeadLetters(ctx, { limit: MAX_PAGE }), viewerOf(request), notice));
      },
    );
    route(
      'POST',
      '/console/dead-letters/{id}/redrive',
      {
        auth: consoleAuth(SCOPE.dlqRedrive),
        payload: { maxBytes: 4096 },
        validate: { params: Joi.object({ id: Joi.string().max(300).required() }) },
      },
      async (request, h) => {
        checkCsrf(request);
        const { id } = request.params as { id: string };
        const result = await redriveDeadLetter(ctx, id, operatorOf(request.auth.credentials), strictAuditSink(ctx.audit));
        const notice = result.outcome === 'redriven' ? 'Redriven: it is back in the pipeline.' : `Not redriven: ${result.why}`;
        return h.redirect(`/console/dead-letters?notice=${encodeURIComponent(notice)}`).code(303);
      },
    );
    route(
      'POST',
      '/console/dead-letters/{id}/discard',
      {
        auth: consoleAuth(SCOPE.dlqRedrive),
        payload: { maxBytes: 4096 },
        validate: {
          params: Joi.object({ id: Joi.string().max(300).required() }),
          payload: Joi.object({
            csrf: Joi.string().max(100),
            reason: Joi.string()
              .valid(...DISCARD_REASONS.map(([code]) => code))
              .required(),
          }),
        },
      },
      async (request, h) => {
        checkCsrf(request);
        const { id } = request.params as { id: string };
        const { reason } = request.payload as { reason: string };
        const result = await discardDeadLetter(ctx, id, reason, operatorOf(request.auth.credentials), strictAuditSink(ctx.audit));
        const notice = result.outcome === 'discarded' ? 'Discarded.' : `Not discarded: ${result.why}`;
        return h.redirect(`/console/dead-letters?notice=${encodeURIComponent(notice)}`).code(303);
      },
    );
    route(
      'GET',
      '/console/search',
      { auth: consoleAuth(SCOPE.referralsRead), validate: { query: Joi.object({ q: Joi.string().trim().max(64).required() }) } },
      async (request, h) => {
        const { q } = request.query as { q: string };
        const referral = /^[0-9a-f-]{36}$/i.test(q) ? await ctx.referrals.get(q.toLowerCase()) : undefined;
        const crime = referral?.crimeReference ?? q;
        if (CRIME_REFERENCE.validate(crime).error) throw Boom.badRequest('that is neither a crime reference nor a referral id');
        return h.redirect(`/console/crimes/${encodeURIComponent(crime)}`).code(303);
      },
    );
    route(
      'GET',
      '/console/crimes/{crimeReference}',
      { auth: consoleAuth(SCOPE.referralsRead), validate: { params: Joi.object({ crimeReference: CRIME_REFERENCE.required() }) } },
      async (request, h) => {
        const { crimeReference } = request.params as { crimeReference: string };
        const story = await crimeStory(ctx, crimeReference);
        if (!story) throw Boom.notFound(`the bridge holds nothing for crime ${crimeReference}`);
        return send(h, crimePage(story, viewerOf(request)));
      },
    );
  },
};

/** Only a console page: a sign-in never sends the browser elsewhere. */
function safeNext(next: string | undefined): string {
  return next && /^\/console(\/[A-Za-z0-9/_.%-]*)?$/.test(next) && !next.startsWith('/console/login') ? next : '/console';
}

async function overview(ctx: BridgeContext) {
  const metas = await ctx.referrals.getMany(await ctx.referrals.allIds());
  const counts: Record<string, Record<string, number>> = {};
  for (const m of metas) (counts[m.partner] ??= {})[m.status] = (counts[m.partner]?.[m.status] ?? 0) + 1;
  const today = new Date();
  const perDay = Array.from({ length: 14 }, (_, i) => {
    const day = new Date(today.getTime() - (13 - i) * 86_400_000).toISOString().slice(0, 10);
    return { day, count: metas.filter((m) => m.createdAt.startsWith(day)).length };
  });
  return {
    counts,
    serviceLevels: serviceLevelView(await lastReport(ctx)),
    perDay,
    timeToPartner: await timeToPartner(ctx, metas),
    held: metas.filter((m) => m.status === 'HELD').length,
    quarantined: await ctx.quarantine.count(),
    deadLetters: await ctx.queues.deadLetter.getWaitingCount(),
  };
}

const BUCKETS: [string, number][] = [
  ['< 1 min', 60_000],
  ['< 1 h', 3_600_000],
  ['< 1 day', 86_400_000],
  ['< 2 days', 2 * 86_400_000],
  ['longer', Infinity],
];

/** From the first QUEUED to the first SENT, for the most recent referrals that reached a partner. */
async function timeToPartner(ctx: BridgeContext, metas: { referralId: string; updatedAt: string; status: string }[]) {
  const recent = metas
    .filter((m) => m.status !== 'HELD' && m.status !== 'QUEUED')
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
    .slice(0, 500);
  const counts = BUCKETS.map(([label]) => ({ label, count: 0 }));
  // One batch of reads (the connection pipelines them), not one round trip per referral.
  for (const timeline of await Promise.all(recent.map((m) => ctx.referrals.timeline(m.referralId)))) {
    const queued = timeline.find((e) => e.status === 'QUEUED')?.at;
    const sent = timeline.find((e) => e.status === 'SENT')?.at;
    if (!queued || !sent) continue;
    const ms = Date.parse(sent) - Date.parse(queued);
    counts[BUCKETS.findIndex(([, limit]) => ms < limit)]!.count++;
  }
  return counts;
}
