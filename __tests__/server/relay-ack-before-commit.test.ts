/**
 * Issue 12, the write lever: an envelope for an online recipient may be delivered before its
 * insert commits, and the recipient's ack, when it comes before the commit, cancels the insert:
 * nothing is written for it at all and `sent` is answered at the ack. What must hold: the early
 * path is taken only when the store can tell the write will be accepted (caps, duplicates,
 * envelopes it does not know), an envelope nobody acked is committed and durable as before,
 * and order and acks through the relay are unchanged. Real SQLite files, a real relay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes, toBase64 } from '../../lib/crypto/primitives';
import { EARLY_GROUP_MS, EARLY_TICK_MS, openRelayStore, RELAY_DB_FILE } from '../../lib/server/sqlite-store';
import type { EnqueueResult, QueuedEnvelope, RelayStore } from '../../lib/server/store';
import { ackEachDeliver, loginClient, startRelay, tempDir, type TestClient } from '../helpers/relay-harness';
import { envelope as contractEnvelope, identity, newId as id, NOW } from './store-contract';

const envelope = (to: string, from: string, size = 64): QueuedEnvelope =>
  contractEnvelope(to, from, NOW, size);

async function storeWithUsers(dir: string, ...names: string[]): Promise<RelayStore> {
  const s = openRelayStore(dir);
  for (const name of names) expect(await s.register(identity(name), NOW)).toBe('ok');
  // One write through the batch first: until a batch has run, the store's in-memory counts
  // are not known to be exact and nothing goes early.
  expect(await s.enqueue(envelope('adam', 'Adam'))).toBe('ok');
  return s;
}

function walBytes(dir: string): number {
  try {
    return fs.statSync(path.join(dir, `${RELAY_DB_FILE}-wal`)).size;
  } catch {
    return 0;
  }
}

describe('the store: an ack before the commit cancels the write', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('chatsecure-ackfirst-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('calls `committed` at once, and an ack then leaves nothing written and resolves the send', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    try {
      const before = walBytes(dir);
      const sent = Array.from({ length: 50 }, () => envelope('eve', 'Adam', 4096));
      const acks: Promise<boolean>[] = [];
      const writes = sent.map((e) => {
        let told: EnqueueResult | undefined;
        const p = s.enqueue(
          e,
          undefined,
          (r) => {
            told = r;
            // The recipient's ack, before any commit could have run.
            acks.push(s.ack('eve', e.id));
          },
          true,
        );
        expect(told).toBe('ok');
        return p;
      });
      expect(await Promise.all(writes)).toEqual(sent.map(() => 'ok'));
      expect(await Promise.all(acks)).toEqual(sent.map(() => true));
      expect(await s.countQueued('eve')).toBe(0);
      expect(await s.pending('eve')).toEqual([]);
      // 200 KiB of envelopes, and not one of them reached the journal.
      expect(walBytes(dir) - before).toBeLessThan(4096);
    } finally {
      await s.close();
    }
  });

  it('commits what nobody acked, durably, and it is there after a reopen', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    const e = envelope('eve', 'Adam');
    const told: EnqueueResult[] = [];
    const p = s.enqueue(e, undefined, (r) => told.push(r), true);
    expect(told).toEqual(['ok']);
    expect(await p).toBe('ok');
    expect((await s.pending('eve')).map((x) => x.id)).toEqual([e.id]);
    await s.close();
    const reopened = openRelayStore(dir);
    try {
      expect((await reopened.pending('eve')).map((x) => x.id)).toEqual([e.id]);
      // Acked after the commit: deleted as any waiting envelope.
      expect(await reopened.ack('eve', e.id)).toBe(true);
      expect(await reopened.countQueued('eve')).toBe(0);
    } finally {
      await reopened.close();
    }
  });

  it('does not go early for an id that waits, nor while envelopes it does not know wait', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    const e = envelope('eve', 'Adam');
    expect(await s.enqueue(e, undefined, undefined, true)).toBe('ok');
    const again: EnqueueResult[] = [];
    const repeat = s.enqueue(e, undefined, (r) => again.push(r), true);
    expect(again).toEqual([]);
    expect(await repeat).toBe('duplicate');
    expect(again).toEqual(['duplicate']);
    await s.close();

    // After a reopen the waiting envelope's sender is not in memory: nothing goes early for Eve
    // until it is acked, so a new envelope cannot overtake it or hide a duplicate.
    const reopened = openRelayStore(dir);
    try {
      expect(await reopened.enqueue(envelope('adam', 'Eve'))).toBe('ok');
      const told: EnqueueResult[] = [];
      const next = envelope('eve', 'Adam');
      const p = reopened.enqueue(next, undefined, (r) => told.push(r), true);
      expect(told).toEqual([]);
      expect(await p).toBe('ok');
      expect(told).toEqual(['ok']);
      expect((await reopened.pending('eve')).map((x) => x.id)).toEqual([e.id, next.id]);
    } finally {
      await reopened.close();
    }
  });

  function early(s: RelayStore, e: QueuedEnvelope): Promise<EnqueueResult> {
    let told: EnqueueResult | undefined;
    const p = s.enqueue(e, undefined, (r) => (told = r), true);
    expect(told).toBe('ok');
    return p;
  }

  /**
   * The store's timers on a clock the test moves (its I/O and turns stay real): when an early
   * envelope commits is then a matter of ticks, not of how busy this machine is.
   */
  function withClock<T>(run: () => Promise<T>): Promise<T> {
    jest.useFakeTimers({
      doNotFake: [
        'nextTick',
        'setImmediate',
        'clearImmediate',
        'queueMicrotask',
        'Date',
        'performance',
        'hrtime',
      ],
    });
    return run().finally(() => jest.useRealTimers());
  }

  it('does not count cancelled envelopes towards the batch bound', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    try {
      await withClock(async () => {
        const before = walBytes(dir);
        const late = envelope('eve', 'Adam', 64 * 1024);
        const sent = early(s, late);
        // More early envelopes than EARLY_BATCH_MAX (4096) pass while `late` waits, each acked
        // at once: one envelope waits, so nothing commits at the next turn.
        for (let i = 0; i < 4200; i++) {
          const e = envelope('eve', 'Cain');
          void s.enqueue(e, undefined, () => void s.ack('eve', e.id), true);
        }
        await new Promise((r) => setImmediate(r));
        expect(await s.ack('eve', late.id)).toBe(true);
        expect(await sent).toBe('ok');
        // The batch clock this replaced wrote `late` at the 4096th.
        expect(walBytes(dir) - before).toBeLessThan(64 * 1024);
      });
      expect(await s.countQueued('eve')).toBe(0);
    } finally {
      await s.close();
    }
  });

  it("gives each early envelope its own time: an older one's commit does not write it", async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    try {
      const first = envelope('eve', 'Cain');
      await withClock(async () => {
        const before = walBytes(dir);
        // One nobody acks, then `late` two ticks after it.
        const firstSent = early(s, first);
        jest.advanceTimersByTime(2 * EARLY_TICK_MS);
        const late = envelope('eve', 'Adam', 64 * 1024);
        const sent = early(s, late);
        // The first has waited EARLY_GROUP_MS and commits; `late` has had three ticks of five.
        jest.advanceTimersByTime(EARLY_GROUP_MS + EARLY_TICK_MS - 2 * EARLY_TICK_MS);
        expect(await firstSent).toBe('ok');
        expect(await s.ack('eve', late.id)).toBe(true);
        expect(await sent).toBe('ok');
        // The batch clock this replaced committed both at the first's 200 ms.
        expect(walBytes(dir) - before).toBeLessThan(64 * 1024);
      });
      // The one nobody acked was committed.
      expect((await s.pending('eve')).map((e) => e.id)).toEqual([first.id]);
    } finally {
      await s.close();
    }
  });

  it('takes early enqueues by callback: done at the cancelling ack, or once on disk; refused when it may not go early', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    const caps = { perRecipient: 3, perSender: 3 };
    const enqueueEarly = s.enqueueEarly?.bind(s);
    const cancelEarly = s.cancelEarly?.bind(s);
    if (!enqueueEarly || !cancelEarly) throw new Error('the SQLite store takes early enqueues by callback');
    const calls: { id: string; err: unknown }[] = [];
    const take = (e: QueuedEnvelope) => enqueueEarly(e, caps, (err) => calls.push({ id: e.id, err }));
    const acked = envelope('eve', 'Adam', 4096);
    const kept = envelope('eve', 'Adam');
    const more = [envelope('eve', 'Adam'), envelope('eve', 'Adam'), envelope('eve', 'Adam')];
    try {
      expect(take(acked)).toBe(true);
      expect(take(kept)).toBe(true);
      // Never before it returns; a repeat of a waiting id does not go early.
      expect(calls).toEqual([]);
      expect(take(kept)).toBe(false);
      // The ack settles it at once; an id that is not an early one is left to `ack`.
      expect(cancelEarly('eve', acked.id)).toBe(true);
      expect(calls).toEqual([{ id: acked.id, err: undefined }]);
      expect(cancelEarly('eve', acked.id)).toBe(false);
      expect(cancelEarly('eve', 'f'.repeat(32))).toBe(false);
      // The caps count what waits: two more fit beside `kept`, then none.
      expect(more.map(take)).toEqual([true, true, false]);
      // A read commits what waits; `done` comes once each is on disk, without an error (the
      // close waits for the disk).
      expect((await s.pending('eve')).map((e) => e.id)).toEqual([kept.id, more[0].id, more[1].id]);
    } finally {
      await s.close();
    }
    expect(calls).toEqual([
      { id: acked.id, err: undefined },
      { id: kept.id, err: undefined },
      { id: more[0].id, err: undefined },
      { id: more[1].id, err: undefined },
    ]);
    // After the close nothing is taken (and `done` is never called for it).
    expect(take(envelope('eve', 'Adam'))).toBe(false);
  });

  it('counts what waits for the commit against the caps', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    try {
      const caps = { perRecipient: 3, perSender: 3 };
      const told: EnqueueResult[][] = [];
      const writes = Array.from({ length: 5 }, (_, i) => {
        told[i] = [];
        return s.enqueue(envelope('eve', 'Adam'), caps, (r) => told[i].push(r), true);
      });
      // The first three go at once; the rest wait for the commit, which refuses them.
      expect(told).toEqual([['ok'], ['ok'], ['ok'], [], []]);
      expect(await Promise.all(writes)).toEqual(['ok', 'ok', 'ok', 'queue_full', 'queue_full']);
      expect(await s.countQueued('eve')).toBe(3);
    } finally {
      await s.close();
    }
  });
});

describe('the relay: a recipient that acks at once', () => {
  it('gets every message once and in order, each sender gets `sent delivered`, and none waits after', async () => {
    const relay = await startRelay();
    const clients: TestClient[] = [];
    try {
      const adam = await loginClient(relay.port, 'Adam');
      clients.push(adam);
      const cain = await loginClient(relay.port, 'Cain');
      clients.push(cain);
      const eve = await loginClient(relay.port, 'Eve');
      clients.push(eve);
      const seen: string[] = [];
      ackEachDeliver(eve, (m) => seen.push(`${m.from}:${m.id}`));
      const fromAdam = Array.from({ length: 40 }, id);
      const fromCain = Array.from({ length: 40 }, id);
      const answers = [
        ...fromAdam.map((i) =>
          adam.request({ t: 'send', id: i, to: 'Eve', env: toBase64(randomBytes(100)) }, 'sent'),
        ),
        ...fromCain.map((i) =>
          cain.request({ t: 'send', id: i, to: 'Eve', env: toBase64(randomBytes(100)) }, 'sent'),
        ),
      ];
      for (const a of await Promise.all(answers)) expect(a).toMatchObject({ t: 'sent', status: 'delivered' });
      await eve.request({ t: 'ping' }, 'pong');
      // Each sender's messages in the order sent, none twice.
      expect(seen.filter((x) => x.startsWith('Adam:'))).toEqual(fromAdam.map((i) => `Adam:${i}`));
      expect(seen.filter((x) => x.startsWith('Cain:'))).toEqual(fromCain.map((i) => `Cain:${i}`));
      expect(seen).toHaveLength(80);
      eve.close();
      await eve.whenClosed();
    } finally {
      for (const c of clients) c.close();
      await relay.stop();
    }
    // Nothing waits for Eve in the relay's store once it is stopped.
    const store = openRelayStore(relay.dir);
    try {
      expect(await store.countQueued('eve')).toBe(0);
    } finally {
      await store.close();
    }
  }, 60_000);
});
