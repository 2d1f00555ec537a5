import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Server } from '@hapi/hapi';
import { parse as parseYaml } from 'yaml';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReconciliationReport } from '../../src/reconcile/report';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';

/**
 * The operator files shipped in observability/ and docker-compose.yml: alert rules and dashboard
 * use only metric names a real bridge exports (one scrape of GET /metrics, on real Redis), and
 * the compose file provisions them with pinned images and a healthchecked bridge.
 */
const ROOT = resolve(__dirname, '../..');
const RULES = 'observability/prometheus/iasu-bridge.rules.yml';
const PROMETHEUS = 'observability/prometheus/prometheus.yml';
const DASHBOARD = 'observability/grafana/iasu-bridge.json';
const DATASOURCES = 'observability/grafana/provisioning/datasources/prometheus.yml';
const DASHBOARD_PROVIDERS = 'observability/grafana/provisioning/dashboards/iasu-bridge.yml';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const yamlFile = (path: string) => parseYaml(read(path)) as unknown;
/** Every `iasu_` metric name a PromQL expression uses. */
const iasuNames = (expr: string) => [...expr.matchAll(/\biasu_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
const PROMTOOL = onPath('promtool');

/** A report with one breach open and one closed late, so the families read from it are exported. */
const REPORT: ReconciliationReport = {
  generatedAt: new Date().toISOString(),
  counts: { NHS: {}, CHARITY: {} },
  discrepancies: [],
  serviceLevels: {
    breaches: [
      {
        kind: 'victims-code-breach',
        referralId: 'r1',
        crimeReference: 'c1',
        clockStart: '2026-11-13T10:00:00Z',
        deadline: '2026-11-18T00:00:00.000Z',
        sentAt: null,
        open: true,
      },
    ],
    breachCounts: { open: 1, closedLate: 0 },
    overdue: [],
  },
  pendingWriteBacks: 0,
  unreachable: [],
};

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

interface ComposeService {
  image?: string;
  volumes?: string[];
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
  secrets?: string[];
  extra_hosts?: string[];
  environment?: Record<string, string>;
}

describe('observability files', () => {
  let ctx: BridgeContext;
  let server: Server;
  /** Metric names in one real scrape: families (`# TYPE`) and samples (`_bucket`, `_count`, `_sum`). */
  const exported = new Set<string>();

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(REPORT));
    server = await createServer(ctx, { port: 0 });
    const res = await server.inject({ method: 'GET', url: '/metrics', headers: operatorHeader(ctx.config, ['metrics:read']) });
    expect(res.statusCode).toBe(200);
    for (const line of res.payload.split('\n')) {
      const type = /^# TYPE (\S+) /.exec(line);
      if (type) exported.add(type[1]!);
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
      if (sample) exported.add(sample[1]!);
    }
    expect(exported).toContain('iasu_metrics_redis_up');
  });
  afterAll(async () => {
    await server?.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  describe('Prometheus alert rules', () => {
    const doc = yamlFile(RULES) as { groups: { name: string; rules: Rule[] }[] };
    const rules = () => doc.groups.flatMap((g) => g.rules);

    test('groups of rules, each with alert, expr, for, labels (severity) and annotations (summary, description)', () => {
      expect(Array.isArray(doc.groups)).toBe(true);
      expect(doc.groups.length).toBeGreaterThan(0);
      for (const group of doc.groups) {
        expect(typeof group.name).toBe('string');
        expect(group.rules.length).toBeGreaterThan(0);
      }
      const names = rules().map((r) => r.alert);
      expect(new Set(names).size).toBe(names.length);
      for (const rule of rules()) {
        expect({ alert: rule.alert, keys: Object.keys(rule).sort() }).toEqual({
          alert: rule.alert,
          keys: ['alert', 'annotations', 'expr', 'for', 'labels'],
        });
        expect(rule.alert).toMatch(/^Iasu[A-Z][A-Za-z]+$/);
        expect(typeof rule.expr).toBe('string');
        expect(rule.for).toMatch(/^\d+[smhd]$/);
        expect(['critical', 'warning']).toContain(rule.labels.severity);
        expect(typeof rule.annotations.summary).toBe('string');
        expect(typeof rule.annotations.description).toBe('string');
      }
    });

    test('every iasu_ metric in every expr is one the bridge exports', () => {
      for (const rule of rules()) {
        const names = iasuNames(rule.expr);
        for (const name of names)
          expect({ alert: rule.alert, name, exported: exported.has(name) }).toEqual({ alert: rule.alert, name, exported: true });
      }
    });

    test('the alerts an operator needs are there, on the metrics meant for them', () => {
      const uses = (name: string) =>
        rules()
          .filter((r) => iasuNames(r.expr).includes(name))
          .map((r) => r.alert);
      expect(uses('iasu_dead_letters_total')).toEqual(['IasuDeadLetterQueueGrowing']);
      expect(uses('iasu_dead_letter_queue_depth')).toEqual(['IasuDeadLettersWaiting']);
      // Open, not the total: the alert clears when the victim is sent.
      expect(uses('iasu_sla_victims_code_breaches_open')).toEqual(['IasuVictimsCodeBreachOpen']);
      expect(uses('iasu_sla_victims_code_breaches')).toEqual([]);
      expect(uses('iasu_reconciliation_partner_unreachable')).toEqual(['IasuPartnerUnreachable']);
      expect(uses('iasu_delivery_retries_total')).toEqual(['IasuPartnerDeliveriesFailing']);
      expect(uses('iasu_metrics_redis_up')).toEqual(['IasuRedisDown']);
      expect(uses('iasu_police_writebacks_oldest_age_seconds')).toEqual(['IasuWriteBacksPendingTooLong']);
    });

    (PROMTOOL ? test : test.skip)(
      `promtool check rules and check config --syntax-only pass${PROMTOOL ? '' : ' (SKIPPED: promtool is not on PATH; install Prometheus to run it)'}`,
      () => {
        for (const args of [
          ['check', 'rules', RULES],
          ['check', 'config', '--syntax-only', PROMETHEUS],
        ]) {
          const run = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
          expect({ args, status: run.status, output: run.status === 0 ? '' : `${run.stdout}${run.stderr}` }).toEqual({
            args,
            status: 0,
            output: '',
          });
        }
      },
    );
  });

  describe('Grafana dashboard', () => {
    const dashboard = JSON.parse(read(DASHBOARD)) as { uid: string; title: string; panels: Panel[] };
    const panels = () => dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const datasources = yamlFile(DATASOURCES) as { datasources: { uid: string; type: string; url: string }[] };

    test('valid JSON with unique panel ids, each panel placed and with a query on the provisioned datasource', () => {
      expect(typeof dashboard.uid).toBe('string');
      const ids = panels().map((p) => p.id);
      expect(ids.every((id) => Number.isInteger(id))).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      const uids = datasources.datasources.map((d) => d.uid);
      for (const panel of panels()) {
        expect(panel.gridPos).toEqual({ x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) });
        if (panel.type === 'row') continue;
        expect({ title: panel.title, targets: (panel.targets ?? []).length > 0 }).toEqual({ title: panel.title, targets: true });
        expect(uids).toContain(panel.datasource?.uid);
        for (const t of panel.targets ?? []) expect(uids).toContain(t.datasource?.uid ?? panel.datasource?.uid);
      }
    });

    test("every panel's PromQL uses only metric names the bridge exports", () => {
      for (const panel of panels())
        for (const t of panel.targets ?? [])
          for (const name of iasuNames(t.expr))
            expect({ panel: panel.title, name, exported: exported.has(name) }).toEqual({ panel: panel.title, name, exported: true });
    });

    test('the panels cover what operators watch', () => {
      const used = new Set(panels().flatMap((p) => (p.targets ?? []).flatMap((t) => iasuNames(t.expr))));
      for (const name of [
        'iasu_referrals',
        'iasu_records_total',
        'iasu_queue_jobs',
        'iasu_dead_letter_queue_depth',
        'iasu_dead_letters_total',
        'iasu_delivery_latency_seconds_bucket',
        'iasu_sla_victims_code_breaches_open',
        'iasu_sla_victims_code_breaches_closed_late',
        'iasu_police_writebacks_pending',
        'iasu_metrics_redis_up',
      ])
        expect(used).toContain(name);
    });
  });

  describe('docker-compose.yml', () => {
    const compose = yamlFile('docker-compose.yml') as {
      services: Record<string, ComposeService>;
      secrets?: Record<string, { file: string }>;
    };
    const services = compose.services;
    /** Host paths of a service's bind mounts (named volumes left out). */
    const binds = (s: ComposeService) =>
      (s.volumes ?? []).map((v) => v.split(':')).filter(([from]) => from!.startsWith('.') || from!.startsWith('/'));
    const mountOf = (s: ComposeService, hostPath: string) => binds(s).find(([from]) => from === `./${hostPath}`)?.[1];

    test('every image is pinned to a tag, never latest', () => {
      for (const [name, s] of Object.entries(services)) {
        const tag = /:([^:/]+)$/.exec(s.image ?? '')?.[1];
        expect({ name, image: s.image, pinned: tag !== undefined && tag !== 'latest' }).toEqual({ name, image: s.image, pinned: true });
      }
    });

    test('the bridge has a healthcheck on a health route the server serves', () => {
      const check = services.bridge?.healthcheck?.test;
      expect(check).toBeDefined();
      const path = /\/health\/[a-z]+/.exec(Array.isArray(check) ? check.join(' ') : check!)?.[0];
      expect(path).toBeDefined();
      expect(server.table().some((r) => r.method === 'get' && r.path === path)).toBe(true);
    });

    test('Prometheus and Grafana are there, and every file they mount is in the repository', () => {
      expect(services.prometheus).toBeDefined();
      expect(services.grafana).toBeDefined();
      for (const name of ['bridge', 'prometheus', 'grafana'])
        for (const [from] of binds(services[name]!))
          expect({ service: name, from, exists: existsSync(join(ROOT, from!)) }).toEqual({ service: name, from, exists: true });
      const prometheus = services.prometheus!;
      expect(mountOf(prometheus, PROMETHEUS)).toBe('/etc/prometheus/prometheus.yml');
      const grafana = services.grafana!;
      expect(mountOf(grafana, 'observability/grafana/provisioning/datasources')).toBe('/etc/grafana/provisioning/datasources');
      expect(mountOf(grafana, 'observability/grafana/provisioning/dashboards')).toBe('/etc/grafana/provisioning/dashboards');
      expect(prometheus.depends_on?.bridge?.condition).toBe('service_healthy');

      // prometheus.yml: the rules where they are mounted, the bridge by its service name, the token from the secret.
      const config = yamlFile(PROMETHEUS) as {
        rule_files: string[];
        scrape_configs: {
          metrics_path: string;
          authorization: { type: string; credentials_file: string };
          dns_sd_configs: { names: string[]; port: number }[];
        }[];
      };
      expect(config.rule_files).toEqual([mountOf(prometheus, RULES)]);
      const [scrape] = config.scrape_configs;
      expect(scrape!.metrics_path).toBe('/metrics');
      expect(scrape!.dns_sd_configs).toEqual([expect.objectContaining({ names: ['bridge'], port: 8080 })]);
      expect(scrape!.authorization.type).toBe('Bearer');
      expect(prometheus.secrets).toEqual(['iasu_metrics_token']);
      expect(scrape!.authorization.credentials_file).toBe('/run/secrets/iasu_metrics_token');
      // The token itself is never in git.
      expect(compose.secrets?.iasu_metrics_token?.file).toContain('observability/prometheus/metrics.token');
      expect(read('.gitignore').split('\n')).toContain('observability/prometheus/metrics.token');

      // Grafana: the datasource is the prometheus service; the dashboard is mounted where its provider looks.
      const datasources = yamlFile(DATASOURCES) as { datasources: { url: string }[] };
      expect(datasources.datasources.map((d) => new URL(d.url).hostname)).toEqual(['prometheus']);
      const providers = yamlFile(DASHBOARD_PROVIDERS) as { providers: { options: { path: string } }[] };
      expect(mountOf(grafana, DASHBOARD)).toBe(`${providers.providers[0]!.options.path}/iasu-bridge.json`);
    });

    test('host names work on Linux: service names, and host.docker.internal only where it is mapped to the host gateway', () => {
      for (const [name, s] of Object.entries(services)) {
        const usesHost = JSON.stringify(s).includes('host.docker.internal');
        if (usesHost) expect({ name, extra_hosts: s.extra_hosts }).toEqual({ name, extra_hosts: ['host.docker.internal:host-gateway'] });
      }
      expect(read(PROMETHEUS)).not.toContain('host.docker.internal');
      expect(read(DATASOURCES)).not.toContain('host.docker.internal');
      expect(services.bridge?.environment?.REDIS_URL).toBe('redis://redis:6379');
    });
  });
});
