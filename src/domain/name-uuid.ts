import { createHash } from 'node:crypto';

/**
 * RFC 9562 version 5 (name-based, SHA-1) UUIDs, the same values as `uuid`'s v5. Every referral,
 * correlation and FHIR fullUrl id is one, several per referral: the package re-parses the
 * namespace and re-encodes the name on every call, which cost more than the hash.
 */
const namespaces = new Map<string, Buffer>();

function namespaceBytes(namespace: string): Buffer {
  let bytes = namespaces.get(namespace);
  if (!bytes) {
    const hex = namespace.replace(/-/g, '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError('namespace must be a UUID');
    bytes = Buffer.from(hex, 'hex');
    namespaces.set(namespace, bytes);
  }
  return bytes;
}

export function nameUuid(name: string, namespace: string): string {
  const hash = createHash('sha1').update(namespaceBytes(namespace)).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
