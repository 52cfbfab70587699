/**
 * Groups end to end below the client core (issue 16): five members with group state
 * (lib/client/groups/state.ts) and sender keys (lib/crypto/sender-keys.ts) exchange group messages
 * through a real relay with `send.multi`, over real loopback sockets.
 *
 * What the client core carries over the pairwise sessions (state messages, changes, sender key
 * distributions) is handed from member to member in this process here, through the same encoders
 * and strict parsers; the same through real clients is client-*.test.ts (docs/protocol.md 10.6).
 */
import { randomBytes, toBase64, toHex, utf8, type Bytes } from '../../lib/crypto/primitives';
import {
  acceptDistribution,
  createOwnSenderKey,
  distributionOf,
  EMPTY_SENDER_KEY_RECORD,
  encodeDistribution,
  openGroupMessage,
  parseDistribution,
  parseGroupMessage,
  sealGroupMessage,
  type OwnSenderKey,
  type SenderKeyRecord,
} from '../../lib/crypto/sender-keys';
import {
  applyChange,
  createGroup,
  groupChangeToJSON,
  groupStateToJSON,
  joinGroup,
  membershipDiff,
  parseGroupChange,
  parseGroupStateMessage,
  proposeChange,
  stateMessageOf,
  type GroupState,
} from '../../lib/client/groups/state';
import { fromBase64 } from '../../lib/crypto/primitives';
import type { RelayMessage } from '../../lib/net/messages';
import { loginClient, startRelay, type TestClient, type TestRelay } from '../helpers/relay-harness';
import { codeOf } from '../helpers/error-code';
import { T0 } from '../crypto/e2e-helpers';
import { createIdentity, type Identity } from '../../lib/crypto/identity';

const NAMES = ['Adam', 'Bea', 'Cy', 'Dee', 'Eve'];
const canon = (n: string) => n.toLowerCase();

interface Member {
  name: string;
  identity: Identity;
  client: TestClient;
  state: GroupState;
  own: OwnSenderKey;
  /** Sender key records by canonical sender name. */
  records: Map<string, SenderKeyRecord>;
}

function padded(text: string): Bytes {
  const out = new Uint8Array(256).fill(0x20);
  out.set(utf8(text));
  return out;
}

const text = (b: Bytes) => Buffer.from(b).toString('utf8').trimEnd();

/** Stands in for a pairwise inner message: serialised and parsed strictly on the other side. */
function overPairwise<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function giveDistribution(from: Member, to: Member): void {
  const wire = overPairwise({ dist: toBase64(encodeDistribution(distributionOf(from.own))) }) as {
    dist: string;
  };
  const d = parseDistribution(fromBase64(wire.dist));
  to.records.set(
    canon(from.name),
    acceptDistribution(to.records.get(canon(from.name)) ?? EMPTY_SENDER_KEY_RECORD, d),
  );
}

async function sendToGroup(from: Member, body: string, extra: string[] = []): Promise<string> {
  const sealed = await sealGroupMessage(from.own, padded(body), (next) => {
    from.own = next; // the client stores this with the outgoing message, in one transaction
  });
  const id = toHex(randomBytes(16));
  const to = [...from.state.members.filter((m) => m !== canon(from.name)), ...extra].map((user) => ({
    user,
  }));
  const rid = from.client.nextRid();
  let answers = 0;
  const done = new Promise<void>((resolve) => {
    const on = (m: RelayMessage) => {
      if ((m.t === 'sent' || m.t === 'error') && m.rid === rid && ++answers === to.length) {
        from.client.channel.off('message', on);
        resolve();
      }
    };
    from.client.channel.on('message', on);
  });
  from.client.send({ t: 'send.multi', rid, id, to, env: toBase64(sealed.message) });
  await done;
  return id;
}

/** Receives the next group envelope and opens it with the record of the relay's `from`. */
async function receive(m: Member, ack = true): Promise<{ from: string; body: string; env: Bytes }> {
  const d = await m.client.next('deliver');
  if (ack) m.client.send({ t: 'ack', id: d.id });
  const env = fromBase64(d.env);
  const sender = canon(d.from);
  const r = openGroupMessage(m.records.get(sender) ?? EMPTY_SENDER_KEY_RECORD, parseGroupMessage(env), T0);
  m.records.set(sender, r.record);
  return { from: sender, body: text(r.plaintext), env };
}

describe('a group of five through a real relay', () => {
  let relay: TestRelay;
  const members: Member[] = [];
  const byName = (n: string) => members.find((m) => m.name === n) as Member;

  beforeAll(async () => {
    relay = await startRelay();
    const groupId = randomBytes(16);
    const adamState = createGroup(toHex(groupId), 'Five', 'Adam', NAMES.slice(1));
    for (const name of NAMES) {
      const identity = createIdentity();
      const client = await loginClient(relay.port, name, identity);
      const state =
        name === 'Adam'
          ? adamState
          : joinGroup(
              parseGroupStateMessage(overPairwise(groupStateToJSON(stateMessageOf(adamState)))),
              'Adam',
              name,
            );
      members.push({
        name,
        identity,
        client,
        state,
        own: createOwnSenderKey(groupId, randomBytes),
        records: new Map(),
      });
    }
    for (const a of members) for (const b of members) if (a !== b) giveDistribution(a, b);
  });

  afterAll(async () => {
    for (const m of members) m.client.close();
    await relay.stop();
  });

  it('every member reads every other member’s messages, in each sender’s order', async () => {
    for (let round = 0; round < 3; round++) {
      for (const m of members) await sendToGroup(m, `${m.name} ${round}`);
    }
    for (const m of members) {
      const got: Record<string, string[]> = {};
      for (let i = 0; i < 3 * (members.length - 1); i++) {
        const r = await receive(m);
        (got[r.from] ??= []).push(r.body);
      }
      for (const other of members.filter((o) => o !== m)) {
        expect(got[canon(other.name)]).toEqual([0, 1, 2].map((i) => `${other.name} ${i}`));
      }
    }
  });

  it('a relabelled sender is detected, and a delivery repeated by the relay is refused as a duplicate', async () => {
    const bea = byName('Bea');
    const cy = byName('Cy');
    await sendToGroup(bea, 'not acked');
    for (const m of members.filter((x) => x !== bea && x !== cy)) await receive(m);
    const first = await receive(cy, false); // not acked: the relay delivers it again at the next login
    expect(first.body).toBe('not acked');
    // Had the relay said the envelope came from Dee: Dee has no chain with Bea's key id, and even
    // under the same key id Dee's signing key would not verify it.
    const asDee = codeOf(() =>
      openGroupMessage(cy.records.get('dee') as SenderKeyRecord, parseGroupMessage(first.env), T0),
    );
    expect(asDee).toBe('no_session');
    const dee = cy.records.get('dee') as SenderKeyRecord;
    const sameId = { states: dee.states.map((x) => ({ ...x, keyId: bea.own.keyId })) };
    expect(codeOf(() => openGroupMessage(sameId, parseGroupMessage(first.env), T0))).toBe('decrypt_failed');
    cy.client.close();
    cy.client = await loginClient(relay.port, 'Cy', cy.identity);
    const again = await cy.client.next('deliver');
    cy.client.send({ t: 'ack', id: again.id });
    expect(
      codeOf(() =>
        openGroupMessage(
          cy.records.get('bea') as SenderKeyRecord,
          parseGroupMessage(fromBase64(again.env)),
          T0,
        ),
      ),
    ).toBe('duplicate_message');
  });

  it('after Eve is removed and keys rotate, nothing the relay stores for her decrypts', async () => {
    const adam = byName('Adam');
    const eve = byName('Eve');
    eve.client.close(); // offline: everything for her waits in the relay's queue
    const change = proposeChange(adam.state, 'adam', { t: 'remove', users: ['eve'] });
    for (const m of members) {
      const before = m.state;
      const r =
        m === adam
          ? applyChange(m.state, change, 'adam')
          : applyChange(m.state, parseGroupChange(overPairwise(groupChangeToJSON(change))), 'Adam');
      expect(r.outcome).toBe('applied');
      m.state = r.state;
      expect(membershipDiff(before, m.state).removed).toEqual(['eve']);
    }
    const remaining = members.filter((m) => m !== eve);
    // Every remaining member rotates and distributes to the remaining members only.
    for (const m of remaining) m.own = createOwnSenderKey(m.own.groupId, randomBytes);
    for (const a of remaining) for (const b of remaining) if (a !== b) giveDistribution(a, b);
    // A stale or hostile sender still addresses Eve: the relay stores those copies for her too.
    for (const m of remaining) await sendToGroup(m, `${m.name} after`, ['eve']);
    for (const m of remaining) {
      const bodies = [];
      for (let i = 0; i < remaining.length - 1; i++) bodies.push((await receive(m)).body);
      expect(bodies.sort()).toEqual(
        remaining
          .filter((o) => o !== m)
          .map((o) => `${o.name} after`)
          .sort(),
      );
    }
    // Eve comes back with all her old keys, and is given every envelope the relay stored for her.
    eve.client = await loginClient(relay.port, 'Eve', eve.identity);
    const sentinel = toHex(randomBytes(16));
    await adam.client.request({ t: 'send', id: sentinel, to: 'Eve', env: toBase64(randomBytes(64)) }, 'sent');
    let opened = 0;
    for (;;) {
      const d = await eve.client.next('deliver');
      eve.client.send({ t: 'ack', id: d.id });
      if (d.id === sentinel) break;
      const rec = eve.records.get(canon(d.from)) ?? EMPTY_SENDER_KEY_RECORD;
      expect(codeOf(() => openGroupMessage(rec, parseGroupMessage(fromBase64(d.env)), T0))).toBe(
        'no_session',
      );
      opened++;
    }
    expect(opened).toBe(remaining.length);
  });
});
