/** Shared fixtures for the end-to-end crypto tests: deterministic randomness and two users. */
import { createIdentity, publicIdentity, type Identity } from '../../lib/crypto/identity';
import {
  makeOneTimePreKeys,
  makeSignedPreKey,
  publicOneTimePreKey,
  publicSignedPreKey,
  type OneTimePreKey,
  type PreKeyBundle,
  type SignedPreKey,
} from '../../lib/crypto/prekeys';
import { concatBytes, sha256, type Bytes, type KeyPair } from '../../lib/crypto/primitives';
import type { RandomSource } from '../../lib/crypto/random-source';
import type { PreKeyLookup } from '../../lib/crypto/session-manager';

/** A reproducible byte stream: SHA-256(label || seed || counter) blocks. */
export function seededRandom(seed: number, label = 'test'): RandomSource {
  let counter = 0;
  return (length: number): Bytes => {
    const out = new Uint8Array(length);
    let off = 0;
    while (off < length) {
      const ctr = new Uint8Array(8);
      new DataView(ctr.buffer).setUint32(0, seed >>> 0);
      new DataView(ctr.buffer).setUint32(4, counter++);
      const block = sha256(concatBytes(new TextEncoder().encode(label), ctr));
      out.set(block.subarray(0, Math.min(block.length, length - off)), off);
      off += block.length;
    }
    return out;
  };
}

export const T0 = Date.UTC(2026, 0, 1);

/** A user with an identity and prekeys, as a client would hold them. */
export interface TestUser {
  readonly name: string;
  readonly identity: Identity;
  readonly spk: SignedPreKey;
  readonly opks: Map<number, OneTimePreKey>;
}

export function makeUser(name: string, seed: number, opkCount = 5): TestUser {
  const random = seededRandom(seed, name);
  const identity = createIdentity(random);
  const spk = makeSignedPreKey(identity, 1, T0, random);
  const opks = new Map(makeOneTimePreKeys(1, opkCount, random).map((k) => [k.id, k]));
  return { name, identity, spk, opks };
}

/** The bundle the relay would hand out; `takeOpk` consumes the lowest one-time prekey id. */
export function bundleOf(user: TestUser, withOpk = true): PreKeyBundle {
  const first = withOpk ? [...user.opks.values()][0] : undefined;
  return {
    identity: publicIdentity(user.identity),
    spk: publicSignedPreKey(user.spk),
    ...(first ? { opk: publicOneTimePreKey(first) } : {}),
  };
}

export function lookupOf(user: TestUser, extraSpks: readonly SignedPreKey[] = []): PreKeyLookup {
  return {
    signedPreKey: (id: number): KeyPair | undefined =>
      [user.spk, ...extraSpks].find((k) => k.id === id)?.keyPair,
    oneTimePreKey: (id: number): KeyPair | undefined => user.opks.get(id)?.keyPair,
  };
}

export function hex(b: Bytes): string {
  return Buffer.from(b).toString('hex');
}
