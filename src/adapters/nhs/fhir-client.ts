import type { Bundle, BundleEntry, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { FhirResource } from 'fhir-kit-client';
import { PartnerError } from '../partner-error';
import { NhsRequester, type CallOptions, type RequestContext } from './nhs-requester';
import type { AccessTokenSource } from './token-client';

/**
 * nhs-fhir.md Mode A (`fhir-rest`) over fhir-kit-client: I/O only. Every failure leaves here as
 * a PartnerError('NHS'); the queues decide what to do with it.
 */
export interface NhsFhirClientOptions {
  baseUrl: string;
  timeoutMs: number;
  referralIdSystem: string;
  auth?: AccessTokenSource;
}

export type { RequestContext } from './nhs-requester';

/** Task and ServiceRequest statuses the trust has settled: a cancel leaves them alone. */
const SETTLED_TASK = new Set<Task['status']>(['cancelled', 'completed', 'rejected', 'failed', 'entered-in-error']);
const SETTLED_SERVICE_REQUEST = new Set<ServiceRequest['status']>(['revoked', 'completed', 'entered-in-error']);

export class NhsFhirClient {
  private readonly requester: NhsRequester;

  constructor(private readonly opts: NhsFhirClientOptions) {
    this.requester = new NhsRequester({ baseUrl: opts.baseUrl, timeoutMs: opts.timeoutMs, ...(opts.auth ? { auth: opts.auth } : {}) });
  }

  /**
   * POSTs the transaction Bundle. A 409 means the trust already holds the referral, so it
   * counts as delivered and the refs are looked up by the referral id.
   */
  async sendTransaction(bundle: Bundle, ctx: RequestContext): Promise<{ serviceRequestRef: string; taskRef?: string }> {
    const referralId = this.referralIdOf(bundle);
    let response: Bundle;
    try {
      response = (await this.requester.post(ctx, '', bundle)) as Bundle;
    } catch (err) {
      if (err instanceof PartnerError && err.status === 409) return this.lookUpDelivered(referralId, ctx);
      throw err;
    }
    const serviceRequestRef = refFromResponse(bundle, response, 'ServiceRequest');
    // A server may answer without locations (Prefer: return=minimal); ask instead of guessing.
    if (!serviceRequestRef) return this.lookUpDelivered(referralId, ctx);
    const taskRef = refFromResponse(bundle, response, 'Task');
    return { serviceRequestRef, ...(taskRef ? { taskRef } : {}) };
  }

  /** Closes the kept-alive sockets (shutdown, tests). */
  close(): void {
    this.requester.close();
  }

  /** The trust's Task for the referral, or undefined if it has none (yet). */
  async getTaskStatus(referralId: string, ctx: RequestContext): Promise<{ taskStatus: string; taskRef: string } | undefined> {
    const task = await this.findByReferralId<Task>('Task', referralId, ctx);
    return task ? { taskStatus: task.status, taskRef: `Task/${task.id}` } : undefined;
  }

  /**
   * Consent or record withdrawn: Task → cancelled, ServiceRequest → revoked. Idempotent, and
   * an outcome the trust already settled (completed, rejected…) is never overwritten:
   * `alreadySettled` says the trust had closed it before, with nothing left to cancel.
   */
  async cancel(referralId: string, ctx: RequestContext): Promise<{ alreadySettled: boolean }> {
    const task = await this.findByReferralId<Task>('Task', referralId, ctx);
    const taskSettled = task !== undefined && SETTLED_TASK.has(task.status);
    // Our own earlier cancel is not the trust settling it: a retried cancel still counts as cancelled.
    const settledByTrust = taskSettled && task.status !== 'cancelled';
    if (settledByTrust) return { alreadySettled: true };
    if (task && !taskSettled) {
      await this.update({ ...task, status: 'cancelled', statusReason: { text: 'Withdrawn by the referrer' } }, ctx);
    }
    const serviceRequest = await this.findByReferralId<ServiceRequest>('ServiceRequest', referralId, ctx);
    if (serviceRequest && !SETTLED_SERVICE_REQUEST.has(serviceRequest.status)) {
      await this.update({ ...serviceRequest, status: 'revoked' }, ctx);
    }
    return { alreadySettled: false };
  }

  /**
   * Every Task the trust holds under the bridge's referral-id system, page by page: the
   * reconciler's view of what the trust has, to find referrals the bridge does not know.
   */
  async listReferralTasks(ctx: RequestContext, maxPages = 100): Promise<{ referralId: string; status: string }[]> {
    const system = this.opts.referralIdSystem;
    const out: { referralId: string; status: string }[] = [];
    let bundle = (await this.request(ctx, (client, options) =>
      client.resourceSearch({ resourceType: 'Task', searchParams: { identifier: `${system}|`, _count: '200' }, options }),
    )) as unknown as Bundle;
    for (let page = 1; ; page++) {
      for (const entry of bundle.entry ?? []) {
        const task = entry.resource;
        if (task?.resourceType !== 'Task') continue;
        const referralId = task.identifier?.find((i) => i.system === system)?.value;
        if (referralId) out.push({ referralId, status: task.status });
      }
      if (page >= maxPages || !bundle.link?.some((l) => l.relation === 'next')) return out;
      const current = bundle;
      bundle = (await this.request(
        ctx,
        (client, options) =>
          client.nextPage({
            bundle: current as unknown as Parameters<typeof client.nextPage>[0]['bundle'],
            options,
          }) as Promise<FhirResource>,
      )) as unknown as Bundle;
    }
  }

  private async lookUpDelivered(referralId: string, ctx: RequestContext): Promise<{ serviceRequestRef: string; taskRef?: string }> {
    const serviceRequest = await this.findByReferralId<ServiceRequest>('ServiceRequest', referralId, ctx);
    if (!serviceRequest) {
      // The trust said it has the referral but cannot show it: try again later.
      throw new PartnerError('NHS', 'transient', 'NHS FHIR server reported the referral delivered but has no ServiceRequest for it', {
        detail: 'service-request-not-found',
      });
    }
    const task = await this.findByReferralId<Task>('Task', referralId, ctx);
    return { serviceRequestRef: `ServiceRequest/${serviceRequest.id}`, ...(task ? { taskRef: `Task/${task.id}` } : {}) };
  }

  private async findByReferralId<T extends ServiceRequest | Task>(
    resourceType: T['resourceType'],
    referralId: string,
    ctx: RequestContext,
  ): Promise<(T & { id: string }) | undefined> {
    const bundle = (await this.request(ctx, (client, options) =>
      client.resourceSearch({ resourceType, searchParams: { identifier: `${this.opts.referralIdSystem}|${referralId}` }, options }),
    )) as unknown as Bundle;
    const found = (bundle.entry ?? [])
      .map((e) => e.resource)
      .find((r): r is T => r?.resourceType === resourceType && typeof r.id === 'string');
    return found as (T & { id: string }) | undefined;
  }

  /** Update guarded by If-Match, so a concurrent change by the trust is not overwritten blind. */
  private async update(resource: (ServiceRequest | Task) & { id?: string }, ctx: RequestContext): Promise<void> {
    const versionId = resource.meta?.versionId;
    try {
      await this.request(ctx, (client, options) =>
        client.update({
          resourceType: resource.resourceType,
          id: resource.id as string,
          body: resource as unknown as FhirResource,
          options: versionId ? { ...options, headers: { ...options.headers, 'If-Match': `W/"${versionId}"` } } : options,
        }),
      );
    } catch (err) {
      // 409/412 here is a version race with the trust, not a duplicate: re-read and try again.
      if (err instanceof PartnerError && (err.status === 409 || err.status === 412)) {
        throw new PartnerError('NHS', 'transient', `NHS FHIR update conflicted (${err.status})`, {
          ...err.options,
          partnerText: err.partnerText,
        });
      }
      throw err;
    }
  }

  private request<T>(
    ctx: RequestContext,
    call: (client: Parameters<Parameters<NhsRequester['call']>[1]>[0], options: CallOptions) => Promise<T>,
  ): Promise<T> {
    return this.requester.call(ctx, call);
  }

  private referralIdOf(bundle: Bundle): string {
    const serviceRequest = bundle.entry?.map((e) => e.resource).find((r): r is ServiceRequest => r?.resourceType === 'ServiceRequest');
    const id = serviceRequest?.identifier?.find((i) => i.system === this.opts.referralIdSystem)?.value;
    if (!id) throw new Error('transaction bundle has no ServiceRequest with a referral id');
    return id;
  }
}

/** `ServiceRequest/123` from the transaction-response entry matching the request entry. */
function refFromResponse(request: Bundle, response: Bundle, resourceType: 'ServiceRequest' | 'Task'): string | undefined {
  const index = (request.entry ?? []).findIndex((e: BundleEntry) => e.resource?.resourceType === resourceType);
  const entry = index < 0 ? undefined : response.entry?.[index];
  const location = entry?.response?.location;
  const match = location ? new RegExp(`(?:^|/)${resourceType}/([A-Za-z0-9\\-.]{1,64})(?:/_history/|$)`).exec(location) : null;
  if (match?.[1]) return `${resourceType}/${match[1]}`;
  const resource: Resource | undefined = entry?.resource;
  return resource?.resourceType === resourceType && resource.id ? `${resourceType}/${resource.id}` : undefined;
}
