/**
 * The relay's login check (docs/protocol.md section 5.3, lib/server/login.ts): `idcert` must be
 * `signKey`'s signature over the Noise static key the handshake authenticated, for a new name and
 * for a stored one, whatever else the login presents. A real in-process relay over loopback.
 */
import { createIdentity, type Identity } from '../../lib/crypto/identity';
import { sign, x25519KeyPair } from '../../lib/crypto/primitives';
import { connectClient, loginClient, startRelay, type TestRelay } from '../helpers/relay-harness';

let relay: TestRelay;

beforeEach(async () => {
  relay = await startRelay();
});

afterEach(async () => {
  await relay.stop();
});

/** Logs in with this identity and expects the relay to refuse it with `code`, then close. */
async function refusedWith(name: string, identity: Identity, code: string): Promise<void> {
  const c = await connectClient(relay.port, name, identity);
  expect(await c.next('error')).toMatchObject({ code });
  await c.whenClosed();
}

function flip(b: Uint8Array, i: number): Uint8Array {
  const out = Uint8Array.from(b);
  out[i] ^= 1;
  return out;
}

it('refuses a new name whose idcert signs another Noise key', async () => {
  const id = createIdentity();
  const idcert = sign(id.signKey.secretKey, 'chatsecure-idcert-v1', x25519KeyPair().publicKey);
  await refusedWith('Adam', { ...id, idcert }, 'handshake_failed');
  // Nothing was registered: the real identity takes the name.
  const adam = await loginClient(relay.port, 'Adam', id);
  adam.close();
});

it("refuses another identity's public signKey and idcert presented with one's own Noise key", async () => {
  const eve = createIdentity();
  (await loginClient(relay.port, 'Eve', eve)).close();
  // What keys.fetch hands anyone: Eve's signKey and idcert, with the intruder's own dhKey.
  const intruder: Identity = { signKey: eve.signKey, dhKey: x25519KeyPair(), idcert: eve.idcert };
  await refusedWith('Eve', intruder, 'handshake_failed');
});

it("refuses the stored identity's own keys with a certificate that is not their signature", async () => {
  const eve = createIdentity();
  (await loginClient(relay.port, 'Eve', eve)).close();
  for (const i of [0, 31, 32, 63])
    await refusedWith('Eve', { ...eve, idcert: flip(eve.idcert, i) }, 'handshake_failed');
  // The stored identity logs in as before, again and again.
  for (let n = 0; n < 2; n++) (await loginClient(relay.port, 'Eve', eve)).close();
});
