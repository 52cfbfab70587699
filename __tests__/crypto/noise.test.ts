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
    'Noise_XXpsk3_25519_ChaChaPoly_SHA256',
    'Noise_XX_448_ChaChaPoly_SHA256',
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
