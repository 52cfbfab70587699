/**
 * Issue 12, the latency lever: an envelope for an online recipient is delivered once its insert
 * is committed, while the fsync runs, and `sent` still waits for the fsync. What must hold:
 * the store says "committed" before the write's promise resolves, the row is readable then, and
 * an ack made before the insert is on disk still deletes it (nothing comes back after a
 * reconnect or a reopen). Real SQLite files, a real relay over loopback.
 */
import * as fs from 'node:fs';
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import { canonName } from '../../lib/names';
import { openRelayStore } from '../../lib/server/sqlite-store';
import type { EnqueueResult, QueuedEnvelope, RelayStore } from '../../lib/server/store';
import {
  ackEachDeliver,
  connectClient,
  loginClient,
  startRelay,
  tempDir,
  type TestClient,
} from '../helpers/relay-harness';

const NOW = 1_700_000_000_000;
const id = () => toHex(randomBytes(16));

async function storeWithUsers(dir: string, ...names: string[]): Promise<RelayStore> {
  const s = openRelayStore(dir);
  for (const name of names) {
    const user = {
      name,
      canon: canonName(name),
      signKey: randomBytes(32),
      dhKey: randomBytes(32),
      idcert: randomBytes(64),
    };
    expect(await s.register(user, NOW)).toBe('ok');
  }
  return s;
}

function envelope(to: string, from: string): QueuedEnvelope {
  return { id: id(), to, from, env: randomBytes(64), ts: NOW };
}

describe('the store: committed before durable', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('chatsecure-early-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('calls `committed` before the promise resolves, with the same result, and the row is readable then', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    try {
      const e = envelope('eve', 'Adam');
      const order: string[] = [];
      let readInside: Promise<QueuedEnvelope[]> | undefined;
      const done = s
        .enqueue(e, undefined, (r) => {
          order.push(`committed:${r}`);
          readInside = s.pending('eve');
        })
        .then((r) => {
          order.push(`resolved:${r}`);
          return r;
        });
      expect(await done).toBe('ok');
      expect(order).toEqual(['committed:ok', 'resolved:ok']);
      expect((await readInside!).map((x) => x.id)).toEqual([e.id]);
      // A resend of the same id: `duplicate`, through the same two steps.
      const again: EnqueueResult[] = [];
      expect(await s.enqueue(e, undefined, (r) => again.push(r))).toBe('duplicate');
      expect(again).toEqual(['duplicate']);
    } finally {
      await s.close();
    }
  });

  it('does not call `committed` for a refused write (an unknown recipient)', async () => {
    const s = await storeWithUsers(dir, 'Adam');
    try {
      const calls: EnqueueResult[] = [];
      await expect(
        s.enqueue(envelope('nobody', 'Adam'), undefined, (r) => calls.push(r)),
      ).rejects.toMatchObject({
        code: 'unknown_user',
      });
      expect(calls).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('an ack made before the insert is on disk deletes it, and it stays deleted after a reopen', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    const sent = Array.from({ length: 20 }, () => envelope('eve', 'Adam'));
    const acks: Promise<boolean>[] = [];
    let durable = 0;
    const writes = sent.map((e) =>
      s
        .enqueue(e, undefined, () => {
          // The recipient's ack, taken while this insert's fsync has not finished.
          expect(durable).toBe(0);
          acks.push(s.ack('eve', e.id));
        })
        .then((r) => {
          durable++;
          return r;
        }),
    );
    expect(await Promise.all(writes)).toEqual(sent.map(() => 'ok'));
    expect(await Promise.all(acks)).toEqual(sent.map(() => true));
    expect(await s.countQueued('eve')).toBe(0);
    await s.close();
    const reopened = openRelayStore(dir);
    try {
      expect(await reopened.pending('eve')).toEqual([]);
      expect(await reopened.countQueued('eve')).toBe(0);
    } finally {
      await reopened.close();
    }
  });

  it('an ack waiting for its batch is seen by the next read, and by a reopen after close', async () => {
    const s = await storeWithUsers(dir, 'Adam', 'Eve');
    const [a, b] = [envelope('eve', 'Adam'), envelope('eve', 'Adam')];
    expect(await s.enqueue(a)).toBe('ok');
    expect(await s.enqueue(b)).toBe('ok');
    const acked = s.ack('eve', a.id);
    expect((await s.pending('eve')).map((x) => x.id)).toEqual([b.id]);
    expect(await acked).toBe(true);
    const late = s.ack('eve', b.id);
    await s.close();
    expect(await late).toBe(true);
    const reopened = openRelayStore(dir);
    try {
      expect(await reopened.pending('eve')).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});

describe('the relay: deliver while the commit is on its way to disk', () => {
  it('a recipient that acks each deliver at once gets none of them again after it reconnects', async () => {
    const relay = await startRelay();
    const clients: TestClient[] = [];
    try {
      const adam = await loginClient(relay.port, 'Adam');
      clients.push(adam);
      const eve = await loginClient(relay.port, 'Eve');
      clients.push(eve);
      const seen: string[] = [];
      ackEachDeliver(eve, (m) => seen.push(m.id));
      const ids = Array.from({ length: 50 }, id);
      const answers = ids.map((msgId) =>
        adam.request({ t: 'send', id: msgId, to: 'Eve', env: toBase64(randomBytes(100)) }, 'sent'),
      );
      for (const a of await Promise.all(answers)) expect(a).toMatchObject({ t: 'sent', status: 'delivered' });
      // Eve's acks are on the request chain before this ping's answer.
      await eve.request({ t: 'ping' }, 'pong');
      expect(seen).toEqual(ids);
      eve.close();
      await eve.whenClosed();

      const back = await connectClient(relay.port, 'Eve', eve.identity);
      clients.push(back);
      const welcome = await back.next('welcome');
      expect(welcome.queued).toBe(0);
      const sentinel = id();
      await adam.request({ t: 'send', id: sentinel, to: 'Eve', env: toBase64(randomBytes(10)) }, 'sent');
      const first = await back.next('deliver');
      expect(first.id).toBe(sentinel);
    } finally {
      for (const c of clients) c.close();
      await relay.stop();
    }
  }, 60_000);
});

describe("one address's share of a recipient's queue", () => {
  it('is counted per sender address, refused past the limit, and freed by the ack', async () => {
    const relay = await startRelay({ limits: { queuePerAddress: 2 } });
    const clients: TestClient[] = [];
    try {
      const eve = await loginClient(relay.port, 'Eve');
      eve.close();
      await eve.whenClosed();
      const adam = await loginClient(relay.port, 'Adam');
      clients.push(adam);
      const send = () =>
        adam.request({ t: 'send', id: id(), to: 'Eve', env: toBase64(randomBytes(10)) }, 'sent');
      expect(await send()).toMatchObject({ t: 'sent', status: 'queued' });
      expect(await send()).toMatchObject({ t: 'sent', status: 'queued' });
      expect(await send()).toMatchObject({ t: 'error', code: 'queue_full' });

      const back = await connectClient(relay.port, 'Eve', eve.identity);
      clients.push(back);
      expect((await back.next('welcome')).queued).toBe(2);
      const first = await back.next('deliver');
      back.send({ t: 'ack', id: first.id });
      await back.request({ t: 'ping' }, 'pong');
      back.close();
      await back.whenClosed();
      // The next login counts the queue, which commits the ack first.
      const again = await connectClient(relay.port, 'Eve', eve.identity);
      clients.push(again);
      expect((await again.next('welcome')).queued).toBe(1);
      again.close();
      await again.whenClosed();
      // Queued or handed to Eve's closing connection: either way it waits for an ack.
      expect(await send()).toMatchObject({ t: 'sent' });
      expect(await send()).toMatchObject({ t: 'error', code: 'queue_full' });
    } finally {
      for (const c of clients) c.close();
      await relay.stop();
    }
  }, 60_000);
});
