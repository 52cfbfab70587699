/**
 * Issue 10 (the relay under hostile load) and the relay side of issue 9 (identity check at send,
 * registration lock), against a real in-process relay over loopback sockets. Attack loops are
 * bounded in count; nothing here depends on how fast the machine is.
 */
import { createIdentity } from '../../lib/crypto/identity';
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import { recoveryKeyPair, recoveryProof } from '../../lib/crypto/recovery';
import { canonName } from '../../lib/names';
import { openRelayStore } from '../../lib/server/sqlite-store';
import type { RelayStore } from '../../lib/server/store';
import {
  connectClient,
  dial,
  loginClient,
  readLog,
  startRelay,
  tempDir,
  waitFor,
} from '../helpers/relay-harness';
import {
  makeOneTimePreKeys,
  makeSignedPreKey,
  publicOneTimePreKey,
  publicSignedPreKey,
  publicSignedPreKeyToJSON,
} from '../../lib/crypto/prekeys';
import type { Identity } from '../../lib/crypto/identity';

function generatePrekeys(identity: Identity, n: number) {
  const spk = publicSignedPreKeyToJSON(publicSignedPreKey(makeSignedPreKey(identity, 1, Date.now())));
  const opks = makeOneTimePreKeys(1, n).map((o) => {
    const p = publicOneTimePreKey(o);
    return { id: p.id, pub: toBase64(p.pub) };
  });
  return { spk, opks };
}

const id = () => toHex(randomBytes(16));
const env = () => toBase64(randomBytes(200));

it('refuses a send sealed for an old identity with identity_changed and stores nothing (issue 9.7)', async () => {
  const relay = await startRelay();
  try {
    const adam = await loginClient(relay.port, 'Adam');
    const eve = createIdentity();
    const e = await loginClient(relay.port, 'Eve', eve);
    e.close();
    const stale = toBase64(randomBytes(32));
    const msgId = id();
    const r = await adam.request({ t: 'send', id: msgId, to: 'eve', env: env(), for: stale }, 'sent');
    expect(r).toMatchObject({
      t: 'error',
      code: 'identity_changed',
      id: msgId,
      identity: { user: 'Eve', signKey: toBase64(eve.signKey.publicKey), idcert: toBase64(eve.idcert) },
    });
    const ok = await adam.request(
      { t: 'send', id: id(), to: 'Eve', env: env(), for: toBase64(eve.signKey.publicKey) },
      'sent',
    );
    expect(ok).toMatchObject({ t: 'sent', status: 'queued' });
    const back = await connectClient(relay.port, 'Eve', eve);
    expect((await back.next('welcome')).queued).toBe(1);
    adam.close();
    back.close();
  } finally {
    await relay.stop();
  }
});

it('gives a name to a new identity only with a recovery proof, dropping the old queue (issue 9.8)', async () => {
  const relay = await startRelay();
  try {
    const rk = recoveryKeyPair(randomBytes(20));
    const old = createIdentity();
    const first = await connectClient(relay.port, 'Eve', old, { recovery: toBase64(rk.publicKey) });
    await first.next('welcome');
    first.close();
    const adam = await loginClient(relay.port, 'Adam');
    await adam.request({ t: 'send', id: id(), to: 'Eve', env: env() }, 'sent');

    const thief = await connectClient(relay.port, 'Eve', createIdentity());
    expect((await thief.next('error')).code).toBe('name_taken');

    const fresh = createIdentity();
    const wrongKey = recoveryKeyPair(randomBytes(20));
    const badProof = recoveryProof(wrongKey.secretKey, 'eve', fresh.signKey.publicKey, fresh.dhKey.publicKey);
    const bad = await connectClient(relay.port, 'Eve', fresh, { recover: toBase64(badProof) });
    expect((await bad.next('error')).code).toBe('name_taken');

    const proof = recoveryProof(
      rk.secretKey,
      canonName('Eve'),
      fresh.signKey.publicKey,
      fresh.dhKey.publicKey,
    );
    const back = await connectClient(relay.port, 'Eve', fresh, { recover: toBase64(proof) });
    expect((await back.next('welcome')).queued).toBe(0);
    // The old identity no longer logs in.
    const ghost = await connectClient(relay.port, 'Eve', old);
    expect((await ghost.next('error')).code).toBe('name_taken');
    adam.close();
    back.close();
  } finally {
    await relay.stop();
  }
});

it('welcome announces the limits of the connection and lists nobody (issue 9.9)', async () => {
  const relay = await startRelay({ limits: { requestsPerSecond: 7 } });
  try {
    const c = await connectClient(relay.port, 'Ann');
    const w = await c.next('welcome');
    expect(w.limits).toMatchObject({ requestsPerSecond: 7, requestBurst: 200, keysFetchPerMinute: 10 });
    expect(w.users).toBeUndefined();
    c.close();
  } finally {
    await relay.stop();
  }
});

it('limits registrations per address (defect 4)', async () => {
  const relay = await startRelay({ limits: { registrationsPerAddressPerHour: 3 } });
  try {
    for (const n of ['a1', 'a2', 'a3']) (await loginClient(relay.port, n)).close();
    const fourth = await connectClient(relay.port, 'a4');
    expect((await fourth.next('error')).code).toBe('rate_limited');
    // A known name still logs in.
    const again = await connectClient(relay.port, 'b1', undefined, { localAddress: '127.0.0.2' });
    expect((await again.next('welcome')).t).toBe('welcome');
    again.close();
  } finally {
    await relay.stop();
  }
});

it('gives a new identity a smaller share of a queue, and an old contact still gets through (defect 4)', async () => {
  let clock = Date.now();
  const relay = await startRelay({
    now: () => clock,
    limits: { queuePerRecipient: 50, queuePerSender: 20, queuePerNewSender: 3, newIdentityMs: 3_600_000 },
  });
  try {
    const honest = createIdentity();
    (await loginClient(relay.port, 'Honest', honest)).close();
    const friend = await loginClient(relay.port, 'Friend');
    friend.close();
    clock += 2 * 3_600_000;
    const friendBack = await loginClient(relay.port, 'Friend', friend.identity);
    const bot = await loginClient(relay.port, 'Bot');
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await bot.request({ t: 'send', id: id(), to: 'Honest', env: env() }, 'sent');
      codes.push(r.t === 'error' ? r.code : r.status);
    }
    expect(codes).toEqual(['queued', 'queued', 'queued', 'queue_full']);
    const ok = await friendBack.request({ t: 'send', id: id(), to: 'Honest', env: env() }, 'sent');
    expect(ok).toMatchObject({ t: 'sent', status: 'queued' });
    bot.close();
    friendBack.close();
  } finally {
    await relay.stop();
  }
});

it('limits key fetches per requesting identity across connections, and one-time prekeys per target (defect 5)', async () => {
  const relay = await startRelay({ limits: { keysFetchPerMinute: 3, opksPerTargetPerHour: 2 } });
  try {
    const target = await loginClient(relay.port, 'Target');
    const keys = generatePrekeys(target.identity, 10);
    const pub = await target.request({ t: 'keys.publish', spk: keys.spk, opks: keys.opks }, 'keys.low');
    expect(pub).toMatchObject({ t: 'keys.low', remaining: 10 });
    const who = createIdentity();
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await loginClient(relay.port, 'Drainer', who);
      const r = await c.request({ t: 'keys.fetch', user: 'target' }, 'keys.bundle');
      got.push(r.t === 'error' ? r.code : r.opk ? 'opk' : 'no-opk');
      c.close();
      await c.whenClosed();
    }
    expect(got).toEqual(['opk', 'opk', 'no-opk', 'rate_limited', 'rate_limited']);
    const other = await loginClient(relay.port, 'Other');
    const r = await other.request({ t: 'keys.fetch', user: 'Target' }, 'keys.bundle');
    expect(r).toMatchObject({ t: 'keys.bundle', user: 'Target' });
    expect(r.t === 'keys.bundle' && r.opk).toBeUndefined();
    other.close();
    target.close();
  } finally {
    await relay.stop();
  }
});

it('refuses the names "." and ".." as the client does (defect 9)', async () => {
  const relay = await startRelay();
  try {
    for (const n of ['.', '..']) {
      const c = await connectClient(relay.port, n);
      // The login payload is refused where it is parsed: the handshake fails with bad_name.
      await c.whenClosed();
      expect(c.received.some((m) => m.t === 'welcome')).toBe(false);
    }
    await waitFor(
      () =>
        readLog(relay.logFile).filter(
          (l) => l.msg === 'handshake failed; connection closed' && l.code === 'bad_name',
        ).length >= 1,
      30_000,
      'bad_name logged',
    );
  } finally {
    await relay.stop();
  }
});

it('caps connections that are not logged in, per address, and logs it once (defect 3)', async () => {
  const relay = await startRelay({
    limits: { maxHandshakesPerAddress: 5 },
    timeouts: { handshakeDeadlineMs: 120_000 },
  });
  try {
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await dial(relay.port, '127.0.0.1', '127.0.0.3'));
    const extra = await dial(relay.port, '127.0.0.1', '127.0.0.3');
    await new Promise((resolve) => extra.on('close', resolve));
    const honest = await loginClient(relay.port, 'Honest');
    expect((await honest.request({ t: 'ping' }, 'pong')).t).toBe('pong');
    await waitFor(
      () =>
        readLog(relay.logFile).some((l) => String(l.msg).startsWith('too many connections not logged in')),
      30_000,
      'the refusal logged',
    );
    for (const s of idle) s.destroy();
    honest.close();
  } finally {
    await relay.stop();
  }
});

it('retries a delivery whose store read failed, without waiting for another send (defect 7)', async () => {
  const dir = tempDir();
  const real = openRelayStore(dir);
  let failures = 0;
  const store: RelayStore = Object.assign(Object.create(real) as RelayStore, {
    pending: (canon: string, limit?: number) => {
      if (canon === 'eve' && failures > 0) {
        failures--;
        return Promise.reject(new Error('injected read failure'));
      }
      return real.pending(canon, limit);
    },
  });
  const relay = await startRelay({ dir, store });
  try {
    const eve = createIdentity();
    (await loginClient(relay.port, 'Eve', eve)).close();
    const adam = await loginClient(relay.port, 'Adam');
    const msgId = id();
    await adam.request({ t: 'send', id: msgId, to: 'Eve', env: env() }, 'sent');
    failures = 1;
    const back = await loginClient(relay.port, 'Eve', eve);
    expect((await back.next('deliver')).id).toBe(msgId);
    expect(failures).toBe(0);
    adam.close();
    back.close();
  } finally {
    await relay.stop();
  }
});

it('coalesces repeated log lines and counts acks of unknown ids (defect 6)', async () => {
  const relay = await startRelay();
  try {
    const c = await loginClient(relay.port, 'Noisy');
    for (let i = 0; i < 600; i++) c.send({ t: 'ack', id: id() });
    await c.whenClosed();
    const refused = readLog(relay.logFile).filter((l) => l.msg === 'request refused');
    expect(refused.length).toBeLessThanOrEqual(2);
    const other = await loginClient(relay.port, 'Quiet');
    expect((await other.request({ t: 'ping' }, 'pong')).t).toBe('pong');
    other.close();
  } finally {
    await relay.stop();
  }
});

it('limits list per identity across connections, apart from the request rate, and others are served (defect 2)', async () => {
  const relay = await startRelay({ limits: { listPerMinute: 2 } });
  try {
    const who = createIdentity();
    const codes: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await loginClient(relay.port, 'Lister', who);
      for (let k = 0; k < 2; k++) {
        const r = await c.request({ t: 'list' }, 'users');
        codes.push(r.t === 'error' ? r.code : r.t);
      }
      // The connection is still served: only list is limited.
      expect((await c.request({ t: 'ping' }, 'pong')).t).toBe('pong');
      c.close();
      await c.whenClosed();
    }
    expect(codes).toEqual(['users', 'users', 'rate_limited', 'rate_limited']);
    const other = await loginClient(relay.port, 'Other');
    expect((await other.request({ t: 'list' }, 'users')).t).toBe('users');
    other.close();
  } finally {
    await relay.stop();
  }
});
