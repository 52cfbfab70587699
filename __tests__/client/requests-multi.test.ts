/** `send.multi` in the request map: one answer per recipient is collected before it resolves. */
import { Requests } from '../../lib/client/requests';
import type { ClientMessage } from '../../lib/net/messages';
import { isChatError } from '../../lib/errors';

const id = 'a'.repeat(32);
const to = [{ user: 'Bea' }, { user: 'Cy' }, { user: 'Dee' }];

it('collects a sent or error per recipient, in order, then resolves; other rids are not consumed', async () => {
  const r = new Requests();
  const sent: ClientMessage[] = [];
  const p = r.openMulti({ t: 'send.multi', id, to, env: 'AA==' }, (m) => sent.push(m));
  const rid = (sent[0] as { rid: string }).rid;
  expect(rid.startsWith('g')).toBe(true);
  expect(r.answer({ t: 'sent', rid: 'c1', id, status: 'queued', user: 'Bea' })).toBe(false);
  expect(r.answer({ t: 'sent', rid, id, status: 'delivered', user: 'Bea' })).toBe(true);
  expect(
    r.answer({
      t: 'error',
      rid,
      id,
      user: 'Cy',
      code: 'queue_full',
      message: 'Cy has too many messages waiting',
    }),
  ).toBe(true);
  let done = false;
  void p.then(() => (done = true));
  await Promise.resolve();
  expect(done).toBe(false);
  expect(r.answer({ t: 'sent', rid, id, status: 'queued', user: 'Dee' })).toBe(true);
  const answers = await p;
  expect(answers.map((a) => [a.t, a.user])).toEqual([
    ['sent', 'Bea'],
    ['error', 'Cy'],
    ['sent', 'Dee'],
  ]);
  // Answered: the rid is no longer pending.
  expect(r.answer({ t: 'sent', rid, id, status: 'queued', user: 'Dee' })).toBe(false);
});

it('an error without a user is about the whole request and rejects it', async () => {
  const r = new Requests();
  const sent: ClientMessage[] = [];
  const p = r.openMulti({ t: 'send.multi', id, to, env: 'AA==' }, (m) => sent.push(m));
  const rid = (sent[0] as { rid: string }).rid;
  r.answer({ t: 'sent', rid, id, status: 'queued', user: 'Bea' });
  expect(r.answer({ t: 'error', rid, code: 'rate_limited', message: 'slow down' })).toBe(true);
  const err = await p.catch((e: unknown) => e);
  expect(isChatError(err, 'rate_limited')).toBe(true);
});
