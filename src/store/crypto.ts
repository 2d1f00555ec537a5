import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { DataKey } from '../config';
import { ENC2_DICTIONARY } from './seal-dictionary';

/** Far above any payload the bridge seals (a police record, a FHIR Bundle): an enc2 value opening to more is refused, not inflated. */
export const MAX_SEALED_PLAIN_BYTES = 4 * 1024 * 1024;

// Level 3 keeps most of level 6's size at level 1's CPU on these payloads (bench/seal-costs.ts).
const DEFLATE = { level: 3, dictionary: ENC2_DICTIONARY };

/**
 * AES-256-GCM for personal data at rest in Redis. The key id travels with the ciphertext so
 * keys can rotate: the first key encrypts, any configured key decrypts.
 * Format: `enc2.{keyId}.{iv}.{tag}.{ciphertext}` (base64url parts), the plaintext deflated
 * (raw, with the ENC2_DICTIONARY preset) before encryption. `enc1` values, the same without
 * compression, still open (and seal what is too large to inflate safely).
 */
export class DataCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly current: DataKey;

  constructor(keys: DataKey[]) {
    if (keys.length === 0) throw new Error('at least one data key is required');
    for (const k of keys) if (k.key.length !== 32) throw new Error(`data key ${k.id} must be 32 bytes`);
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.current = keys[0]!;
  }

  encrypt(plain: string, associatedData = ''): string {
    const bytes = Buffer.from(plain, 'utf8');
    // Beyond the bound an enc2 value would not open again; so rare a size is sealed as it is.
    const version = bytes.length > MAX_SEALED_PLAIN_BYTES ? 'enc1' : 'enc2';
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(version === 'enc1' ? bytes : deflateRawSync(bytes, DEFLATE)), cipher.final()]);
    return [version, this.current.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(
      '.',
    );
  }

  decrypt(sealed: string, associatedData = ''): string {
    const [version, keyId, iv, tag, body] = sealed.split('.');
    if ((version !== 'enc1' && version !== 'enc2') || !keyId || !iv || !tag || body === undefined)
      throw new Error('not an encrypted value');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`no data key with id ${keyId}`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
    return (version === 'enc1' ? plain : inflate(plain)).toString('utf8');
  }

  sealJson(value: unknown, associatedData = ''): string {
    return this.encrypt(JSON.stringify(value), associatedData);
  }

  openJson<T>(sealed: string, associatedData = ''): T {
    return JSON.parse(this.decrypt(sealed, associatedData)) as T;
  }
}

/** Only ever run on authenticated bytes, but bounded all the same: a few bytes can inflate to gigabytes. */
function inflate(deflated: Buffer): Buffer {
  try {
    return inflateRawSync(deflated, { dictionary: ENC2_DICTIONARY, maxOutputLength: MAX_SEALED_PLAIN_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`sealed value opens to more than ${MAX_SEALED_PLAIN_BYTES} bytes: refused`);
    }
    throw new Error(`sealed value does not inflate: ${(err as Error).message}`);
  }
}

export function generateDataKeySpec(id = 'k1'): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
