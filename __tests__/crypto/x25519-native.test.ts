/** The native X25519 every layer uses (x25519NativeWith) is byte-identical to tweetnacl's (PROTOCOL.md section 2). */
import fc from 'fast-check';
import { isChatError } from '../../lib/errors';
import {
  x25519KeyPair as keyPairFromSecret,
  x25519Nacl as x25519,
  x25519NativeWith as dh,
  x25519PublicKeyNacl as x25519PublicKey,
} from '../../lib/crypto/primitives';

describe('x25519NativeWith (native X25519)', () => {
  test('public keys and shared secrets match tweetnacl for random secrets', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (a, b) => {
          const ka = keyPairFromSecret(a);
          const kb = keyPairFromSecret(b);
          expect(Buffer.from(ka.publicKey).toString('hex')).toBe(
            Buffer.from(x25519PublicKey(a)).toString('hex'),
          );
          const shared = dh(ka, kb.publicKey);
          expect(Buffer.from(shared).toString('hex')).toBe(
            Buffer.from(x25519(a, kb.publicKey)).toString('hex'),
          );
          expect(Buffer.from(dh(kb, ka.publicKey)).toString('hex')).toBe(Buffer.from(shared).toString('hex'));
        },
      ),
      { numRuns: 20 },
    );
  });

  test('RFC 7748 section 6.1 vector', () => {
    const a = keyPairFromSecret(
      Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex'),
    );
    const bPub = new Uint8Array(
      Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex'),
    );
    expect(Buffer.from(a.publicKey).toString('hex')).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    expect(Buffer.from(dh(a, bPub)).toString('hex')).toBe(
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
  });

  test('a small-order peer key is bad_key, never a key', () => {
    const a = keyPairFromSecret(new Uint8Array(32).fill(5));
    for (const bad of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      let code: string | undefined;
      try {
        dh(a, bad);
      } catch (err) {
        if (isChatError(err)) code = err.code;
      }
      expect(code).toBe('bad_key');
    }
  });
});
