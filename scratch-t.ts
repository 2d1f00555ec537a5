import { validateResource } from '@medplum/core';
import { loadPublishedDefinitions } from './test/conformance/published';
import { referralToBarsMessage, barsCancelMessage } from './src/mappings/referral-to-bars';
import { nhsView } from './src/mappings/allow-lists';
import { NHS_BARS_OPTIONS } from './test/helpers/nhs';
import { clinicalReferral } from './test/helpers/referrals';
(async () => {
  const defs = await loadPublishedDefinitions();
  console.log([...defs.profiles.keys()]);
  const b = referralToBarsMessage(nhsView(clinicalReferral()), NHS_BARS_OPTIONS);
  const check = (r: any, url: string) => { try { const issues = validateResource(r, { profile: defs.profiles.get(url) }); console.log(url, issues.filter(i=>i.severity==='error').map(i=>i.details?.text+' @'+i.expression)); } catch (e: any) { console.log(url, 'THROW', e.outcome?.issue?.map((i: any)=>i.details?.text+' @'+i.expression) ?? e.message); } };
  check(b, 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage');
  for (const e of b.entry!) { const r: any = e.resource; const p = r.meta?.profile?.[0]; if (defs.profiles.has(p)) check(r, p); else console.log('no profile', r.resourceType, p); }
})();
(async () => {
  const defs = await loadPublishedDefinitions();
  const v = (r: any, url: string) => { try { return validateResource(r, { profile: defs.profiles.get(url) }).filter(i=>i.severity==='error').map(i=>i.details?.text+' @'+i.expression); } catch (e: any) { return e.outcome?.issue?.map((i: any)=>i.details?.text+' @'+i.expression) ?? [e.message]; } };
  const b: any = referralToBarsMessage(nhsView(clinicalReferral()), NHS_BARS_OPTIONS);
  const { timestamp, ...noTs } = b;
  console.log('noTs', v(noTs, 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage'));
  const sr = b.entry.find((e: any) => e.resource.resourceType==='ServiceRequest').resource;
  console.log('sr2cat', v({ ...sr, intent: 'order', category: [sr.category[0], sr.category[0]], authoredOn: undefined }, 'https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral'));
  const h = b.entry[0].resource;
  console.log('hdr', v({ ...h, reason: { coding: [{ system: 'http://x', code: 'new' }] }, destination: undefined }, 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request'));
  console.log('hdr-noreason', v({ ...h, reason: undefined }, 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request'));
  const { barsAcknowledgement } = await import('./src/mappings/bars-response');
  const ack: any = barsAcknowledgement({ messageId: 'b2a0a1c4-6f1e-4c51-a1d8-2f7f8f7e1c11', sourceEndpoint: 'https://trust.test/fhir' } as any, 'https://iasu.example/fhir', '2026-11-23T10:00:00Z');
  console.log('ack', v(ack.entry[0].resource, 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response'));
  const p = b.entry.find((e: any) => e.resource.resourceType==='Patient').resource;
  console.log('pat', JSON.stringify(p.identifier), v({ ...p, identifier: [{ ...p.identifier[0], extension: [{ url: p.identifier[0].extension[0].url, valueString: 'x' }] }] }, 'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient'));
})();
