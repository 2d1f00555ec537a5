import type { Bundle } from '@medplum/fhirtypes';
import type { Infra } from '../../infra';
import { assertBarsUseCase, type BridgeConfig } from '../../config';
import { nhsView } from '../../mappings/allow-lists';
import { barsCancelMessage, referralToBarsMessage, type BarsMappingOptions } from '../../mappings/referral-to-bars';
import { referralToTransactionBundle, type FhirMappingOptions } from '../../mappings/referral-to-fhir';
import { PermanentError } from '../../queues/dead-letter';
import type { PartnerDelivery } from './delivery';
import { QUEUE } from '../../queues/topology';

/** What building and sending an NHS message needs. */
export type NhsDeliveryDeps = Pick<Infra, 'config' | 'messages' | 'partners' | 'referrals'>;

export function fhirMappingOptions(config: BridgeConfig): FhirMappingOptions {
  return {
    trustOdsCode: config.nhs.trustOdsCode,
    trustName: config.nhs.trustName,
    policeOrgName: config.force.orgName,
    policeOrgCode: config.force.orgCode,
    referralIdSystem: config.nhs.referralIdSystem,
    crimeReferenceSystem: config.nhs.crimeReferenceSystem,
    serviceSnomedCode: config.nhs.serviceSnomedCode,
  };
}

export function barsMappingOptions(config: BridgeConfig): BarsMappingOptions {
  // Start-up checks this in bars mode; `map --nhs-mode bars` reaches here from any mode.
  assertBarsUseCase(config.nhs.barsUseCase);
  return {
    ...fhirMappingOptions(config),
    sourceEndpoint: config.nhs.barsSourceEndpoint,
    destinationEndpoint: config.nhs.barsDestinationEndpoint,
    useCase: config.nhs.barsUseCase,
  };
}

/** Clinical referrals to the NHS trust, in the deployment's mode (nhs-fhir.md Mode A or B). */
export function nhsDelivery(ctx: NhsDeliveryDeps): PartnerDelivery<Bundle> {
  return ctx.config.nhs.mode === 'bars' ? barsDelivery(ctx) : fhirRestDelivery(ctx);
}

/** Mode A: a transaction Bundle of conditional creates; cancel revokes the ServiceRequest and Task. */
function fhirRestDelivery(ctx: NhsDeliveryDeps): PartnerDelivery<Bundle> {
  const options = fhirMappingOptions(ctx.config);
  return {
    partner: 'NHS',
    queue: QUEUE.nhsDelivery,
    build: (referral) => referralToTransactionBundle(nhsView(referral), options),
    send: async (bundle, call) => {
      const result = await ctx.partners.nhs.sendTransaction(bundle, { correlationId: call.correlationId });
      return { partnerRef: result.serviceRequestRef, partnerStatus: 'requested' };
    },
    cancel: async (meta, _reason, call) => {
      const { alreadySettled } = await ctx.partners.nhs.cancel(meta.referralId, { correlationId: call.correlationId });
      return alreadySettled ? 'already-closed' : 'cancelled';
    },
  };
}

/**
 * Mode B: a BaRS message to `$process-message`. The trust answers asynchronously on the
 * bridge's own `$process-message`, naming the Bundle id, so every id sent is indexed first.
 */
function barsDelivery(ctx: NhsDeliveryDeps): PartnerDelivery<Bundle> {
  const options = barsMappingOptions(ctx.config);
  return {
    partner: 'NHS',
    queue: QUEUE.nhsDelivery,
    // Built once and frozen, so a record without times keeps the first build's date on every retry.
    build: (referral) => referralToBarsMessage(nhsView(referral), { ...options, assembledAt: new Date().toISOString() }),
    send: async (message, call) => {
      await ctx.messages.remember(message.id!, { referralId: call.referralId, kind: 'new' });
      const result = await ctx.partners.bars.sendMessage(message, { correlationId: call.correlationId });
      return { partnerRef: `Bundle/${message.id}`, partnerStatus: result.outcome === 'duplicate' ? 'duplicate' : 'active' };
    },
    cancel: async (meta, _reason, call) => {
      // The cancel is the message the trust received, revoked: rebuilt from the frozen payload.
      const sent = await ctx.referrals.loadOutbound<Bundle>(meta.referralId);
      if (!sent) throw new PermanentError('the message sent to the trust has expired from the bridge; cancel with the trust directly');
      const cancel = barsCancelMessage(sent, new Date().toISOString());
      await ctx.messages.remember(cancel.id!, { referralId: meta.referralId, kind: 'cancel' });
      await ctx.partners.bars.sendMessage(cancel, { correlationId: call.correlationId });
      // The trust answers asynchronously; a referral it had already closed comes back as such.
      return 'cancelled';
    },
  };
}
