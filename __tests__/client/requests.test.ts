/** Requests on their own: rids, answers, `users` pages, errors, timeouts and a lost connection. */
import { Requests } from '../../lib/client/requests';
import type { ClientMessage } from '../../lib/net/messages';
import { ChatError, isChatError } from '../../lib/errors';

it('an answer with the rid resolves its request; other messages are not consumed', async () => {
  const r = new Requests();
  const sent: ClientMessage[] = [];
  const p = r.open({ t: 'keys.fetch', user: 'Eve' }, 'keys.bundle', (m) => sent.push(m));
  expect(sent).toHaveLength(1);
  const rid = (sent[0] as { rid: string }).rid;
  expect(r.answer({ t: 'presence', user: 'Eve', online: true })).toBe(false);
  expect(r.answer({ t: 'pong', rid: 'c999' })).toBe(false);
  expect(r.answer({ t: 'pong', rid })).toBe(true);
  await expect(p).resolves.toEqual({ t: 'pong', rid });
  // Answered once: the same rid again is no longer an answer.
  expect(r.answer({ t: 'pong', rid })).toBe(false);
});

it('users pages are collected until the last; an error rejects with its code', async () => {
  const r = new Requests();
  const sent: ClientMessage[] = [];
  const list = r.open({ t: 'list' }, 'users', (m) => sent.push(m));
  const rid = (sent[0] as { rid: string }).rid;
  const a = { name: 'A', online: true, lastSeen: null };
  const b = { name: 'B', online: false, lastSeen: 5 };
  expect(r.answer({ t: 'users', rid, users: [a], more: true })).toBe(true);
  expect(r.answer({ t: 'users', rid, users: [b] })).toBe(true);
  await expect(list).resolves.toMatchObject({ users: [a, b] });

  const fetch = r.open({ t: 'keys.fetch', user: 'Nobody' }, 'keys.bundle', (m) => sent.push(m));
  const rid2 = (sent[1] as { rid: string }).rid;
  expect(rid2).not.toBe(rid);
  r.answer({ t: 'error', rid: rid2, code: 'unknown_user', message: 'no user is called Nobody' });
  const err: unknown = await fetch.catch((e: unknown) => e);
  expect(isChatError(err, 'unknown_user')).toBe(true);
});

it('a request not answered in time, or when the connection ends, fails with connection_closed', async () => {
  jest.useFakeTimers();
  try {
    const r = new Requests(1_000);
    const late = r.open({ t: 'list' }, 'users', () => undefined).catch((e: unknown) => e);
    const lost = r.open({ t: 'list' }, 'users', () => undefined);
    jest.advanceTimersByTime(1_000);
    expect(isChatError(await late, 'connection_closed')).toBe(true);
    // `lost` timed out too; a new one is failed by failAll instead.
    await lost.catch(() => undefined);
    const third = r.open({ t: 'list' }, 'users', () => undefined).catch((e: unknown) => e);
    r.failAll(new ChatError('connection_closed', 'closed'));
    expect(isChatError(await third, 'connection_closed')).toBe(true);
  } finally {
    jest.useRealTimers();
  }
});
