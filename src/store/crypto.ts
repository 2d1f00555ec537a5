import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataKey } from '../config';

/**
 * AES-256-GCM for personal data at rest in Redis. The key id travels with the ciphertext so
 * keys can rotate: the first key encrypts, any configured key decrypts.
 * Format: `enc1.{keyId}.{iv}.{tag}.{ciphertext}` (base64url parts).
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
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['enc1', this.current.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(
      '.',
    );
  }

  decrypt(sealed: string, associatedData = ''): string {
    const [version, keyId, iv, tag, body] = sealed.split('.');
    if (version !== 'enc1' || !keyId || !iv || !tag || body === undefined) throw new Error('not an encrypted value');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`no data key with id ${keyId}`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  sealJson(value: unknown, associatedData = ''): string {
    return this.encrypt(JSON.stringify(value), associatedData);
  }

  openJson<T>(sealed: string, associatedData = ''): T {
    return JSON.parse(this.decrypt(sealed, associatedData)) as T;
  }
}

export function generateDataKeySpec(id = 'k1'): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
