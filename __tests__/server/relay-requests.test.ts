/**
 * The relay's request handling (issue 3): presence, routing, coded errors for malformed
 * requests and floods without harm to anyone else, and 200 clients at once.
 */
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import type { ClientMessage } from '../../lib/net/messages';
import { loginClient, startRelay, type TestClient, type TestRelay } from '../helpers/relay-harness';

let relay: TestRelay;
const clients: TestClient[] = [];

async function login(name: string): Promise<TestClient> {
  const c = await loginClient(relay.port, name);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  relay = await startRelay();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await relay.stop();
});

const id = () => toHex(randomBytes(16));

it('announces presence and routes an envelope with sent + deliver, deleted on ack', async () => {
  const adam = await login('Adam');
  const watched = await adam.request({ t: 'presence.watch', users: ['Eve'] }, 'presence.batch');
  expect(watched).toMatchObject({ t: 'presence.batch', changes: [] });
  const eve = await login('Eve');
  expect(await adam.next('presence')).toMatchObject({ user: 'Eve', online: true });
  const env = toBase64(randomBytes(300));
  const msgId = id();
  const sent = await adam.request({ t: 'send', id: msgId, to: 'eve', env }, 'sent');
  expect(sent).toMatchObject({ t: 'sent', id: msgId, status: 'delivered' });
  const d = await eve.next('deliver');
  expect(d).toMatchObject({ id: msgId, from: 'Adam', env });
  eve.send({ t: 'ack', id: msgId });
  const users = await eve.request({ t: 'list' }, 'users');
  expect(users.t === 'users' && users.users.filter((u) => u.online).map((u) => u.name)).toEqual(
    expect.arrayContaining(['Adam', 'Eve']),
  );
});

it('answers malformed requests with their codes and keeps serving', async () => {
  const mallory = await login('Mallory');
  const cases: [string, string][] = [
    ['{not json', 'bad_message'],
    [JSON.stringify({ t: 'launch', rid: 'a1' }), 'bad_message'],
    [JSON.stringify({ t: 'send', rid: 'a2', id: id(), to: 'Eve' }), 'bad_message'],
    [JSON.stringify({ t: 'send', rid: 'a3', id: 'XYZ', to: 'Eve', env: 'AAAA' }), 'bad_message'],
    [JSON.stringify({ t: 'send', rid: 'a4', id: id(), to: 'no such name!', env: 'AAAA' }), 'bad_name'],
  ];
  for (const [text, code] of cases) {
    const err = mallory.next('error');
    mallory.sendRaw(text);
    expect((await err).code).toBe(code);
  }
  const unknown = await mallory.request({ t: 'send', id: id(), to: 'Nobody', env: 'AAAA' }, 'sent');
  expect(unknown).toMatchObject({ t: 'error', code: 'unknown_user' });
  const fetch = await mallory.request({ t: 'keys.fetch', user: 'Nobody' }, 'keys.bundle');
  expect(fetch).toMatchObject({ t: 'error', code: 'unknown_user' });
  // An envelope over the limit.
  const big = await mallory.request(
    { t: 'send', id: id(), to: 'Eve', env: toBase64(randomBytes(47 * 1024)) },
    'sent',
  );
  expect(big).toMatchObject({ t: 'error', code: 'too_large' });
  expect((await mallory.request({ t: 'ping' }, 'pong')).t).toBe('pong');
});

it('rate-limits a flood of 1000 requests with rate_limited, closes it past the refusals, and others are unaffected', async () => {
  const flooder = await login('Flooder');
  const other = await login('Other');
  let pongs = 0;
  let limited = 0;
  flooder.channel.on('message', (m) => {
    if (m.t === 'pong') pongs++;
    else if (m.t === 'error' && m.code === 'rate_limited') limited++;
  });
  for (let i = 0; i < 1000; i++) flooder.send({ t: 'ping', rid: `f${i}` } as ClientMessage);
  // Defect 2: refusals are answered at a bounded rate; one that goes on is closed with a code.
  await flooder.whenClosed();
  expect(limited).toBeGreaterThan(0);
  expect(limited).toBeLessThan(800);
  expect(pongs).toBeGreaterThanOrEqual(200);
  expect((await other.request({ t: 'ping' }, 'pong')).t).toBe('pong');
});

it('carries messages for 200 clients connected at once, each sending to another', async () => {
  const n = 200;
  const many: TestClient[] = [];
  for (let i = 0; i < n; i += 20) {
    many.push(
      ...(await Promise.all(Array.from({ length: 20 }, (_, j) => loginClient(relay.port, `load${i + j}`)))),
    );
  }
  clients.push(...many);
  const envs = many.map(() => toBase64(randomBytes(100)));
  const got = Promise.all(many.map((c) => c.next('deliver', () => true, 120_000)));
  many.forEach((c, i) =>
    c.send({ t: 'send', rid: `s${i}`, id: id(), to: `load${(i + 1) % n}`, env: envs[i] }),
  );
  const delivered = await got;
  delivered.forEach((d, i) => {
    expect(d.from).toBe(`load${(i + n - 1) % n}`);
    expect(d.env).toBe(envs[(i + n - 1) % n]);
  });
}, 240_000);
