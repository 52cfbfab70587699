/** The Noise engine beyond the vectors: state-machine misuse, tampering, nonce limits, rekey. */
import { CipherState, HandshakeState, MAX_NONCE, parseProtocolName } from '../../lib/crypto/noise';
import { x25519KeyPair } from '../../lib/crypto/primitives';
import { codeOf as code } from '../helpers/error-code';

const XX = 'Noise_XX_25519_ChaChaPoly_SHA256';

function pair() {
  const i = new HandshakeState({ protocolName: XX, initiator: true, s: x25519KeyPair() });
  const r = new HandshakeState({ protocolName: XX, initiator: false, s: x25519KeyPair() });
  return { i, r };
}

it('refuses unsupported names with unsupported_pattern', () => {
  for (const n of [
    'Noise_XXfallback_25519_ChaChaPoly_SHA256',
    'Noise_XXpsk4_25519_ChaChaPoly_SHA256',
    'Noise_XXpsk3+psk3_25519_ChaChaPoly_SHA256',
    'Noise_XXpsk03_25519_ChaChaPoly_SHA256',
    'Noise_XXpsk_25519_ChaChaPoly_SHA256',
    'Noise_xx_25519_ChaChaPoly_SHA256',
    'Noise_XX_448_ChaChaPoly_SHA256',
    'Noise_XX_25519_AES256_SHA256',
    'Noise_XX_25519_ChaChaPoly_SHA256_extra',
    'Nois_XX_25519_ChaChaPoly_SHA256',
    'Noise_XX_25519_ChaChaPoly_BLAKE2b',
    'Nope',
  ]) {
    expect(code(() => parseProtocolName(n))).toBe('unsupported_pattern');
  }
});

it('refuses writing out of turn and reuse after the end', () => {
  const { i, r } = pair();
  expect(code(() => r.writeMessage())).toBe('bad_state');
  r.readMessage(i.writeMessage());
  i.readMessage(r.writeMessage());
  r.readMessage(i.writeMessage());
  expect(i.isFinished && r.isFinished).toBe(true);
  expect(code(() => i.writeMessage())).toBe('bad_state');
});

it('fails a handshake message with any flipped byte', () => {
  for (let pos = 0; pos < 96; pos += 7) {
    const { i, r } = pair();
    r.readMessage(i.writeMessage());
    const m2 = r.writeMessage(Buffer.from('payload'));
    const bad = Uint8Array.from(m2);
    bad[pos % bad.length] ^= 1;
    expect(code(() => i.readMessage(bad))).toBeDefined();
  }
});

it('ends a CipherState at the nonce limit with nonce_exhausted', () => {
  const c = new CipherState('ChaChaPoly', new Uint8Array(32).fill(7));
  c.setNonce(MAX_NONCE - 1n);
  c.encryptWithAd(new Uint8Array(0), Buffer.from('last'));
  expect(code(() => c.encryptWithAd(new Uint8Array(0), Buffer.from('one too many')))).toBe('nonce_exhausted');
});

it('rekeys both sides in step', () => {
  const a = new CipherState('AESGCM', new Uint8Array(32).fill(1));
  const b = new CipherState('AESGCM', new Uint8Array(32).fill(1));
  a.rekey();
  b.rekey();
  const ct = a.encryptWithAd(new Uint8Array(0), Buffer.from('after rekey'));
  expect(Buffer.from(b.decryptWithAd(new Uint8Array(0), ct)).toString()).toBe('after rekey');
});

it('leaves the nonce unchanged when a transport message fails to decrypt', () => {
  const a = new CipherState('ChaChaPoly', new Uint8Array(32).fill(3));
  const b = new CipherState('ChaChaPoly', new Uint8Array(32).fill(3));
  const ct = a.encryptWithAd(new Uint8Array(0), Buffer.from('m'));
  const bad = Uint8Array.from(ct);
  bad[0] ^= 1;
  expect(code(() => b.decryptWithAd(new Uint8Array(0), bad))).toBe('decrypt_failed');
  expect(b.nonce).toBe(0n);
  expect(Buffer.from(b.decryptWithAd(new Uint8Array(0), ct)).toString()).toBe('m');
});

function pskPair(name: string, ipsks: Uint8Array[], rpsks: Uint8Array[]) {
  const protocolName = `Noise_${name}_25519_ChaChaPoly_SHA256`;
  const i = new HandshakeState({ protocolName, initiator: true, psks: ipsks });
  const r = new HandshakeState({ protocolName, initiator: false, psks: rpsks });
  return { i, r };
}
const pskA = new Uint8Array(32).fill(0xa1);
const pskB = new Uint8Array(32).fill(0xb2);

it('runs a pattern with two psk modifiers, each key at its own token', () => {
  const { i, r } = pskPair('NNpsk0+psk2', [pskA, pskB], [pskA, pskB]);
  expect(i.protocol.pattern.messages).toEqual([
    ['psk', 'e'],
    ['e', 'ee', 'psk'],
  ]);
  r.readMessage(i.writeMessage());
  expect(Buffer.from(i.readMessage(r.writeMessage(Buffer.from('hi')))).toString()).toBe('hi');
  expect(Buffer.from(i.transport().handshakeHash)).toEqual(Buffer.from(r.transport().handshakeHash));
  // The same pattern with only psk0 ends in another handshake hash.
  const one = pskPair('NNpsk0', [pskA], [pskA]);
  one.r.readMessage(one.i.writeMessage());
  one.i.readMessage(one.r.writeMessage());
  expect(Buffer.from(one.i.transport().handshakeHash)).not.toEqual(Buffer.from(i.transport().handshakeHash));
});

it('fails a PSK handshake whose peer holds another key, or the keys in another order', () => {
  const wrong = pskPair('NNpsk0', [pskA], [pskB]);
  expect(code(() => wrong.r.readMessage(wrong.i.writeMessage()))).toBe('decrypt_failed');
  const swapped = pskPair('NNpsk0+psk2', [pskA, pskB], [pskB, pskA]);
  expect(code(() => swapped.r.readMessage(swapped.i.writeMessage()))).toBe('decrypt_failed');
  // psk2 only enters at the second message: the first still reads, the second does not.
  const late = pskPair('NNpsk2', [pskA], [pskB]);
  late.r.readMessage(late.i.writeMessage());
  expect(code(() => late.i.readMessage(late.r.writeMessage()))).toBe('decrypt_failed');
});

it('refuses a PSK handshake without one 32-byte key per psk token', () => {
  for (const keys of [[], [pskA, pskB], [new Uint8Array(31)], [new Uint8Array(33)]]) {
    expect(code(() => pskPair('XXpsk3', keys, keys))).toBe('bad_state');
  }
  expect(code(() => pskPair('XX', [pskA], [pskA]))).toBe('bad_state');
});

it('rekey changes the key: a peer that did not rekey can no longer decrypt', () => {
  const a = new CipherState('ChaChaPoly', new Uint8Array(32).fill(5));
  const stale = new CipherState('ChaChaPoly', new Uint8Array(32).fill(5));
  a.rekey();
  const ct = a.encryptWithAd(new Uint8Array(0), Buffer.from('x'));
  expect(code(() => stale.decryptWithAd(new Uint8Array(0), ct))).toBe('decrypt_failed');
});

it('allows nonce 2^64-2 and refuses 2^64-1, reserved for rekey', () => {
  const c = new CipherState('AESGCM', new Uint8Array(32).fill(9));
  c.setNonce(2n ** 64n - 2n);
  expect(c.encryptWithAd(new Uint8Array(0), Buffer.from('ok')).length).toBe(2 + 16);
  expect(c.nonce).toBe(2n ** 64n - 1n);
  expect(code(() => c.encryptWithAd(new Uint8Array(0), Buffer.from('no')))).toBe('nonce_exhausted');
  expect(code(() => c.decryptWithAd(new Uint8Array(0), new Uint8Array(16)))).toBe('nonce_exhausted');
});

it('refuses a handshake that needs our static key when none was given', () => {
  const i = new HandshakeState({ protocolName: XX, initiator: true });
  const r = new HandshakeState({ protocolName: XX, initiator: false });
  r.readMessage(i.writeMessage());
  expect(code(() => r.writeMessage())).toBe('bad_state');
  expect(
    code(() => new HandshakeState({ protocolName: 'Noise_NK_25519_ChaChaPoly_SHA256', initiator: true })),
  ).toBe('bad_state');
});

it('gives no transport keys before the last handshake message', () => {
  const { i, r } = pair();
  expect(code(() => i.transport())).toBe('bad_state');
  r.readMessage(i.writeMessage());
  i.readMessage(r.writeMessage());
  expect(code(() => i.transport())).toBe('bad_state');
  r.readMessage(i.writeMessage());
  expect(i.transport().send).toBeDefined();
  expect(code(() => r.readMessage(new Uint8Array(48)))).toBe('bad_state');
});

it('refuses a short handshake message with handshake_failed', () => {
  const { i, r } = pair();
  const m1 = i.writeMessage();
  expect(m1.length).toBe(32);
  expect(code(() => r.readMessage(m1.subarray(0, 31)))).toBe('handshake_failed');
  const fresh = pair();
  fresh.r.readMessage(fresh.i.writeMessage());
  const m2 = fresh.r.writeMessage();
  // e (32) + encrypted s (48) + the empty payload's tag (16): one byte short of the static key.
  expect(m2.length).toBe(96);
  expect(code(() => fresh.i.readMessage(m2.subarray(0, 79)))).toBe('handshake_failed');
});

it('refuses handshake messages over 65535 bytes, written or read', () => {
  const { i, r } = pair();
  // 32 bytes of e plus the payload: 65503 bytes of payload make exactly 65535.
  const max = i.writeMessage(new Uint8Array(65535 - 32));
  expect(max.length).toBe(65535);
  expect(r.readMessage(max).length).toBe(65503);
  const big = pair();
  expect(code(() => big.i.writeMessage(new Uint8Array(65535 - 31)))).toBe('too_large');
  const other = pair();
  expect(code(() => other.r.readMessage(new Uint8Array(65536)))).toBe('too_large');
});

it('names a PSK pattern by its base and modifiers, and refuses modifiers with anything around them', () => {
  expect(parseProtocolName('Noise_NNpsk0+psk2_25519_ChaChaPoly_SHA256').pattern.name).toBe('NNpsk0+psk2');
  expect(parseProtocolName('Noise_XXpsk3_25519_AESGCM_SHA256').pattern.name).toBe('XXpsk3');
  for (const n of [
    'Noise_xXX_25519_ChaChaPoly_SHA256',
    'Noise_NNxpsk0_25519_ChaChaPoly_SHA256',
    'Noise_NNpsk1a_25519_ChaChaPoly_SHA256',
    'Noise_NNpsk0+psk2x_25519_ChaChaPoly_SHA256',
  ])
    expect([n, code(() => parseProtocolName(n))]).toEqual([n, 'unsupported_pattern']);
});

it('a CipherState without a key passes data through, and rekeying it does nothing', () => {
  const c = new CipherState('ChaChaPoly');
  c.rekey();
  expect(c.hasKey()).toBe(false);
  expect(Buffer.from(c.encryptWithAd(new Uint8Array(0), Buffer.from('clear'))).toString()).toBe('clear');
});

it('a destroyed CipherState holds no key', () => {
  const c = new CipherState('ChaChaPoly', new Uint8Array(32).fill(8));
  expect(c.hasKey()).toBe(true);
  c.destroy();
  expect(c.hasKey()).toBe(false);
});
