import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { DataKey } from '../config';
import { ENC2_DICTIONARY } from './seal-dictionary';

/** Far above any payload the bridge seals (a police record, a FHIR Bundle): an enc2 value opening to more is refused, not inflated. */
export const MAX_SEALED_PLAIN_BYTES = 4 * 1024 * 1024;

// Level 3 keeps most of level 6's size at level 1's CPU on these payloads, and a 16 KiB window
// (still wider than the dictionary) halves the set-up each call pays (bench/seal-costs.ts).
// Inflating with zlib's default 32 KiB window reads any narrower one, so older values still open.
const DEFLATE = { level: 3, windowBits: 14, dictionary: ENC2_DICTIONARY };

export interface SealOptions {
  /**
   * Deflate before encrypting (the default). A value that lives only until the next step reads
   * and deletes it costs more CPU to compress than it saves memory: it is sealed as enc1.
   */
  compress?: boolean;
}

/** IVs drawn 12 bytes at a time from one random block: one call into the CSPRNG per 1,024 seals. */
class IvSource {
  private block = Buffer.alloc(0);
  private offset = 0;

  next(): Buffer {
    if (this.offset + 12 > this.block.length) {
      this.block = randomBytes(12 * 1024);
      this.offset = 0;
    }
    const iv = this.block.subarray(this.offset, this.offset + 12);
    this.offset += 12;
    return iv;
  }
}

/**
 * AES-256-GCM for personal data at rest in Redis. The key id travels with the ciphertext so
 * keys can rotate: the first key encrypts, any configured key decrypts.
 * Format: `enc2.{keyId}.{iv}.{tag}.{ciphertext}` (base64url parts), the plaintext deflated
 * (raw, with the ENC2_DICTIONARY preset) before encryption. `enc1` values, the same without
 * compression, still open; they seal what is too large to inflate safely and what is read once
 * and deleted soon after (SealOptions.compress).
 */
export class DataCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly current: DataKey;
  private readonly ivs = new IvSource();

  constructor(keys: DataKey[]) {
    if (keys.length === 0) throw new Error('at least one data key is required');
    for (const k of keys) if (k.key.length !== 32) throw new Error(`data key ${k.id} must be 32 bytes`);
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.current = keys[0]!;
  }

  encrypt(plain: string, associatedData = '', options: SealOptions = {}): string {
    const bytes = Buffer.from(plain, 'utf8');
    // Beyond the bound an enc2 value would not open again; so rare a size is sealed as it is.
    const version = options.compress === false || bytes.length > MAX_SEALED_PLAIN_BYTES ? 'enc1' : 'enc2';
    const iv = this.ivs.next();
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

  sealJson(value: unknown, associatedData = '', options: SealOptions = {}): string {
    return this.encrypt(JSON.stringify(value), associatedData, options);
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
