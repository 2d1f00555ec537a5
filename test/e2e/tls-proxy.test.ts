import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { startFlakyTlsProxy, type FlakyTlsProxy } from '../../simulators/tls-proxy';

/** The chaos run's TLS front: good connections reach the simulator, bad ones fail node's own checks. */
function get(url: string, ca: string): Promise<{ status?: number; code?: string }> {
  return new Promise((resolve) => {
    const req = request(url, { ca, agent: false, headers: { authorization: 'Bearer k' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code }));
    req.end();
  });
}

describe('flaky TLS proxy', () => {
  let dir: string;
  let sim: CharitySimulator;
  let proxy: FlakyTlsProxy;
  let other: FlakyTlsProxy;
  let ca: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iasu-tls-proxy-'));
    sim = await startCharitySimulator({ apiKey: 'k' });
    proxy = await startFlakyTlsProxy({ target: sim.url, dir, badCertRate: 0, random: () => 0 });
    // One trust store for two proxies, as the chaos run gives the bridges.
    other = await startFlakyTlsProxy({ target: sim.url, dir, badCertRate: 0, random: () => 0 });
    ca = readFileSync(other.caFile, 'utf8') + readFileSync(proxy.caFile, 'utf8');
  });
  afterAll(async () => {
    await proxy.stop();
    await other.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes requests through with the trusted certificate', async () => {
    expect(await get(`${proxy.url}/v1/referrals/CH-000001`, ca)).toEqual({ status: 404 });
    expect(await get(`${other.url}/v1/referrals/CH-000001`, ca)).toEqual({ status: 404 });
  });

  it('offers an untrusted and a wrong-host certificate in turn when told to', async () => {
    proxy.setBadCertRate(1);
    const codes = [(await get(`${proxy.url}/v1/referrals/x`, ca)).code, (await get(`${proxy.url}/v1/referrals/x`, ca)).code];
    proxy.setBadCertRate(0);
    expect(codes).toEqual(['DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID']);
    expect(proxy.stats()).toMatchObject({ badCerts: 2 });
    expect(await get(`${proxy.url}/v1/referrals/x`, ca)).toEqual({ status: 404 });
  });
});
