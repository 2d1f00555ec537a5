import { createHmac } from 'node:crypto';
import {
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_SECONDS,
  signCharityPayload,
  verifyCharitySignature,
} from '../../src/adapters/charity/webhook-signature';

/**
 * charity-api.md "Webhook to the bridge": `X-Charity-Signature: t={unix seconds},v1={hex
 * HMAC-SHA256(secret, "{t}.{raw body}")}`, over the raw bytes, refused more than 300 s from now.
 * The expected MACs are computed here with node:crypto (and one with openssl), never with the
 * implementation's own signer, so a shared mistake cannot hide.
 */
const SECRET = 'whsec_current_5b1d';
const OLD_SECRET = 'whsec_previous_9a2c';
const NOW = 1_764_150_000; // 2025-11-26T09:40:00Z
const BODY = Buffer.from(
  '{"eventId":"evt_01J","type":"referral.status_changed","occurredAt":"2026-11-22T11:00:00Z","referral":{"id":"CH-000123","externalReference":"3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22","status":"ALLOCATED","statusReason":null}}',
  'utf8',
);

/** The spec's formula, written out independently of src. */
function hmacHex(secret: string, t: number | string, body: Buffer): string {
  return createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${t}.`, 'utf8'), body]))
    .digest('hex');
}
const header = (t: number | string, ...v1: string[]) => [`t=${t}`, ...v1.map((s) => `v1=${s}`)].join(',');
const verify = (h: string | undefined, body: Buffer = BODY, secrets: readonly string[] = [SECRET], now = NOW) =>
  verifyCharitySignature(h, body, secrets, now);

describe('charity webhook signature: known vectors', () => {
  it('matches a vector computed outside node (openssl dgst -sha256 -hmac)', () => {
    // printf '%s' '1764150000.{"eventId":"evt_01J","type":"referral.status_changed"}' | openssl dgst -sha256 -hmac 'whsec_test_vector'
    const body = Buffer.from('{"eventId":"evt_01J","type":"referral.status_changed"}', 'utf8');
    const mac = 'fb1b942452cf907d1014e4c28147d1f24f2b853d4565dac3de4aa5421c33b0b5';
    expect(hmacHex('whsec_test_vector', NOW, body)).toBe(mac); // the test's own helper agrees with openssl
    expect(verifyCharitySignature(`t=${NOW},v1=${mac}`, body, ['whsec_test_vector'], NOW)).toEqual({ ok: true });
    expect(signCharityPayload('whsec_test_vector', body, NOW)).toBe(`t=${NOW},v1=${mac}`);
  });

  it('signCharityPayload produces exactly t={t},v1={hex HMAC of "{t}.{body}"}, for a string or a Buffer body', () => {
    const expected = `t=${NOW},v1=${hmacHex(SECRET, NOW, BODY)}`;
    expect(signCharityPayload(SECRET, BODY, NOW)).toBe(expected);
    expect(signCharityPayload(SECRET, BODY.toString('utf8'), NOW)).toBe(expected);
  });

  it('uses the header name of the spec, lower-cased as node gives headers, and a 300 s tolerance', () => {
    expect(SIGNATURE_HEADER).toBe('x-charity-signature');
    expect(SIGNATURE_TOLERANCE_SECONDS).toBe(300);
  });
});

describe('verifyCharitySignature', () => {
  const good = hmacHex(SECRET, NOW, BODY);

  it('accepts a valid signature', () => {
    expect(verify(header(NOW, good))).toEqual({ ok: true });
  });

  it('accepts upper-case hex and spaces after the commas', () => {
    expect(verify(`t=${NOW}, v1=${good.toUpperCase()}`)).toEqual({ ok: true });
  });

  it.each([undefined, ''])('refuses a missing header (%p) as missing', (h) => {
    expect(verify(h)).toEqual({ ok: false, reason: 'missing' });
  });

  describe('malformed headers', () => {
    it.each([
      ['no t', `v1=${good}`],
      ['no v1', `t=${NOW}`],
      ['no v1, only another scheme', `t=${NOW},v0=${good}`],
      ['non-hex v1', `t=${NOW},v1=${'g'.repeat(64)}`],
      ['v1 one character short', `t=${NOW},v1=${good.slice(1)}`],
      ['v1 one character long', `t=${NOW},v1=${good}0`],
      ['v1 empty', `t=${NOW},v1=`],
      ['v1 base64 instead of hex', `t=${NOW},v1=${Buffer.from(good, 'hex').toString('base64')}`],
      ['t not digits', `t=abc,v1=${good}`],
      ['t negative', `t=-${NOW},v1=${good}`],
      ['t with a fraction', `t=${NOW}.5,v1=${good}`],
      ['t in milliseconds-and-more (13+ digits)', `t=${NOW}000,v1=${good}`],
      ['t empty', `t=,v1=${good}`],
      ['duplicate t', `t=${NOW},t=${NOW},v1=${good}`],
      ['duplicate t, the second different', `t=${NOW},v1=${good},t=${NOW - 1}`],
      ['a part without "="', `t=${NOW},v1=${good},garbage`],
      ['garbage', 'garbage'],
      ['only commas', ',,,'],
      ['semicolon separators', `t=${NOW};v1=${good}`],
    ])('%s → malformed', (_what, h) => {
      expect(verify(h)).toEqual({ ok: false, reason: 'malformed' });
    });

    it('a good v1 next to a malformed v1 is still malformed (the header as a whole is refused)', () => {
      expect(verify(header(NOW, good, 'xyz'))).toEqual({ ok: false, reason: 'malformed' });
    });
  });

  describe('timestamp tolerance (300 s either side of now)', () => {
    it.each([
      ['exactly 300 s in the past', NOW - 300],
      ['exactly 300 s in the future', NOW + 300],
    ])('%s → ok', (_what, t) => {
      expect(verify(header(t, hmacHex(SECRET, t, BODY)))).toEqual({ ok: true });
    });

    it.each([
      ['301 s in the past', NOW - 301],
      ['301 s in the future', NOW + 301],
      ['a day old', NOW - 86_400],
      ['zero', 0],
    ])('%s → stale, even when correctly signed', (_what, t) => {
      expect(verify(header(t, hmacHex(SECRET, t, BODY)))).toEqual({ ok: false, reason: 'stale' });
    });

    it('the timestamp is covered by the MAC: the same v1 with t moved by 1 s is a mismatch', () => {
      expect(verify(header(NOW + 1, good))).toEqual({ ok: false, reason: 'mismatch' });
    });
  });

  describe('mismatches', () => {
    it('one byte of the body changed → mismatch', () => {
      const tampered = Buffer.from(BODY);
      const at = tampered.indexOf('ALLOCATED');
      tampered[at] = 'B'.charCodeAt(0); // "BLLOCATED"
      expect(tampered.equals(BODY)).toBe(false);
      expect(verify(header(NOW, good), tampered)).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('a trailing newline added to the body → mismatch', () => {
      expect(verify(header(NOW, good), Buffer.concat([BODY, Buffer.from('\n')]))).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('signed with another secret → mismatch', () => {
      expect(verify(header(NOW, hmacHex('whsec_attacker', NOW, BODY)))).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('no secrets configured → mismatch, never ok', () => {
      expect(verify(header(NOW, good), BODY, [])).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('the MAC of the body alone (without "{t}.") → mismatch', () => {
      const bodyOnly = createHmac('sha256', SECRET).update(BODY).digest('hex');
      expect(verify(header(NOW, bodyOnly))).toEqual({ ok: false, reason: 'mismatch' });
    });
  });

  describe('secret rotation and several signatures', () => {
    it.each([
      ['the new secret', SECRET],
      ['the old secret', OLD_SECRET],
    ])('with two secrets configured, a signature made with %s is ok', (_what, used) => {
      expect(verify(header(NOW, hmacHex(used, NOW, BODY)), BODY, [SECRET, OLD_SECRET])).toEqual({ ok: true });
      expect(verify(header(NOW, hmacHex(used, NOW, BODY)), BODY, [OLD_SECRET, SECRET])).toEqual({ ok: true });
    });

    it('a secret dropped after rotation no longer verifies', () => {
      expect(verify(header(NOW, hmacHex(OLD_SECRET, NOW, BODY)), BODY, [SECRET])).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('two v1 values, the first wrong and the second right → ok', () => {
      const wrong = hmacHex('whsec_other', NOW, BODY);
      expect(verify(header(NOW, wrong, good))).toEqual({ ok: true });
    });

    it('two v1 values, both wrong → mismatch', () => {
      expect(verify(header(NOW, hmacHex('a', NOW, BODY), hmacHex('b', NOW, BODY)))).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('an unknown extra scheme (v0=…, v2=…) is ignored, wherever it stands', () => {
      expect(verify(`t=${NOW},v0=deadbeef,v1=${good}`)).toEqual({ ok: true });
      expect(verify(`v2=not-hex-at-all,t=${NOW},v1=${good}`)).toEqual({ ok: true });
      expect(verify(`t=${NOW},v1=${good},v0=${'0'.repeat(64)}`)).toEqual({ ok: true });
    });

    it('a right MAC under an unknown scheme does not count', () => {
      expect(verify(`t=${NOW},v0=${good},v1=${hmacHex('whsec_other', NOW, BODY)}`)).toEqual({ ok: false, reason: 'mismatch' });
    });
  });

  describe('the body is verified as raw bytes', () => {
    // Non-ASCII UTF-8, unusual spacing and key order, escapes JSON.stringify would not produce:
    // re-serialising the parsed body would give other bytes and another MAC.
    const rawText =
      '{ "eventId" : "evt_01J\\u00e9",\n\t"type":"referral.status_changed",  "note": "Zoë — café ✓ 🚲",\r\n "referral": {"status":"ALLOCATED"} }';
    const raw = Buffer.from(rawText, 'utf8');
    const mac = hmacHex(SECRET, NOW, raw);

    it('the fixture really differs from its re-serialisation and holds multi-byte characters', () => {
      const reserialised = Buffer.from(JSON.stringify(JSON.parse(rawText)), 'utf8');
      expect(reserialised.equals(raw)).toBe(false);
      expect(raw.length).toBeGreaterThan(rawText.length); // multi-byte UTF-8
    });

    it('verifies over the exact bytes received', () => {
      expect(verify(header(NOW, mac), raw)).toEqual({ ok: true });
    });

    it('does not verify the re-serialised JSON with the MAC of the raw bytes', () => {
      const reserialised = Buffer.from(JSON.stringify(JSON.parse(rawText)), 'utf8');
      expect(verify(header(NOW, mac), reserialised)).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('does not verify the same text decoded as latin1 (bytes, not characters, are signed)', () => {
      expect(verify(header(NOW, mac), Buffer.from(rawText, 'latin1'))).toEqual({ ok: false, reason: 'mismatch' });
    });

    it('verifies a body that is not valid UTF-8 at all', () => {
      const binary = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x7d]);
      expect(verify(header(NOW, hmacHex(SECRET, NOW, binary)), binary)).toEqual({ ok: true });
    });

    it('signCharityPayload of the same bytes agrees (the simulator signs what it sends)', () => {
      expect(signCharityPayload(SECRET, raw, NOW)).toBe(header(NOW, mac));
      expect(signCharityPayload(SECRET, rawText, NOW)).toBe(header(NOW, mac));
    });
  });

  it('uses the current clock when no time is given', () => {
    const t = Math.floor(Date.now() / 1000);
    expect(verifyCharitySignature(header(t, hmacHex(SECRET, t, BODY)), BODY, [SECRET])).toEqual({ ok: true });
    expect(verifyCharitySignature(header(t - 3600, hmacHex(SECRET, t - 3600, BODY)), BODY, [SECRET])).toEqual({
      ok: false,
      reason: 'stale',
    });
  });
});
