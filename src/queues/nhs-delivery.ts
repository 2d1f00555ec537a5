import type { Bundle } from '@medplum/fhirtypes';
import type { BridgeContext } from '../context';
import { nhsView } from '../mappings/allow-lists';
import { referralToTransactionBundle, type FhirMappingOptions } from '../mappings/referral-to-fhir';
import type { BridgeConfig } from '../config';
import type { PartnerDelivery } from './delivery';
import { QUEUE } from './topology';

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

/** Clinical referrals to the NHS trust, mode `fhir-rest` (nhs-fhir.md Mode A). */
export function nhsDelivery(ctx: BridgeContext): PartnerDelivery<Bundle> {
  const options = fhirMappingOptions(ctx.config);
  return {
    partner: 'NHS',
    queue: QUEUE.nhsDelivery,
    build: (referral) => referralToTransactionBundle(nhsView(referral), options),
    send: async (bundle, call) => {
      const result = await ctx.partners.nhs.sendTransaction(bundle, { correlationId: call.correlationId });
      return { partnerRef: result.serviceRequestRef, partnerStatus: 'requested' };
    },
    cancel: (meta, _reason, call) => ctx.partners.nhs.cancel(meta.referralId, { correlationId: call.correlationId }),
  };
}
