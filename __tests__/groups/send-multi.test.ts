/**
 * `send.multi` (docs/protocol.md section 10.5) against an in-process relay over real loopback
 * sockets: one envelope, each copy answered, queued, delivered and acked per recipient like `send`.
 */
import { createIdentity } from '../../lib/crypto/identity';
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import {
  MAX_MULTI_RECIPIENTS,
  MAX_TRANSPORT_PLAINTEXT,
  parseClientMessage,
  serializeMessage,
  type ClientMessage,
  type RelayMessage,
} from '../../lib/net/messages';
import { MAX_GROUP_MESSAGE_LEN } from '../../lib/crypto/sender-keys';
import { loginClient, startRelay, type TestClient, type TestRelay } from '../helpers/relay-harness';
import { codeOf } from '../helpers/error-code';

const id = () => toHex(randomBytes(16));
const env = () => toBase64(randomBytes(400));

type Answer = Extract<RelayMessage, { t: 'sent' }> | Extract<RelayMessage, { t: 'error' }>;

/** Sends a send.multi and gathers its `count` answers (all carry its rid). */
async function sendMulti(
  c: TestClient,
  msg: Omit<Extract<ClientMessage, { t: 'send.multi' }>, 'rid'>,
  count = msg.to.length,
): Promise<Answer[]> {
  const rid = c.nextRid();
  const answers: Answer[] = [];
  const done = new Promise<void>((resolve) => {
    const on = (m: RelayMessage) => {
      if ((m.t === 'sent' || m.t === 'error') && m.rid === rid) {
        answers.push(m);
        if (answers.length === count) {
          c.channel.off('message', on);
          resolve();
        }
      }
    };
    c.channel.on('message', on);
  });
  c.send({ ...msg, rid });
  await done;
  return answers;
}

describe('send.multi over a real relay', () => {
  let relay: TestRelay;
  const clients: TestClient[] = [];
  const login = async (name: string, identity = createIdentity()) => {
    const c = await loginClient(relay.port, name, identity);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    relay = await startRelay({ limits: { queuePerSender: 3, queuePerNewSender: 3 } });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await relay.stop();
  });

  it('answers each copy in order: delivered, queued, unknown, identity changed; only the good copies are stored', async () => {
    const adam = await login('Adam');
    const eve = await login('Eve');
    const bobId = createIdentity();
    (await login('Bob', bobId)).close();
    const carol = await login('Carol');
    carol.close();
    const msgId = id();
    const e = env();
    const wrongFor = toBase64(createIdentity().signKey.publicKey);
    const answers = await sendMulti(adam, {
      t: 'send.multi',
      id: msgId,
      env: e,
      to: [
        { user: 'eve', for: toBase64(eve.identity.signKey.publicKey) },
        { user: 'Bob' },
        { user: 'Nobody' },
        { user: 'Carol', for: wrongFor },
      ],
    });
    expect(answers).toEqual([
      expect.objectContaining({ t: 'sent', id: msgId, status: 'delivered', user: 'Eve' }),
      expect.objectContaining({ t: 'sent', id: msgId, status: 'queued', user: 'Bob' }),
      expect.objectContaining({ t: 'error', id: msgId, code: 'unknown_user', user: 'Nobody' }),
      expect.objectContaining({ t: 'error', id: msgId, code: 'identity_changed', user: 'Carol' }),
    ]);
    expect(answers[3].t === 'error' && answers[3].identity?.user).toBe('Carol');
    expect(await eve.next('deliver')).toMatchObject({ id: msgId, from: 'Adam', env: e });
    eve.send({ t: 'ack', id: msgId });
    const bob = await login('Bob', bobId);
    expect(await bob.next('deliver')).toMatchObject({ id: msgId, from: 'Adam', env: e });
    // Carol: nothing was stored; the first thing she gets is a sentinel sent afterwards.
    const sentinel = id();
    expect(await adam.request({ t: 'send', id: sentinel, to: 'Carol', env: env() }, 'sent')).toMatchObject({
      status: 'queued',
    });
    const carol2 = await login('Carol', carol.identity);
    expect((await carol2.next('deliver')).id).toBe(sentinel);
  });

  it('keeps an unacked copy for its recipient only, and forgets an acked one', async () => {
    const ann = await login('Ann');
    const danId = createIdentity();
    const finnId = createIdentity();
    const dan = await login('Dan', danId);
    const finn = await login('Finn', finnId);
    const msgId = id();
    await sendMulti(ann, { t: 'send.multi', id: msgId, env: env(), to: [{ user: 'Dan' }, { user: 'Finn' }] });
    expect((await dan.next('deliver')).id).toBe(msgId);
    expect((await finn.next('deliver')).id).toBe(msgId);
    dan.send({ t: 'ack', id: msgId });
    await dan.request({ t: 'ping' }, 'pong'); // the ack is handled before the ping is answered
    dan.close();
    finn.close(); // Finn never acked
    const sentinel = id();
    await sendMulti(ann, {
      t: 'send.multi',
      id: sentinel,
      env: env(),
      to: [{ user: 'Dan' }, { user: 'Finn' }],
    });
    const dan2 = await login('Dan', danId);
    expect((await dan2.next('deliver')).id).toBe(sentinel);
    const finn2 = await login('Finn', finnId);
    expect((await finn2.next('deliver')).id).toBe(msgId);
    expect((await finn2.next('deliver')).id).toBe(sentinel);
  });

  it('applies the per-sender queue limit per recipient; a resent id is answered without a second copy', async () => {
    const gil = await login('Gil');
    const hal = await login('Hal');
    hal.close();
    const ivyId = createIdentity();
    (await login('Ivy', ivyId)).close();
    // Hal already holds the 3 envelopes (queuePerSender) Gil may leave him.
    for (let i = 0; i < 3; i++) await gil.request({ t: 'send', id: id(), to: 'Hal', env: env() }, 'sent');
    const msgId = id();
    const e = env();
    const answers = await sendMulti(gil, {
      t: 'send.multi',
      id: msgId,
      env: e,
      to: [{ user: 'Hal' }, { user: 'Ivy' }],
    });
    expect(answers.map((a) => [a.user, a.t === 'sent' ? a.status : a.code])).toEqual([
      ['Hal', 'queue_full'],
      ['Ivy', 'queued'],
    ]);
    const again = await sendMulti(gil, { t: 'send.multi', id: msgId, env: e, to: [{ user: 'Ivy' }] });
    expect(again).toEqual([expect.objectContaining({ t: 'sent', status: 'queued', user: 'Ivy' })]);
    const ivy = await login('Ivy', ivyId);
    expect((await ivy.next('deliver')).id).toBe(msgId);
    ivy.send({ t: 'ack', id: msgId });
    const sentinel = id();
    await gil.request({ t: 'send', id: sentinel, to: 'Ivy', env: env() }, 'sent');
    expect((await ivy.next('deliver')).id).toBe(sentinel);
  });

  it('refuses malformed recipient lists with their codes and keeps serving', async () => {
    const jo = await login('Jo');
    const bad = async (to: unknown, code: string) => {
      const r = await jo.request({ t: 'send.multi', id: id(), env: env(), to } as never, 'sent');
      expect(r).toMatchObject({ t: 'error', code });
    };
    await bad([], 'bad_message');
    await bad([{ user: 'Eve' }, { user: 'EVE' }], 'bad_message');
    await bad([{ user: 'no such name!' }], 'bad_name');
    await bad(
      Array.from({ length: MAX_MULTI_RECIPIENTS + 1 }, (_, i) => ({ user: `u${i}` })),
      'too_large',
    );
    await bad([{ user: 'Eve', for: 'AAAA' }], 'bad_message');
    expect((await jo.request({ t: 'ping' }, 'pong')).t).toBe('pong');
  });
});

it('a send.multi costs one request token per 10 recipients', async () => {
  const relay = await startRelay({ limits: { requestsPerSecond: 0.001, requestBurst: 5 } });
  try {
    const kim = await loginClient(relay.port, 'Kim');
    const to = Array.from({ length: 60 }, (_, i) => ({ user: `nobody${i}` }));
    const r = await kim.request({ t: 'send.multi', id: id(), env: env(), to }, 'sent');
    expect(r).toMatchObject({ t: 'error', code: 'rate_limited' });
    kim.close();
  } finally {
    await relay.stop();
  }
});

describe('send.multi validation in lib/net', () => {
  const base = { t: 'send.multi', rid: 'r1', id: id(), env: env() };
  const parse = (m: object) => parseClientMessage(new Uint8Array(Buffer.from(JSON.stringify(m))));

  it('round-trips and drops unknown fields', () => {
    const m = parse({ ...base, to: [{ user: 'Eve', extra: 1 }], extra: 2 });
    expect(m).toEqual({ ...base, to: [{ user: 'Eve' }] });
  });

  it('refuses a missing envelope or list, and an oversized envelope', () => {
    expect(codeOf(() => parse({ ...base, to: undefined }))).toBe('bad_message');
    expect(codeOf(() => parse({ ...base, env: undefined, to: [{ user: 'Eve' }] }))).toBe('bad_message');
    expect(codeOf(() => parse({ ...base, to: 'Eve' }))).toBe('bad_message');
    expect(
      codeOf(() => parse({ ...base, to: [{ user: 'Eve' }], env: toBase64(randomBytes(47 * 1024)) })),
    ).toBe('too_large');
  });
});

it('the largest send.multi (100 recipients with for, the largest group message) fits one frame', () => {
  const to = Array.from({ length: MAX_MULTI_RECIPIENTS }, (_, i) => ({
    user: `u${String(i).padStart(31, 'x')}`,
    for: toBase64(createIdentity().signKey.publicKey),
  }));
  const msg: ClientMessage = {
    t: 'send.multi',
    rid: 'r'.repeat(64),
    id: id(),
    to,
    env: toBase64(randomBytes(MAX_GROUP_MESSAGE_LEN)),
  };
  const bytes = serializeMessage(msg);
  expect(bytes.length).toBeLessThanOrEqual(MAX_TRANSPORT_PLAINTEXT);
  expect(parseClientMessage(bytes)).toEqual(msg);
});
