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

type Version = 'enc1' | 'enc2';

/** One sealed value's parts, whichever way it is written down. */
interface Sealed {
  version: Version;
  keyId: string;
  iv: Buffer;
  tag: Buffer;
  body: Buffer;
}

/** The first byte of the binary forms; a text form starts with `e`. */
const BINARY_VERSION: Record<Version, number> = { enc1: 0x01, enc2: 0x02 };
const VERSION_OF_BYTE = new Map(Object.entries(BINARY_VERSION).map(([version, byte]) => [byte, version as Version]));

/**
 * AES-256-GCM for personal data at rest in Redis. The key id travels with the ciphertext so
 * keys can rotate: the first key encrypts, any configured key decrypts.
 * Text form: `enc2.{keyId}.{iv}.{tag}.{ciphertext}` (base64url parts), the plaintext deflated
 * (raw, with the ENC2_DICTIONARY preset) before encryption. `enc1` values, the same without
 * compression, still open; they seal what is too large to inflate safely and what is read once
 * and deleted soon after (SealOptions.compress).
 * Binary form (`sealBytes`), for values Redis keeps as strings of their own: one version byte
 * (0x01 enc1, 0x02 enc2), the key id's length and bytes, the 12-byte IV, the 16-byte tag, the
 * ciphertext; a quarter smaller than base64. `openBytes` opens both forms.
 */
export class DataCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly current: DataKey;
  private readonly currentId: Buffer;
  private readonly ivs = new IvSource();

  constructor(keys: DataKey[]) {
    if (keys.length === 0) throw new Error('at least one data key is required');
    for (const k of keys) if (k.key.length !== 32) throw new Error(`data key ${k.id} must be 32 bytes`);
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.current = keys[0]!;
    this.currentId = Buffer.from(this.current.id, 'utf8');
    if (this.currentId.length > 255) throw new Error('a data key id must be at most 255 bytes');
  }

  encrypt(plain: string, associatedData = '', options: SealOptions = {}): string {
    const { version, keyId, iv, tag, body } = this.seal(plain, associatedData, options);
    return [version, keyId, iv.toString('base64url'), tag.toString('base64url'), body.toString('base64url')].join('.');
  }

  decrypt(sealed: string, associatedData = ''): string {
    const [version, keyId, iv, tag, body] = sealed.split('.');
    if ((version !== 'enc1' && version !== 'enc2') || !keyId || !iv || !tag || body === undefined)
      throw new Error('not an encrypted value');
    return this.open(
      { version, keyId, iv: Buffer.from(iv, 'base64url'), tag: Buffer.from(tag, 'base64url'), body: Buffer.from(body, 'base64url') },
      associatedData,
    );
  }

  sealBytes(plain: string, associatedData = '', options: SealOptions = {}): Buffer {
    const { version, iv, tag, body } = this.seal(plain, associatedData, options);
    const id = this.currentId;
    return Buffer.concat([Buffer.from([BINARY_VERSION[version], id.length]), id, iv, tag, body]);
  }

  /** A binary value, or a text one read as bytes (values sealed before the binary form). */
  openBytes(sealed: Buffer, associatedData = ''): string {
    const version = VERSION_OF_BYTE.get(sealed[0] ?? -1);
    if (!version) return this.decrypt(sealed.toString('utf8'), associatedData);
    const idEnd = 2 + (sealed[1] ?? 0);
    if (sealed.length < idEnd + 28) throw new Error('not an encrypted value');
    return this.open(
      {
        version,
        keyId: sealed.toString('utf8', 2, idEnd),
        iv: sealed.subarray(idEnd, idEnd + 12),
        tag: sealed.subarray(idEnd + 12, idEnd + 28),
        body: sealed.subarray(idEnd + 28),
      },
      associatedData,
    );
  }

  sealJson(value: unknown, associatedData = '', options: SealOptions = {}): string {
    return this.encrypt(JSON.stringify(value), associatedData, options);
  }

  openJson<T>(sealed: string, associatedData = ''): T {
    return JSON.parse(this.decrypt(sealed, associatedData)) as T;
  }

  sealJsonBytes(value: unknown, associatedData = '', options: SealOptions = {}): Buffer {
    return this.sealBytes(JSON.stringify(value), associatedData, options);
  }

  openJsonBytes<T>(sealed: Buffer, associatedData = ''): T {
    return JSON.parse(this.openBytes(sealed, associatedData)) as T;
  }

  private seal(plain: string, associatedData: string, options: SealOptions): Sealed {
    const bytes = Buffer.from(plain, 'utf8');
    // Beyond the bound an enc2 value would not open again; so rare a size is sealed as it is.
    const version = options.compress === false || bytes.length > MAX_SEALED_PLAIN_BYTES ? 'enc1' : 'enc2';
    const iv = this.ivs.next();
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(version === 'enc1' ? bytes : deflateRawSync(bytes, DEFLATE)), cipher.final()]);
    return { version, keyId: this.current.id, iv, tag: cipher.getAuthTag(), body };
  }

  private open({ version, keyId, iv, tag, body }: Sealed, associatedData: string): string {
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`no data key with id ${keyId}`);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(body), decipher.final()]);
    return (version === 'enc1' ? plain : inflate(plain)).toString('utf8');
  }
}

/** The key id a sealed value, in either form, names ('?' if it names none). */
export function sealedKeyId(sealed: string | Buffer): string {
  if (typeof sealed !== 'string' && VERSION_OF_BYTE.has(sealed[0] ?? -1)) return sealed.toString('utf8', 2, 2 + (sealed[1] ?? 0));
  return String(sealed).split('.')[1] ?? '?';
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
