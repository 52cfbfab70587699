/** Presence and the paced way out on their own (public APIs only), with an injected clock. */
import { EventEmitter } from 'node:events';
import { type ClientMessage, MAX_WATCH_PER_REQUEST } from '../../lib/net/messages';
import { PacedOut } from '../../lib/client/paced-out';
import { Pacer } from '../../lib/client/pacer';
import { Presence } from '../../lib/client/presence';
import type { ClientEvents } from '../../lib/client/types';

function presence(online = true) {
  const events = new EventEmitter<ClientEvents>();
  const seen: [string, boolean][] = [];
  events.on('presence', (p) => seen.push([p.user, p.online]));
  const sent: ClientMessage[] = [];
  const cameOnline: string[] = [];
  let t = 5_000;
  let rid = 0;
  const p = new Presence({
    canon: 'alice',
    now: () => t,
    emit: events.emit.bind(events),
    online: () => online,
    out: (m) => sent.push(m),
    watchRid: () => `w${++rid}`,
    cameOnline: (peer) => cameOnline.push(peer),
  });
  return { p, seen, sent, cameOnline, tick: (ms: number) => (t += ms) };
}

it('welcome and changes are told (never ourselves); offline records last seen; a loss ends them all', () => {
  const { p, seen, cameOnline, tick } = presence();
  p.welcomed(['Alice', 'Bob', 'carol']);
  expect(seen).toEqual([
    ['Bob', true],
    ['carol', true],
  ]);
  expect(p.isOnline('bob')).toBe(true);
  expect(p.onlineName('bob')).toBe('Bob');
  p.changed('Dave', true);
  expect(cameOnline).toEqual(['dave']);
  tick(1_000);
  p.changed('Bob', false);
  expect(p.isOnline('bob')).toBe(false);
  expect(p.lastSeen('bob')).toBe(6_000);
  expect(p.lastSeen('nobody')).toBeNull();
  p.changed('ALICE', true);
  expect(seen.filter(([u]) => u.toLowerCase() === 'alice')).toEqual([]);
  seen.length = 0;
  p.lost();
  expect(seen.sort()).toEqual([
    ['Dave', false],
    ['carol', false],
  ]);
  expect([...p.online()]).toEqual([]);
  p.listed([{ name: 'Eve', online: false, lastSeen: 42 }]);
  expect(p.lastSeen('eve')).toBe(42);
});

it('watch asks only by subscription, once per name and connection, in chunks', () => {
  const { p, sent } = presence();
  p.watch(['bob']);
  expect(sent).toEqual([]);
  p.setSubscribe(true);
  const names = Array.from({ length: MAX_WATCH_PER_REQUEST + 1 }, (_, i) => `u${i}`);
  p.watch(['alice', 'Bob', 'Bob', 'bob', 'BOB', ...names]);
  expect(sent.map((m) => (m.t === 'presence.watch' ? m.users.length : -1))).toEqual([
    MAX_WATCH_PER_REQUEST,
    2,
  ]);
  expect(sent.every((m) => m.t === 'presence.watch' && m.rid.startsWith('w'))).toBe(true);
  const all = sent.flatMap((m) => (m.t === 'presence.watch' ? m.users : []));
  expect(all).not.toContain('alice');
  expect(all.filter((n) => n.toLowerCase() === 'bob')).toEqual(['Bob']);
  sent.length = 0;
  p.watch(['bob']);
  expect(sent).toEqual([]);
  p.unwatchAll();
  p.watch(['bob']);
  expect(sent).toHaveLength(1);
});

it('watch sends nothing while not logged in', () => {
  const { p, sent } = presence(false);
  p.setSubscribe(true);
  p.watch(['bob']);
  expect(sent).toEqual([]);
});

describe('PacedOut', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('sends within the burst, queues the rest in order, acks go at once; a cleared queue sends nothing', () => {
    const pacer = new Pacer(() => Date.now());
    // Burst 3 and 1.25/s announced: the client uses 2 and 1 per second.
    pacer.configure({ requestsPerSecond: 1.25, requestBurst: 3 });
    const got: ClientMessage[] = [];
    const paced = new PacedOut(pacer, () => ({ send: (m) => got.push(m) }));
    for (const rid of ['1', '2', '3', '4']) paced.out({ t: 'ping', rid });
    paced.out({ t: 'ack', id: 'x' });
    expect(got.map((m) => ('rid' in m ? m.rid : m.t))).toEqual(['1', '2', 'ack']);
    jest.advanceTimersByTime(1_000);
    expect(got.map((m) => ('rid' in m ? m.rid : m.t))).toEqual(['1', '2', 'ack', '3']);
    jest.advanceTimersByTime(1_000);
    expect(got.map((m) => ('rid' in m ? m.rid : m.t))).toEqual(['1', '2', 'ack', '3', '4']);
    paced.out({ t: 'ping', rid: '5' });
    paced.out({ t: 'ping', rid: '6' });
    paced.clear();
    jest.advanceTimersByTime(10_000);
    expect(got.map((m) => ('rid' in m ? m.rid : m.t))).toEqual(['1', '2', 'ack', '3', '4']);
    paced.close();
  });

  it('without a connection nothing is sent or kept', () => {
    const pacer = new Pacer(() => Date.now());
    const got: ClientMessage[] = [];
    let connected = false;
    const paced = new PacedOut(pacer, () => (connected ? { send: (m) => got.push(m) } : undefined));
    paced.out({ t: 'ping', rid: '1' });
    connected = true;
    paced.out({ t: 'ping', rid: '2' });
    expect(got.map((m) => ('rid' in m ? m.rid : ''))).toEqual(['2']);
  });
});
