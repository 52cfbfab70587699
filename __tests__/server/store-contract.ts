/**
 * The RelayStore contract (lib/server/store.ts): the same tests for every backend, so SQLite and
 * Redis behave alike for the router. A backend gives handles on one shared state: several
 * SQLite handles on one file, or several RedisRelayStore connections on one server, so the race
 * tests go through separate connections.
 */
import { canonName } from '../../lib/names';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import {
  QUEUE_MAX_PER_RECIPIENT,
  QUEUE_MAX_PER_SENDER,
  QUEUE_TTL_MS,
  type NewUser,
  type QueuedEnvelope,
  type RelayStore,
} from '../../lib/server/store';

export interface StoreBackend {
  /** Called before each test: a fresh, empty shared state. */
  setup(): Promise<void>;
  /** Another handle (connection) on the state of this test. */
  open(): Promise<RelayStore>;
  /** Called after each test, after every handle was closed. */
  teardown(): Promise<void>;
}

export const NOW = 1_700_000_000_000;

// The store keeps keys as opaque bytes (the router checks idcert), so random bytes of the right
// sizes stand in for real keys and keep the tests fast.
export function identity(name: string): NewUser {
  return {
    name,
    canon: canonName(name),
    signKey: randomBytes(32),
    dhKey: randomBytes(32),
    idcert: randomBytes(64),
  };
}

export function newId(): string {
  return toHex(randomBytes(16));
}

export function envelope(to: string, from: string, ts = NOW, size = 64): QueuedEnvelope {
  return { id: newId(), to, from, env: randomBytes(size), ts };
}

const spk = (id: number) => ({ id, pub: randomBytes(32), sig: randomBytes(64) });
const opks = (...ids: number[]) => ids.map((id) => ({ id, pub: randomBytes(32) }));

/** `n` envelopes through the store itself, all at once (both backends take them in one go). */
async function fill(s: RelayStore, to: string, from: (i: number) => string, n: number): Promise<void> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => s.enqueue(envelope(to, from(i)))));
  expect(results.every((r) => r === 'ok')).toBe(true);
}

export function storeContract(name: string, backend: StoreBackend): void {
  describe(`RelayStore contract: ${name}`, () => {
    const handles: RelayStore[] = [];
    async function store(): Promise<RelayStore> {
      const s = await backend.open();
      handles.push(s);
      return s;
    }

    beforeEach(() => backend.setup());
    afterEach(async () => {
      for (const s of handles.splice(0)) await s.close();
      await backend.teardown();
    });

    test('the registration lock: the recovery key is kept, replaced, and hands the name to a new identity', async () => {
      const s = await store();
      const eve = { ...identity('Eve'), recovery: randomBytes(32) };
      expect(await s.register(eve, NOW)).toBe('ok');
      expect(Buffer.from((await s.lookup('eve'))?.recovery ?? [])).toEqual(Buffer.from(eve.recovery));
      const rotated = randomBytes(32);
      await s.setRecovery('eve', rotated);
      expect(Buffer.from((await s.lookup('eve'))?.recovery ?? [])).toEqual(Buffer.from(rotated));

      await s.publishPrekeys('eve', spk(1), opks(1, 2));
      await s.register(identity('Adam'), NOW);
      expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
      const adam = (await s.lookup('adam'))!;
      // Another name's identity cannot take Eve's name.
      expect(await s.replaceIdentity({ ...adam, name: 'Eve', canon: 'eve' }, NOW + 1)).toBe('identity_taken');
      expect(await s.replaceIdentity(identity('Nobody'), NOW + 1)).toBe('unknown_user');

      const eve2 = identity('Eve');
      expect(await s.replaceIdentity(eve2, NOW + 2)).toBe('ok');
      const now = (await s.lookup('eve'))!;
      expect(Buffer.from(now.signKey)).toEqual(Buffer.from(eve2.signKey));
      expect(now.registeredAt).toBe(NOW + 2);
      // Without a new recovery key in the request, the stored one is kept.
      expect(Buffer.from(now.recovery ?? [])).toEqual(Buffer.from(rotated));
      // The old identity's prekeys (used ids too) and queue are gone; its signKey is free again.
      expect(await s.takeBundle('eve')).toBeUndefined();
      expect(await s.countQueued('eve')).toBe(0);
      expect(await s.publishPrekeys('eve', spk(2), opks(1))).toBe('ok');
      expect(await s.register({ ...eve, name: 'Eva', canon: 'eva' }, NOW)).toBe('ok');
    });

    test('everything survives close and reopen', async () => {
      const s = await store();
      const adam = identity('Adam');
      await s.register(adam, NOW);
      await s.register(identity('Eve'), NOW);
      await s.publishPrekeys('eve', spk(1), opks(2, 3));
      const sent = [envelope('eve', 'Adam'), envelope('eve', 'Adam'), envelope('eve', 'Adam')];
      for (const e of sent) expect(await s.enqueue(e)).toBe('ok');
      await s.takeBundle('eve');
      await s.close();

      const again = await store();
      expect(await again.lookup('adam')).toMatchObject({
        name: 'Adam',
        signKey: adam.signKey,
        dhKey: adam.dhKey,
      });
      expect(await again.pending('eve')).toEqual(sent);
      expect(await again.countOpks('eve')).toBe(1);
      expect((await again.takeBundle('eve'))?.opk?.id).toBe(3);
    });

    test('a closed store refuses to work', async () => {
      const s = await store();
      await s.close();
      await expect(s.lookup('adam')).rejects.toMatchObject({ code: 'storage_failed' });
    });

    describe('directory', () => {
      test('register, login, name_taken, identity_taken', async () => {
        const s = await store();
        const adam = identity('Adam');
        expect(await s.register(adam, NOW)).toBe('ok');
        expect(await s.register(adam, NOW + 5)).toBe('existing');
        expect(await s.register(identity('adam'), NOW)).toBe('name_taken');
        expect(await s.register(identity('ADAM'), NOW)).toBe('name_taken');
        expect(await s.register({ ...adam, name: 'Adam2', canon: 'adam2' }, NOW)).toBe('identity_taken');
        expect(await s.register({ ...adam, dhKey: randomBytes(32) }, NOW)).toBe('name_taken');
        expect(await s.lookup('adam')).toEqual({ ...adam, registeredAt: NOW, lastSeen: NOW });
        expect(await s.lookup('adam2')).toBeUndefined();
      });

      test('registrations at once on one handle: one name, one winner; one identity, one name', async () => {
        const s = await store();
        const carol = identity('Carol');
        const other = identity('carol');
        const dave = { ...carol, name: 'Dave', canon: 'dave' };
        const results = await Promise.all([
          s.register(carol, NOW),
          s.register(other, NOW),
          s.register(carol, NOW),
          s.register(dave, NOW),
          s.register(identity('Erin'), NOW),
        ]);
        expect(results).toEqual(['ok', 'name_taken', 'existing', 'identity_taken', 'ok']);
        expect((await s.lookup('carol'))?.signKey).toEqual(carol.signKey);
        expect(await s.lookup('dave')).toBeUndefined();
      });

      test('displayNames answers the registered case of each name, in order, undefined for nobody', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        await s.register(identity('adam'), NOW);
        expect(await s.displayNames([])).toEqual([]);
        expect(await s.displayNames(['nobody', 'eve', 'adam', 'eve'])).toEqual([
          undefined,
          'Eve',
          'adam',
          'Eve',
        ]);
        expect(await s.freeName('eve')).toBe(true);
        expect(await s.displayNames(['eve', 'adam'])).toEqual([undefined, 'adam']);
      });

      test('listUsers keeps the registered case and lastSeen, in canon order', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        await s.register(identity('adam'), NOW + 1);
        await s.register(identity('Bob'), NOW + 2);
        await s.setLastSeen('eve', NOW + 100);
        await s.setLastSeen('nobody', NOW + 100); // not a user: changes nothing
        const users = await s.listUsers();
        expect(users.map((u) => [u.name, u.canon, u.lastSeen])).toEqual([
          ['adam', 'adam', NOW + 1],
          ['Bob', 'bob', NOW + 2],
          ['Eve', 'eve', NOW + 100],
        ]);
      });

      test('freeName forgets the user, their prekeys and their queue; the name and identity are free again', async () => {
        const s = await store();
        await s.register(identity('Adam'), NOW);
        const eve = identity('Eve');
        await s.register(eve, NOW);
        await s.publishPrekeys('eve', spk(1), opks(2));
        await s.enqueue(envelope('eve', 'Adam'));
        expect(await s.freeName('eve')).toBe(true);
        expect(await s.freeName('eve')).toBe(false);
        expect(await s.lookup('eve')).toBeUndefined();
        expect(await s.countQueued('eve')).toBe(0);
        expect((await s.listUsers()).map((u) => u.canon)).toEqual(['adam']);

        expect(await s.register(identity('Eve'), NOW + 1)).toBe('ok');
        expect(await s.takeBundle('eve')).toBeUndefined();
        expect(await s.countOpks('eve')).toBe(0);
        expect(await s.pending('eve')).toEqual([]);
        expect(await s.publishPrekeys('eve', undefined, opks(2))).toBe('ok');
        // The old identity may take another name now.
        expect(await s.register({ ...eve, name: 'Eve2', canon: 'eve2' }, NOW + 2)).toBe('ok');
      });
    });

    describe('prekeys', () => {
      test('each one-time prekey is handed out once, lowest id first, then none', async () => {
        const s = await store();
        const other = await store();
        await s.register(identity('Eve'), NOW);
        const signed = spk(1);
        const published = opks(7, 3, 5, 4, 6);
        expect(await s.publishPrekeys('eve', signed, published)).toBe('ok');
        expect(await s.countOpks('eve')).toBe(5);
        const handed: number[] = [];
        for (let i = 0; i < 5; i++) {
          const bundle = await (i % 2 === 0 ? s : other).takeBundle('eve');
          expect(bundle?.spk).toEqual(signed);
          expect(bundle?.opk?.pub).toEqual(published.find((k) => k.id === bundle?.opk?.id)?.pub);
          handed.push(bundle!.opk!.id);
        }
        expect(handed).toEqual([3, 4, 5, 6, 7]);
        expect(await s.countOpks('eve')).toBe(0);
        const last = await s.takeBundle('eve');
        expect(last).toEqual({ spk: signed });
        expect(last).not.toHaveProperty('opk');
      });

      test('no signed prekey, no bundle', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        expect(await s.takeBundle('eve')).toBeUndefined();
        expect(await s.publishPrekeys('eve', undefined, opks(1))).toBe('ok');
        expect(await s.takeBundle('eve')).toBeUndefined();
        expect(await s.countOpks('eve')).toBe(1);
      });

      test('a duplicate id refuses the whole request', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        const first = spk(1);
        expect(await s.publishPrekeys('eve', first, opks(2, 3, 4))).toBe('ok');
        expect(await s.publishPrekeys('eve', spk(10), opks(5, 6, 3))).toBe('duplicate_id');
        expect(await s.countOpks('eve')).toBe(3);
        expect((await s.takeBundle('eve'))?.spk).toEqual(first);
        expect(await s.publishPrekeys('eve', undefined, opks(8, 8))).toBe('duplicate_id');
        expect(await s.publishPrekeys('eve', undefined, opks(2))).toBe('duplicate_id');
        expect(await s.publishPrekeys('eve', { ...first, pub: randomBytes(32) }, [])).toBe('duplicate_id');
        expect(await s.publishPrekeys('eve', first, [])).toBe('ok');
        expect(await s.publishPrekeys('eve', spk(10), opks(5, 6, 8))).toBe('ok');
        expect(await s.countOpks('eve')).toBe(5);
        expect((await s.takeBundle('eve'))?.spk.id).toBe(10);
      });

      test('ids must be u32 (0 and 2^32-1 are fine); an unknown user cannot publish', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        await expect(s.publishPrekeys('eve', undefined, opks(2 ** 32))).rejects.toMatchObject({
          code: 'bad_message',
        });
        await expect(s.publishPrekeys('eve', undefined, opks(-1))).rejects.toMatchObject({
          code: 'bad_message',
        });
        await expect(s.publishPrekeys('nobody', undefined, opks(1))).rejects.toMatchObject({
          code: 'unknown_user',
        });
        expect(await s.publishPrekeys('eve', spk(2 ** 32 - 1), opks(2 ** 32 - 1, 0))).toBe('ok');
        expect(await s.takeBundle('eve')).toMatchObject({ spk: { id: 2 ** 32 - 1 }, opk: { id: 0 } });
        expect((await s.takeBundle('eve'))?.opk?.id).toBe(2 ** 32 - 1);
      });
    });

    describe('queue', () => {
      test('arrival order, limit, ack once', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        const sent = Array.from({ length: 20 }, (_, i) =>
          envelope('eve', i % 2 === 0 ? 'Adam' : 'Bob', NOW - i),
        );
        for (const e of sent) expect(await s.enqueue(e)).toBe('ok');
        expect(await s.pending('eve')).toEqual(sent);
        expect(await s.pending('eve', 3)).toEqual(sent.slice(0, 3));
        expect(await s.pending('eve', 0)).toEqual([]);
        expect(await s.countQueued('eve')).toBe(20);
        expect(await s.ack('eve', sent[1].id)).toBe(true);
        expect(await s.ack('eve', sent[1].id)).toBe(false);
        expect(await s.ack('adam', sent[2].id)).toBe(false);
        expect(await s.ack('eve', newId())).toBe(false);
        expect((await s.pending('eve')).map((e) => e.id)).toEqual(
          [sent[0], ...sent.slice(2)].map((e) => e.id),
        );
        expect(await s.countQueued('eve')).toBe(19);
      });

      test('concurrent acks of one envelope on two handles: exactly one deletes it', async () => {
        const a = await store();
        const b = await store();
        await a.register(identity('Eve'), NOW);
        const sent = Array.from({ length: 20 }, () => envelope('eve', 'Adam'));
        for (const e of sent) await a.enqueue(e);
        const results = await Promise.all(sent.flatMap((e) => [a.ack('eve', e.id), b.ack('eve', e.id)]));
        expect(results.filter((r) => r)).toHaveLength(20);
        expect(await a.countQueued('eve')).toBe(0);
        // The per-sender counter went down once per envelope: a full share fits again.
        await fill(b, 'eve', () => 'Adam', QUEUE_MAX_PER_SENDER);
        expect(await a.enqueue(envelope('eve', 'Adam'))).toBe('queue_full');
      });

      test('a resend with the same id is a duplicate, stored once', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        const e = envelope('eve', 'Adam');
        expect(await s.enqueue(e)).toBe('ok');
        expect(await s.enqueue({ ...e, env: randomBytes(10) })).toBe('duplicate');
        expect(await s.pending('eve')).toEqual([e]);
      });

      test('an unknown recipient is refused', async () => {
        const s = await store();
        await expect(s.enqueue(envelope('nobody', 'Adam'))).rejects.toMatchObject({ code: 'unknown_user' });
      });

      test(`no sender fills more than ${QUEUE_MAX_PER_SENDER} of one recipient's queue`, async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        await s.register(identity('Adam'), NOW);
        await fill(s, 'eve', () => 'Adam', QUEUE_MAX_PER_SENDER - 2);
        expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
        expect(await s.enqueue(envelope('eve', 'adam'))).toBe('ok');
        expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('queue_full');
        expect(await s.enqueue(envelope('eve', 'ADAM'))).toBe('queue_full');
        expect(await s.enqueue(envelope('eve', 'Bob'))).toBe('ok');
        expect(await s.enqueue(envelope('adam', 'Bob'))).toBe('ok');
        const [oldest] = await s.pending('eve', 1);
        await s.ack('eve', oldest.id);
        expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
        expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('queue_full');
        expect(await s.countQueued('eve')).toBe(QUEUE_MAX_PER_SENDER + 1);
      });

      test(`a recipient holds at most ${QUEUE_MAX_PER_RECIPIENT}`, async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        await fill(s, 'eve', (i) => `sender${i % 20}`, QUEUE_MAX_PER_RECIPIENT - 1);
        expect(await s.countQueued('eve')).toBe(QUEUE_MAX_PER_RECIPIENT - 1);
        expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
        expect(await s.enqueue(envelope('eve', 'Bob'))).toBe('queue_full');
        expect(await s.countQueued('eve')).toBe(QUEUE_MAX_PER_RECIPIENT);
        expect(await s.pending('eve')).toHaveLength(QUEUE_MAX_PER_RECIPIENT);
      });

      test('expire deletes envelopes older than 30 days, and only those', async () => {
        const s = await store();
        await s.register(identity('Eve'), NOW);
        await s.register(identity('Bob'), NOW);
        const old = envelope('eve', 'Adam', NOW - QUEUE_TTL_MS - 1);
        const edge = envelope('eve', 'Adam', NOW - QUEUE_TTL_MS);
        const fresh = envelope('eve', 'Adam', NOW);
        const bobOld = envelope('bob', 'Adam', NOW - QUEUE_TTL_MS - 5);
        for (const e of [old, edge, fresh, bobOld]) await s.enqueue(e);
        expect(await s.expire(NOW)).toBe(2);
        expect(await s.pending('eve')).toEqual([edge, fresh]);
        expect(await s.pending('bob')).toEqual([]);
        expect(await s.countQueued('eve')).toBe(2);
        expect(await s.expire(NOW)).toBe(0);
      });
    });

    describe('races through separate handles', () => {
      test('50 concurrent registrations of one name: exactly one succeeds', async () => {
        const hs = await Promise.all(Array.from({ length: 5 }, () => store()));
        const ids = Array.from({ length: 50 }, () => identity('Carol'));
        const results = await Promise.all(ids.map((u, i) => hs[i % hs.length].register(u, NOW)));
        expect(results.filter((r) => r === 'ok')).toHaveLength(1);
        expect(results.filter((r) => r === 'name_taken')).toHaveLength(49);
        const winner = ids[results.indexOf('ok')];
        for (const h of hs) expect((await h.lookup('carol'))?.signKey).toEqual(winner.signKey);
      });

      test('50 concurrent registrations of 50 names by one identity: exactly one succeeds', async () => {
        const hs = await Promise.all(Array.from({ length: 5 }, () => store()));
        const one = identity('x');
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            hs[i % hs.length].register({ ...one, name: `Dan${i}`, canon: `dan${i}` }, NOW),
          ),
        );
        expect(results.filter((r) => r === 'ok')).toHaveLength(1);
        expect(results.filter((r) => r === 'identity_taken')).toHaveLength(49);
        expect(await hs[0].listUsers()).toHaveLength(1);
      });

      test('150 concurrent bundle takes on 100 one-time prekeys: 100 distinct keys, 50 without', async () => {
        const hs = await Promise.all(Array.from({ length: 5 }, () => store()));
        await hs[0].register(identity('Eve'), NOW);
        const published = opks(...Array.from({ length: 100 }, (_, i) => 1000 + i));
        expect(await hs[0].publishPrekeys('eve', spk(1), published)).toBe('ok');
        const bundles = await Promise.all(
          Array.from({ length: 150 }, (_, i) => hs[i % hs.length].takeBundle('eve')),
        );
        const handed = bundles.flatMap((x) => (x?.opk ? [x.opk] : []));
        expect(new Set(handed.map((k) => k.id)).size).toBe(100);
        expect(handed.map((k) => k.id).sort((x, y) => x - y)).toEqual(published.map((k) => k.id));
        for (const k of handed) expect(k.pub).toEqual(published.find((p) => p.id === k.id)!.pub);
        expect(bundles.filter((x) => x !== undefined && x.opk === undefined)).toHaveLength(50);
        expect(await hs[1].countOpks('eve')).toBe(0);
      });

      test('concurrent enqueues from one sender on several handles stop exactly at the per-sender cap', async () => {
        const hs = await Promise.all(Array.from({ length: 5 }, () => store()));
        await hs[0].register(identity('Eve'), NOW);
        const n = QUEUE_MAX_PER_SENDER + 50;
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) => hs[i % hs.length].enqueue(envelope('eve', 'Adam'))),
        );
        expect(results.filter((r) => r === 'ok')).toHaveLength(QUEUE_MAX_PER_SENDER);
        expect(results.filter((r) => r === 'queue_full')).toHaveLength(50);
        expect(await hs[2].countQueued('eve')).toBe(QUEUE_MAX_PER_SENDER);
      });
    });
  });
}
