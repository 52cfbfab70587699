/** ReconnectDriver on its own (public API, fake timers): dials, waits, asks, reports, stops. */
import { ReconnectDriver } from '../../lib/client/reconnect-driver';
import type { ConnectionState } from '../../lib/client/types';

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

function driver() {
  const log: string[] = [];
  const states: ConnectionState[] = [];
  const d = new ReconnectDriver({
    policy: { baseMs: 100, maxMs: 1_000 },
    now: () => Date.now(),
    setState: (s) => states.push(s),
    dial: () => log.push('dial'),
    askTrust: () => log.push('ask'),
    report: (code) => log.push(`report ${code}`),
  });
  return { d, log, states };
}

it('dials at start, waits after a loss and dials again when the timer fires; close stops it', () => {
  const { d, log, states } = driver();
  d.step({ t: 'start' });
  expect(log).toEqual(['dial']);
  expect(d.attempt).toBe(1);
  d.step({ t: 'lost', code: 'connection_closed', message: 'gone', askTrust: false });
  expect(states.at(-1)?.state).toBe('offline');
  jest.advanceTimersByTime(1_000);
  expect(log).toEqual(['dial', 'dial']);
  d.step({ t: 'lost', code: 'connection_closed', message: 'gone', askTrust: false });
  d.close();
  expect(d.stopped).toBe(true);
  jest.advanceTimersByTime(10_000);
  expect(log).toEqual(['dial', 'dial']);
});

it('asks about an unknown key and reports a permanent refusal without retrying', () => {
  const { d, log } = driver();
  d.step({ t: 'start' });
  d.step({ t: 'lost', code: 'server_key_unknown', message: 'unknown', askTrust: true });
  expect(log).toEqual(['dial', 'ask']);
  d.step({ t: 'trust', accept: true });
  expect(log).toEqual(['dial', 'ask', 'dial']);
  d.step({ t: 'lost', code: 'name_taken', message: 'taken', askTrust: false });
  expect(log).toEqual(['dial', 'ask', 'dial', 'report name_taken']);
  expect(d.stopped).toBe(true);
  jest.advanceTimersByTime(10_000);
  expect(log).toHaveLength(4);
});
