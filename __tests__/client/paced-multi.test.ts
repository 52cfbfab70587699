/**
 * A `send.multi` costs the relay one request token plus one per 10 recipients beyond the first
 * (docs/protocol.md 10.5): the client's pacer charges it the same, so a group of 100 never makes
 * the relay refuse with `rate_limited`. A cost above the whole burst is charged the burst.
 */
import type { ClientMessage } from '../../lib/net/messages';
import { PacedOut, multiCost } from '../../lib/client/paced-out';
import { Pacer } from '../../lib/client/pacer';

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

const multi = (rid: string, n: number): ClientMessage => ({
  t: 'send.multi',
  rid,
  id: '0'.repeat(32),
  to: Array.from({ length: n }, (_, i) => ({ user: `u${i}` })),
  env: 'AA==',
});

it('charges 1 + one per 10 recipients beyond the first', () => {
  expect([1, 10, 11, 100].map((n) => multiCost(multi('g', n)))).toEqual([1, 1, 2, 10]);
  expect(multiCost({ t: 'ping', rid: 'p' })).toBe(1);
});

it('a send.multi to 100 waits for its 10 tokens; what follows waits behind it, in order', () => {
  const pacer = new Pacer(() => Date.now());
  // Burst 15 and 12.5/s announced: the client uses 12 and 10 per second.
  pacer.configure({ requestsPerSecond: 12.5, requestBurst: 15 });
  const got: string[] = [];
  const paced = new PacedOut(pacer, () => ({ send: (m) => got.push('rid' in m ? m.rid : m.t) }));
  paced.out(multi('g1', 100)); // 10 of 12
  paced.out(multi('g2', 100)); // needs 10, has 2: waits
  paced.out({ t: 'ping', rid: 'p' });
  expect(got).toEqual(['g1']);
  jest.advanceTimersByTime(500); // 2 + 5 = 7
  expect(got).toEqual(['g1']);
  jest.advanceTimersByTime(400); // 11: g2 goes, 1 left, the ping goes
  expect(got).toEqual(['g1', 'g2', 'p']);
  paced.close();
});

it('a cost above the burst is charged the burst, so it still goes', () => {
  const pacer = new Pacer(() => Date.now());
  pacer.configure({ requestsPerSecond: 5, requestBurst: 5 }); // 4 and 4/s
  const got: string[] = [];
  const paced = new PacedOut(pacer, () => ({ send: (m) => got.push('rid' in m ? m.rid : m.t) }));
  paced.out(multi('g', 100));
  expect(got).toEqual(['g']);
  paced.close();
});
