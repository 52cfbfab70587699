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
