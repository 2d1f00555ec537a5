import type { Device } from '@medplum/fhirtypes';
import { BARS_SOURCE_SOFTWARE } from '../../mappings/referral-to-bars';

/** Names this deployment's instance in NHSD-Requesting-Software (there is no NHS-assigned system for it). */
export const BRIDGE_INSTANCE_SYSTEM = 'https://iasu.example/Id/bridge-instance';

/**
 * The `NHSD-Requesting-Software` Device: "an identifier for the instance, the product name and
 * its version" (BaRS Core 1.2.2, Security and Authorisation). The instance is the client id the
 * trust's token endpoint registered, else the police force the deployment serves.
 */
export function requestingSoftware(instance: string, version: string): Device {
  return {
    resourceType: 'Device',
    identifier: [{ system: BRIDGE_INSTANCE_SYSTEM, value: instance }],
    deviceName: [{ name: BARS_SOURCE_SOFTWARE, type: 'manufacturer-name' }],
    version: [{ value: version }],
  };
}
