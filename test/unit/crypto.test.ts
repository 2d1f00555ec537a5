import { createCipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { nhsView } from '../../src/mappings/allow-lists';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { DataCipher, MAX_SEALED_PLAIN_BYTES, sealedKeyId } from '../../src/store/crypto';
import { ENC2_DICTIONARY } from '../../src/store/seal-dictionary';
import { clinicalReferral } from '../helpers/referrals';

const key = Buffer.alloc(32, 7);
const cipher = new DataCipher([{ id: 'old', key }]);

/** Sealed by the uncompressed format under key `old`, before enc2 existed. */
const ENC1_VALUE = 'enc1.old.SQRM7_eF1w7YXVBN.n7A-nrtocQWg9tYXfNGVbw.kqO2oPSxA01pZnqD5NyDlyVvazZVCXOSNICjJwQ-Hg';

/** An enc2 value with these plaintext bytes, sealed as the format says but by hand, so the bytes can be anything. */
function enc2Of(deflated: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(deflated), c.final()]);
  return ['enc2', 'old', iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

describe('DataCipher', () => {
  it('seals as enc2 and opens it again', () => {
    const value = { surname: 'Plantedname', lines: ['1 Example Street'], n: 1, text: 'é — ✓' };
    const sealed = cipher.sealJson(value, 'r-1');
    expect(sealed).toMatch(/^enc2\.old\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(cipher.openJson(sealed, 'r-1')).toEqual(value);
    expect(cipher.decrypt(cipher.encrypt('', 'r-1'), 'r-1')).toBe('');
  });

  it('still opens enc1 values', () => {
    expect(cipher.openJson(ENC1_VALUE, 'r-1')).toEqual({ surname: 'Plantedname', n: 1 });
    expect(() => cipher.openJson(ENC1_VALUE, 'r-2')).toThrow();
  });

  it('opens a value sealed under an older key after rotation', () => {
    const sealed = cipher.encrypt('hello', 'a');
    const rotated = new DataCipher([
      { id: 'new', key: randomBytes(32) },
      { id: 'old', key },
    ]);
    expect(rotated.decrypt(sealed, 'a')).toBe('hello');
    expect(rotated.decrypt(ENC1_VALUE, 'r-1')).toContain('Plantedname');
    expect(rotated.encrypt('hello', 'a')).toMatch(/^enc2\.new\./);
  });

  it('refuses the wrong associated data, the wrong key, an unknown key id and tampered ciphertext', () => {
    const sealed = cipher.encrypt('Plantedname', 'r-1:outbound');
    expect(() => cipher.decrypt(sealed, 'r-1')).toThrow();
    expect(() => new DataCipher([{ id: 'old', key: randomBytes(32) }]).decrypt(sealed, 'r-1:outbound')).toThrow();
    expect(() => new DataCipher([{ id: 'other', key }]).decrypt(sealed, 'r-1:outbound')).toThrow('no data key with id old');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body.writeUInt8(body.readUInt8(0) ^ 1, 0);
    parts[4] = body.toString('base64url');
    expect(() => cipher.decrypt(parts.join('.'), 'r-1:outbound')).toThrow();
    expect(() => cipher.decrypt('enc9.old.a.b.c', 'r-1')).toThrow('not an encrypted value');
  });

  it('refuses a decompression bomb with a clear error', () => {
    const bomb = enc2Of(deflateRawSync(Buffer.alloc(MAX_SEALED_PLAIN_BYTES + 1)), 'r-1');
    expect(bomb.length).toBeLessThan(20_000);
    expect(() => cipher.decrypt(bomb, 'r-1')).toThrow(`sealed value opens to more than ${MAX_SEALED_PLAIN_BYTES} bytes: refused`);
    expect(() => cipher.decrypt(enc2Of(Buffer.from('not deflate at all'), 'r-1'), 'r-1')).toThrow(/^sealed value does not inflate/);
  });

  it('seals uncompressed as enc1 when asked, and opens it the same', () => {
    const value = { surname: 'Plantedname', lines: ['1 Example Street', '1 Example Street'] };
    const sealed = cipher.sealJson(value, 'r-1', { compress: false });
    expect(sealed).toMatch(/^enc1\.old\./);
    expect(cipher.openJson(sealed, 'r-1')).toEqual(value);
    expect(cipher.sealJson(value, 'r-1', { compress: true })).toMatch(/^enc2\./);
  });

  it('opens enc2 values deflated with the full 32 KiB window, as they were sealed before', () => {
    const plain = JSON.stringify({ resourceType: 'Bundle', entry: Array.from({ length: 40 }, (_, i) => ({ fullUrl: `urn:uuid:${i}` })) });
    const wide = enc2Of(deflateRawSync(Buffer.from(plain), { level: 3, dictionary: ENC2_DICTIONARY }), 'r-1');
    expect(cipher.decrypt(wide, 'r-1')).toBe(plain);
  });

  it('never repeats an IV, across the random blocks they are drawn from', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 2500; i++) ivs.add(cipher.encrypt('x', 'a', { compress: i % 2 === 0 }).split('.')[2]!);
    expect(ivs.size).toBe(2500);
    for (const iv of ivs) expect(Buffer.from(iv, 'base64url')).toHaveLength(12);
  });

  it('seals to bytes a quarter smaller than the text form, and opens both forms from bytes', () => {
    const value = { surname: 'Plantedname', entries: Array.from({ length: 30 }, (_, i) => ({ code: `c-${i}`, display: `Display ${i}` })) };
    const bytes = cipher.sealJsonBytes(value, 'r-1');
    expect(bytes[0]).toBe(0x02);
    expect(bytes.includes('Plantedname')).toBe(false);
    expect(cipher.openJsonBytes(bytes, 'r-1')).toEqual(value);
    expect(bytes.length).toBeLessThan(cipher.sealJson(value, 'r-1').length * 0.8);
    expect(cipher.sealJsonBytes(value, 'r-1', { compress: false })[0]).toBe(0x01);
    expect(cipher.openJsonBytes(cipher.sealJsonBytes(value, 'r-1', { compress: false }), 'r-1')).toEqual(value);
    // Values written as text before the binary form.
    expect(cipher.openJsonBytes(Buffer.from(cipher.sealJson(value, 'r-1')), 'r-1')).toEqual(value);
    expect(cipher.openJsonBytes(Buffer.from(ENC1_VALUE), 'r-1')).toEqual({ surname: 'Plantedname', n: 1 });
  });

  it('refuses bytes with the wrong associated data, a tampered byte, an unknown key id or too few bytes', () => {
    const bytes = cipher.sealBytes('Plantedname', 'r-1:outbound');
    expect(() => cipher.openBytes(bytes, 'r-1')).toThrow();
    for (const at of [2, 2 + 3, 2 + 3 + 12, bytes.length - 1]) {
      const tampered = Buffer.from(bytes);
      tampered[at] = tampered[at]! ^ 1;
      expect(() => cipher.openBytes(tampered, 'r-1:outbound')).toThrow();
    }
    expect(() => new DataCipher([{ id: 'other', key }]).openBytes(bytes, 'r-1:outbound')).toThrow('no data key with id old');
    expect(() => cipher.openBytes(bytes.subarray(0, 20), 'r-1:outbound')).toThrow('not an encrypted value');
    expect(() => cipher.openBytes(Buffer.from('plain text'), 'r-1')).toThrow('not an encrypted value');
    expect(sealedKeyId(bytes)).toBe('old');
    expect(sealedKeyId(cipher.encrypt('x', 'a'))).toBe('old');
  });

  it('seals a value too large to inflate safely uncompressed, so it still opens', () => {
    const large = 'x'.repeat(MAX_SEALED_PLAIN_BYTES + 1);
    const sealed = cipher.encrypt(large, 'q');
    expect(sealed).toMatch(/^enc1\./);
    expect(cipher.decrypt(sealed, 'q')).toBe(large);
  });

  it('stores a realistic FHIR Bundle in well under half its JSON', () => {
    const bundle = referralToTransactionBundle(nhsView(clinicalReferral()), {
      trustOdsCode: 'R0A',
      trustName: 'Another NHS Foundation Trust',
      policeOrgName: 'Another Police',
      policeOrgCode: 'ANOTHER',
      referralIdSystem: 'https://bridge.another.example/Id/referral',
      crimeReferenceSystem: 'https://bridge.another.example/Id/crime-reference',
    });
    const json = JSON.stringify(bundle);
    const sealed = cipher.sealJson(bundle, 'r-1:outbound');
    expect(sealed.length).toBeLessThan(0.5 * json.length);
    expect(cipher.openJson(sealed, 'r-1:outbound')).toEqual(bundle);
  });
});
