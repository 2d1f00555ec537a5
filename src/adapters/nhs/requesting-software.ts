import type { Device } from '@medplum/fhirtypes';

/** Names this deployment's instance in NHSD-Requesting-Software (there is no NHS-assigned system for it). */
export const BRIDGE_INSTANCE_SYSTEM = 'https://iasu.example/Id/bridge-instance';
export const BRIDGE_PRODUCT_NAME = 'iasu-bridge';

/**
 * The `NHSD-Requesting-Software` Device: "an identifier for the instance, the product name and
 * its version" (BaRS Core 1.2.2, Security and Authorisation). The instance is the client id the
 * trust's token endpoint registered, else the police force the deployment serves.
 */
export function requestingSoftware(instance: string, version: string): Device {
  return {
    resourceType: 'Device',
    identifier: [{ system: BRIDGE_INSTANCE_SYSTEM, value: instance }],
    deviceName: [{ name: BRIDGE_PRODUCT_NAME, type: 'manufacturer-name' }],
    version: [{ value: version }],
  };
}
