import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HapiAdapter } from '@bull-board/hapi';
import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { OPERATOR_COOKIE, OPERATOR_COOKIE_STRATEGY, OPERATOR_STRATEGY, operatorAccess, operatorAuth, publicRoute } from './auth';

/**
 * The queue dashboard (bull-board) at /admin/queues, for administrators only. Read-only: every
 * action on a failed referral goes through the dead-letter API, where it is audited and the
 * referral's history shows it. A browser cannot send a bearer header, so /admin/login takes the
 * token once and POSTs it to /admin/session, which sets it as an HttpOnly, SameSite=Strict
 * cookie scoped to /admin; only the dashboard's routes accept that cookie.
 */
export const DASHBOARD_PATH = '/admin/queues';

export const adminDashboardPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-admin-dashboard',
  async register(server, { ctx }) {
    const adapter = new HapiAdapter();
    adapter.setBasePath(DASHBOARD_PATH);
    createBullBoard({
      queues: ctx.queues.all().map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: 'iasu-bridge queues' } },
    });
    const dashboardAuth = { strategies: [OPERATOR_STRATEGY, OPERATOR_COOKIE_STRATEGY], access: operatorAccess() };
    await server.register({ plugin: adapter.registerPlugin(), options: { auth: dashboardAuth } }, { routes: { prefix: DASHBOARD_PATH } });

    server.route({
      method: 'GET',
      path: '/admin/login',
      options: { ...publicRoute() },
      handler: (_request, h) =>
        h
          .response(LOGIN_PAGE)
          .type('text/html')
          .header(
            'Content-Security-Policy',
            "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'; style-src 'unsafe-inline'",
          ),
    });
    server.route({
      method: 'POST',
      path: '/admin/session',
      options: { auth: operatorAuth() },
      handler: (request, h) => {
        const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
        return h.response().code(204).state(OPERATOR_COOKIE, token);
      },
    });
  },
};

const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iasu-bridge admin</title>
<style>body{font:16px system-ui;margin:3em auto;max-width:40em}textarea{width:100%;height:8em}</style></head>
<body><h1>iasu-bridge queue dashboard</h1>
<p>Paste an administrator token (scope <code>admin</code>). It is kept in an HttpOnly cookie for this browser session, for the dashboard only.</p>
<textarea id="t" autocomplete="off"></textarea><p><button id="go">Open the dashboard</button> <span id="m"></span></p>
<script>
document.getElementById('go').onclick = async () => {
  const r = await fetch('/admin/session', { method: 'POST', headers: { Authorization: 'Bearer ' + document.getElementById('t').value.trim() } });
  if (r.status === 204) location.href = '${DASHBOARD_PATH}'; else document.getElementById('m').textContent = 'Refused (' + r.status + ')';
};
</script></body></html>`;
