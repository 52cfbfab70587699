/**
 * The reconnect state machine on its own: no sockets, no timers; the clock and the jitter are
 * injected, so every delay is known exactly.
 */
import {
  backoffMs,
  DEFAULT_RECONNECT,
  RECONNECT_START,
  reconnectStep,
  type Reconnect,
  type ReconnectDeps,
  type ReconnectEvent,
  type ReconnectStep,
} from '../../lib/client/reconnect';

const deps = (jitter = 0, now = 1_000_000): ReconnectDeps => ({
  policy: { baseMs: 100, maxMs: 1_000 },
  jitter: () => jitter,
  now: () => now,
});

function run(events: ReconnectEvent[], d = deps()): ReconnectStep[] {
  let s: Reconnect = RECONNECT_START;
  return events.map((e) => {
    const r = reconnectStep(s, e, d);
    s = r.state;
    return r;
  });
}

const lost = (code = 'connection_closed'): ReconnectEvent => ({ t: 'lost', code, message: `lost: ${code}` });

it('start dials; a welcome puts it online and resets the attempts', () => {
  const [a, b] = run([{ t: 'start' }, { t: 'welcomed' }]);
  expect(a.connection).toEqual({ state: 'connecting', attempt: 1 });
  expect(a.actions).toEqual([{ t: 'dial' }]);
  expect(b.state).toEqual({ phase: 'online', attempt: 0 });
  expect(b.connection).toEqual({ state: 'online' });
});

it('failed attempts back off exponentially up to the cap, with the jitter in [0.5, 1)', () => {
  const steps = run(
    [{ t: 'start' }, lost(), { t: 'timer' }, lost(), { t: 'timer' }, lost(), { t: 'timer' }, lost()],
    deps(0, 5_000),
  );
  const waits = steps.flatMap((s) => s.actions.filter((a) => a.t === 'wait').map((a) => a.delayMs));
  // base 100 × 2^(attempt-1) × 0.5 with jitter 0: 50, 100, 200, 400.
  expect(waits).toEqual([50, 100, 200, 400]);
  expect(steps[1].connection).toEqual({
    state: 'offline',
    retryAt: 5_050,
    reason: 'lost: connection_closed',
  });
  expect(steps[2].connection).toEqual({ state: 'connecting', attempt: 2 });
  expect(backoffMs({ baseMs: 100, maxMs: 1_000 }, 30, 0.99)).toBe(995);
  expect(backoffMs({ baseMs: 100, maxMs: 1_000 }, 30, 0)).toBe(500);
  expect(backoffMs(DEFAULT_RECONNECT, 1, 0.5)).toBe(375);
});

it('a connection lost after a welcome retries after half the base delay at least', () => {
  const steps = run([{ t: 'start' }, { t: 'welcomed' }, lost()], deps(0.5));
  expect(steps[2].actions).toEqual([{ t: 'wait', delayMs: 38 }]);
  expect(steps[2].state.phase).toBe('waiting');
});

it('a permanent refusal stops for good and is reported; timers and starts after it do nothing', () => {
  const steps = run([{ t: 'start' }, lost('name_taken'), { t: 'timer' }]);
  expect(steps[1].state.phase).toBe('stopped');
  expect(steps[1].connection).toEqual({ state: 'closed', reason: 'lost: name_taken', code: 'name_taken' });
  expect(steps[1].actions).toEqual([{ t: 'report', code: 'name_taken', message: 'lost: name_taken' }]);
  expect(steps[2].actions).toEqual([]);
  expect(steps[2].connection).toBeUndefined();
});

it('an unknown relay key asks the user; yes dials again from attempt 1, no stops', () => {
  const ask: ReconnectEvent = { t: 'lost', code: 'server_key_unknown', message: 'unknown', askTrust: true };
  const yes = run([{ t: 'start' }, ask, { t: 'trust', accept: true }]);
  expect(yes[1].actions).toEqual([{ t: 'ask-trust' }]);
  expect(yes[1].connection).toEqual({ state: 'closed', reason: 'unknown', code: 'server_key_unknown' });
  expect(yes[2].actions).toEqual([{ t: 'dial' }]);
  expect(yes[2].connection).toEqual({ state: 'connecting', attempt: 1 });
  const no = run([{ t: 'start' }, ask, { t: 'trust', accept: false }]);
  expect(no[2].state.phase).toBe('stopped');
  expect(no[2].actions).toEqual([]);
  expect(no[2].connection).toEqual({
    state: 'closed',
    reason: 'relay key refused',
    code: 'server_key_unknown',
  });
});

it('close stops: the connection that then ends is not retried', () => {
  const steps = run([{ t: 'start' }, { t: 'welcomed' }, { t: 'close' }, lost(), { t: 'timer' }]);
  expect(steps[2].connection).toEqual({ state: 'closed', reason: 'closed' });
  expect(steps[3].actions).toEqual([]);
  expect(steps[3].connection).toEqual({ state: 'closed', reason: 'closed' });
  expect(steps[4].actions).toEqual([]);
});

it('events that do not fit the phase change nothing (a second start, a stray welcome or timer)', () => {
  const steps = run([
    { t: 'welcomed' },
    { t: 'timer' },
    { t: 'start' },
    { t: 'start' },
    { t: 'trust', accept: true },
  ]);
  expect(steps[0].state).toEqual(RECONNECT_START);
  expect(steps[1].state).toEqual(RECONNECT_START);
  expect(steps[3].actions).toEqual([]);
  expect(steps[4].actions).toEqual([]);
  expect(steps[4].state.phase).toBe('connecting');
});

it('a refusal reported after the loss it caused still stops for good; a second plain loss changes nothing', () => {
  const steps = run([{ t: 'start' }, lost('closed'), lost('closed'), lost('name_taken'), { t: 'timer' }]);
  expect(steps[1].state.phase).toBe('waiting');
  expect(steps[2].actions).toEqual([]);
  expect(steps[2].connection).toBeUndefined();
  expect(steps[3].state.phase).toBe('stopped');
  expect(steps[3].actions).toEqual([{ t: 'report', code: 'name_taken', message: 'lost: name_taken' }]);
  expect(steps[4].actions).toEqual([]);
});
