import { writeBackToXml } from '../../src/mappings/referral-to-write-back';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';

/** The simulated RMS takes status back as police-feed.md §3 writes it, and nothing else, as a real RMS would. */
describe('police feed simulator: referral outcomes', () => {
  let police: PoliceSimulator;
  beforeAll(async () => {
    police = await startPoliceFeedSimulator({ records: [], token: 'feed' });
  });
  afterAll(() => police.stop());

  const post = (body: string, key: string) =>
    fetch(`${police.url}/referral-outcomes`, {
      method: 'POST',
      headers: { authorization: 'Bearer feed', 'content-type': 'application/xml', 'idempotency-key': key },
      body,
    });
  const outcome = {
    crimeReference: 'CC-26-0001234',
    referralId: '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22',
    partner: 'NHS' as const,
    status: 'SENT' as const,
    statusAt: '2026-11-22T11:02:00Z',
    seq: 2,
  };

  test("the bridge's ReferralOutcome is stored", async () => {
    expect((await post(writeBackToXml(outcome), 'k-1')).status).toBe(201);
  });

  test('another root element, or the right one outside the feed namespace, is refused', async () => {
    const ours = writeBackToXml(outcome);
    const renamed = ours.replace(/ReferralOutcome/g, 'WriteBack');
    const refused = await post(renamed, 'k-2');
    expect(refused.status).toBe(400);
    expect(await refused.text()).toBe('root element must be ReferralOutcome');
    const elsewhere = await post(ours.replace('urn:iasu:police-feed:1', 'urn:example:other'), 'k-3');
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.text()).toBe('ReferralOutcome must be in urn:iasu:police-feed:1');
  });
});
