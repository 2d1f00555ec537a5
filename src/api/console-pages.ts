import type { DeadLetterSummary } from '../operations/dead-letter-admin';
import type { CrimeStory, ReferralSummary, ServiceLevelView } from '../operations/worklists';
import type { QuarantineEntry } from '../store/quarantine';

/**
 * The operator console's pages, rendered on the server as plain HTML: no script runs in the
 * browser, so the Content-Security-Policy can forbid all of it, and there is nothing to build.
 * Plots are drawn here as SVG. Every value is escaped; the pages carry metadata only.
 */
export interface Viewer {
  operator: string;
  /** May redrive and discard dead letters. */
  canAct: boolean;
  /** The form token for actions (cookie sessions); empty for bearer callers. */
  csrf: string;
}

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const NAV: [string, string][] = [
  ['/console', 'Overview'],
  ['/console/held', 'Held'],
  ['/console/quarantine', 'Quarantine'],
  ['/console/dead-letters', 'Dead letters'],
];

export function page(title: string, body: string, viewer?: Viewer, notice?: string): string {
  const nav = viewer
    ? `<nav>${NAV.map(([href, label]) => `<a href="${href}">${label}</a>`).join('')}
<form class="search" method="get" action="/console/search"><label>Crime reference or referral id <input name="q" required maxlength="64"></label> <button>Find</button></form>
<form class="out" method="post" action="/console/logout"><input type="hidden" name="csrf" value="${esc(viewer.csrf)}"><span>${esc(viewer.operator)}</span> <button>Sign out</button></form></nav>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · iasu-bridge</title><link rel="stylesheet" href="/console/console.css"></head>
<body><header><strong>iasu-bridge</strong> operator console</header>${nav}<main>
${notice ? `<p class="notice" role="status">${esc(notice)}</p>` : ''}<h1>${esc(title)}</h1>
${body}</main></body></html>`;
}

function table(headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

const crimeLink = (ref: string) => `<a href="/console/crimes/${encodeURIComponent(ref)}">${esc(ref)}</a>`;
const time = (iso: string | undefined) => (iso ? `<time datetime="${esc(iso)}">${esc(iso.replace('T', ' ').slice(0, 16))}</time>` : '');

export interface Overview {
  counts: Record<string, Record<string, number>>;
  serviceLevels: ServiceLevelView;
  perDay: { day: string; count: number }[];
  timeToPartner: { label: string; count: number }[];
  held: number;
  quarantined: number;
  deadLetters: number;
}

export function overviewPage(o: Overview, viewer: Viewer, notice?: string): string {
  const statuses = [...new Set(Object.values(o.counts).flatMap((c) => Object.keys(c)))].sort();
  const partners = Object.keys(o.counts).sort();
  const counts = table(
    ['Partner', ...statuses],
    partners.map((p) => [esc(p), ...statuses.map((s) => esc(o.counts[p]?.[s] ?? 0))]),
    'No referrals yet.',
  );
  const sl = o.serviceLevels;
  const open = table(
    ['Crime', 'Referral', 'Consent recorded', 'Deadline'],
    sl.open.map((b) => [crimeLink(b.crimeReference), esc(b.referralId), time(b.clockStart), time(b.deadline)]),
    "No victim is waiting past the Victims' Code deadline.",
  );
  return page(
    'Overview',
    `<section class="alerts"><h2>Victims waiting past the Victims' Code deadline: <span id="open-breaches">${sl.open.length}</span></h2>${open}
<p class="small">${sl.generatedAt ? `From the reconciliation of ${time(sl.generatedAt)}.` : 'No reconciliation has run yet.'} Closed late: ${sl.closedLate.length}. Clinical referrals overdue: ${sl.clinicalOverdue.length}.</p></section>
<section><h2>Worklists</h2><ul class="tiles"><li><a href="/console/held">Held <b>${o.held}</b></a></li><li><a href="/console/quarantine">Quarantined <b>${o.quarantined}</b></a></li><li><a href="/console/dead-letters">Dead letters <b>${o.deadLetters}</b></a></li></ul></section>
<section><h2>Referrals by partner and status</h2>${counts}</section>
<section class="plots"><figure><figcaption>Referrals created per day (last 14 days)</figcaption>${barChart(o.perDay.map((d) => ({ label: d.day.slice(5), count: d.count })))}</figure>
<figure><figcaption>Time from queued to the partner having it</figcaption>${barChart(o.timeToPartner)}</figure></section>`,
    viewer,
    notice,
  );
}

/** A bar chart as SVG, labelled for screen readers; bars scale to the largest count. */
export function barChart(bars: { label: string; count: number }[]): string {
  // Wide enough for its label; drawn at its own size, never stretched.
  const width = Math.max(36, 8 + 7 * Math.max(0, ...bars.map((b) => b.label.length)));
  const height = 120;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const body = bars
    .map((b, i) => {
      const h = Math.round((b.count / max) * height);
      const x = i * width + 4;
      return `<g><title>${esc(b.label)}: ${b.count}</title><rect x="${x}" y="${height - h + 16}" width="${width - 8}" height="${h}"></rect>
<text x="${x + (width - 8) / 2}" y="${height - h + 12}" class="n">${b.count}</text><text x="${x + (width - 8) / 2}" y="${height + 30}">${esc(b.label)}</text></g>`;
    })
    .join('');
  const label = bars.map((b) => `${b.label}: ${b.count}`).join(', ');
  const w = Math.max(bars.length, 1) * width + 8;
  return `<svg role="img" aria-label="${esc(label)}" width="${w}" height="${height + 40}" viewBox="0 0 ${w} ${height + 40}" class="chart">${body}</svg>`;
}

export function heldPage(items: ReferralSummary[], viewer: Viewer): string {
  return page(
    'Held referrals',
    `<p>Held referrals were not sent: no consent or lawful basis the specs require. A later record version with consent releases them.</p>
${table(
  ['Crime', 'Type', 'Why held', 'Version', 'Since'],
  items.map((r) => [
    crimeLink(r.crimeReference),
    esc(r.type),
    `<span class="reason">${esc(r.heldReason ?? '')}</span>`,
    esc(r.recordVersion),
    time(r.updatedAt),
  ]),
  'Nothing is held.',
)}`,
    viewer,
  );
}

export function quarantinePage(items: QuarantineEntry[], total: number, viewer: Viewer): string {
  return page(
    'Quarantined records',
    `<p>${total} record(s) the bridge could not accept. The reason names the field and the rule; fix the record at the police source and it is read again.</p>
${table(
  ['Crime', 'Version', 'Reason', 'From', 'When'],
  items.map((q) => [
    q.crimeReference ? crimeLink(q.crimeReference) : '(unknown)',
    esc(q.recordVersion ?? ''),
    `<span class="reason">${esc(q.reason)}</span>`,
    esc(q.source),
    time(q.at),
  ]),
  'Nothing is quarantined.',
)}`,
    viewer,
  );
}

export function deadLettersPage(items: DeadLetterSummary[], viewer: Viewer, notice?: string): string {
  const csrf = `<input type="hidden" name="csrf" value="${esc(viewer.csrf)}">`;
  const reasons = DISCARD_REASONS.map(([code, label]) => `<option value="${code}">${esc(label)}</option>`).join('');
  const actions = (d: DeadLetterSummary) =>
    viewer.canAct
      ? `<form method="post" action="/console/dead-letters/${encodeURIComponent(d.id)}/redrive">${csrf}<button class="redrive">Redrive</button></form>
<form method="post" action="/console/dead-letters/${encodeURIComponent(d.id)}/discard">${csrf}<select name="reason" aria-label="Why discard">${reasons}</select><button class="discard">Discard</button></form>`
      : '';
  return page(
    'Dead letters',
    `<p>Deliveries and write-backs that failed for good. Redrive one once its cause is fixed: it goes through the pipeline again. Discard one that needs nothing more.</p>
${table(
  ['Crime', 'Partner', 'Error', 'Reason', 'Failed', ''],
  items.map((d) => [
    d.crimeReference ? crimeLink(d.crimeReference) : '',
    esc(d.partner),
    esc(d.errorKind),
    esc(d.reason),
    time(d.failedAt),
    actions(d),
  ]),
  'No dead letters.',
)}`,
    viewer,
    notice,
  );
}

/** Why an operator discards a dead letter from the console: fixed choices, so no free text is typed. */
export const DISCARD_REASONS: readonly [string, string][] = [
  ['resolved-outside-the-bridge', 'Resolved outside the bridge'],
  ['duplicate', 'A duplicate'],
  ['test-data', 'Test data'],
  ['no-longer-needed', 'No longer needed'],
];

export function crimePage(story: CrimeStory, viewer: Viewer): string {
  const referrals = table(
    ['Referral', 'Type', 'Partner', 'Status', 'Why held / last error', 'Write-backs pending'],
    story.referrals.map((r) => [
      esc(r.referralId),
      esc(r.type),
      esc(r.partner),
      `<span class="status">${esc(r.status)}</span>`,
      esc(r.heldReason ?? r.lastError ?? ''),
      esc(r.writeBacksPending),
    ]),
    'No referrals for this crime.',
  );
  const timeline = story.story.length
    ? `<ol class="timeline">${story.story
        .map(
          (e) =>
            `<li>${time(e.at)} <b>${esc(e.status)}</b> ${esc(e.partner)} · ${esc(e.source)}${e.detail ? ` · ${esc(e.detail)}` : ''}</li>`,
        )
        .join('')}</ol>`
    : '<p class="empty">No status changes.</p>';
  const quarantine = table(
    ['Version', 'Reason', 'When'],
    story.quarantine.map((q) => [esc(q.recordVersion ?? ''), `<span class="reason">${esc(q.reason)}</span>`, time(q.at)]),
    'No quarantined versions.',
  );
  return page(
    `Crime ${story.crimeReference}`,
    `<p>Record versions seen: ${story.versionsSeen.map(esc).join(', ') || 'none'}${story.appliedVersion ? `; applied: ${esc(story.appliedVersion)}` : ''}.</p>
<section><h2>Referrals</h2>${referrals}</section><section><h2>Story</h2>${timeline}</section><section><h2>Quarantine</h2>${quarantine}</section>`,
    viewer,
  );
}

export function loginPage(next: string, error?: string, providerUrl?: string): string {
  return page(
    'Sign in',
    `${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
${providerUrl ? `<p><a class="idp" href="${esc(providerUrl)}">Sign in with the unit's identity provider</a></p><p>Or:</p>` : ''}
<p>Sign in with an operator token from the unit's identity provider, or one issued by <code>iasu-bridge token</code>. It is kept in an HttpOnly cookie for this console only.</p>
<form method="post" action="/console/session"><input type="hidden" name="next" value="${esc(next)}">
<label>Operator token <textarea name="token" required autocomplete="off" spellcheck="false"></textarea></label><button>Sign in</button></form>`,
  );
}

export function forbiddenPage(viewer: Viewer | undefined): string {
  return page('Not allowed', '<p>Your token does not carry the scope this page needs. Ask the unit manager for access.</p>', viewer);
}

export const CONSOLE_CSS = `body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#0b3d5c;color:#fff;padding:.6em 1em}nav{display:flex;flex-wrap:wrap;gap:1em;align-items:center;padding:.5em 1em;background:#e8eef2}
nav a{color:#0b3d5c;font-weight:600}nav .search{margin-left:auto}nav .out{display:flex;gap:.5em;align-items:center}
main{padding:1em;max-width:80em}table{border-collapse:collapse;margin:.5em 0;background:#fff}th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef}.notice{background:#e6f4e6;padding:.5em}.error{background:#fde8e8;padding:.5em}.empty{color:#555}.small{font-size:.9em;color:#444}
.tiles{display:flex;gap:1em;list-style:none;padding:0}.tiles a{display:block;padding:.8em 1.2em;background:#fff;border:1px solid #ccd;text-decoration:none}
.plots{display:flex;flex-wrap:wrap;gap:2em}.chart{max-width:100%;height:auto}.chart rect{fill:#2b7bb9}.chart text{font-size:10px;text-anchor:middle}
.alerts h2{color:#8a1c1c}textarea{width:100%;height:7em;display:block}.timeline li{margin:.2em 0}form{display:inline}`;
