/**
 * A Noise Protocol Framework engine (revision 34): handshake patterns as data, the
 * CipherState / SymmetricState / HandshakeState objects of sections 5.1-5.3, with the
 * spec's names kept (mixKey, mixHash, encryptAndHash, split, ck, h) so review against the
 * spec is easy. DH 25519, ciphers ChaChaPoly and AESGCM, hash SHA256.
 *
 * No I/O: `writeMessage(payload) -> bytes` and `readMessage(bytes) -> payload`. A driver
 * (lib/net/secure-channel.ts) moves the bytes. PSK modifiers (section 9, names per section
 * 10.2): any `pskN` token, several in one pattern (`NNpsk0+psk2`); no other modifiers.
 */
import { ChatError } from '../errors';
import {
  aeadDecrypt,
  aeadEncrypt,
  type AeadCipher,
  type Bytes,
  concatBytes,
  hmacSha256,
  type KeyPair,
  sha256,
  utf8,
  wipe,
  x25519NativeWith,
  x25519KeyPair,
} from './primitives';

export const DHLEN = 32;
export const HASHLEN = 32;
/** Noise section 3: every Noise message is at most 65535 bytes. */
export const MAX_MESSAGE_LEN = 65535;
const TAG_LEN = 16;
/** Section 5.1: the nonce 2^64-1 is reserved (for rekey); reaching it ends the CipherState. */
export const MAX_NONCE = 2n ** 64n - 1n;

// ---------------------------------------------------------------------------------------------
// Handshake patterns (sections 7.4, 7.5, 7.6 of the specification), as data.

export type PreToken = 'e' | 's';
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

/** Section 9.2: every pre-shared key is 32 bytes. */
export const PSK_LEN = 32;

export interface HandshakePattern {
  readonly name: string;
  /** Pre-message keys the responder knows of the initiator (`-> s` before `...`). */
  readonly initiatorPre: readonly PreToken[];
  /** Pre-message keys the initiator knows of the responder (`<- s` before `...`). */
  readonly responderPre: readonly PreToken[];
  /** Message patterns, alternating initiator -> responder from the first. */
  readonly messages: readonly (readonly Token[])[];
  /** One-way patterns (N, K, X): a single message; afterwards only the initiator sends. */
  readonly oneWay: boolean;
  /** Number of `psk` tokens; a PSK handshake (more than 0) also mixes each `e` into the key. */
  readonly psks: number;
}

function pattern(
  name: string,
  pre: { i?: PreToken[]; r?: PreToken[] },
  messages: string[],
  oneWay = false,
): HandshakePattern {
  return {
    name,
    initiatorPre: pre.i ?? [],
    responderPre: pre.r ?? [],
    messages: messages.map((m) => m.split(',').map((t) => t.trim() as Token)),
    oneWay,
    psks: 0,
  };
}

const S: PreToken[] = ['s'];

export const PATTERNS: Readonly<Record<string, HandshakePattern>> = Object.fromEntries(
  [
    // One-way patterns (7.4).
    pattern('N', { r: S }, ['e, es'], true),
    pattern('K', { i: S, r: S }, ['e, es, ss'], true),
    pattern('X', { r: S }, ['e, es, s, ss'], true),
    // Fundamental interactive patterns (7.5).
    pattern('NN', {}, ['e', 'e, ee']),
    pattern('NK', { r: S }, ['e, es', 'e, ee']),
    pattern('NX', {}, ['e', 'e, ee, s, es']),
    pattern('XN', {}, ['e', 'e, ee', 's, se']),
    pattern('XK', { r: S }, ['e, es', 'e, ee', 's, se']),
    pattern('XX', {}, ['e', 'e, ee, s, es', 's, se']),
    pattern('KN', { i: S }, ['e', 'e, ee, se']),
    pattern('KK', { i: S, r: S }, ['e, es, ss', 'e, ee, se']),
    pattern('KX', { i: S }, ['e', 'e, ee, se, s, es']),
    pattern('IN', {}, ['e, s', 'e, ee, se']),
    pattern('IK', { r: S }, ['e, es, s, ss', 'e, ee, se']),
    pattern('IX', {}, ['e, s', 'e, ee, se, s, es']),
    // Deferred patterns (7.6).
    pattern('NK1', { r: S }, ['e', 'e, ee, es']),
    pattern('NX1', {}, ['e', 'e, ee, s', 'es']),
    pattern('X1N', {}, ['e', 'e, ee', 's', 'se']),
    pattern('X1K', { r: S }, ['e, es', 'e, ee', 's', 'se']),
    pattern('XK1', { r: S }, ['e', 'e, ee, es', 's, se']),
    pattern('X1K1', { r: S }, ['e', 'e, ee, es', 's', 'se']),
    pattern('X1X', {}, ['e', 'e, ee, s, es', 's', 'se']),
    pattern('XX1', {}, ['e', 'e, ee, s', 'es, s, se']),
    pattern('X1X1', {}, ['e', 'e, ee, s', 'es, s', 'se']),
    pattern('K1N', { i: S }, ['e', 'e, ee', 'se']),
    pattern('K1K', { i: S, r: S }, ['e, es', 'e, ee', 'se']),
    pattern('KK1', { i: S, r: S }, ['e', 'e, ee, se, es']),
    pattern('K1K1', { i: S, r: S }, ['e', 'e, ee, es', 'se']),
    pattern('K1X', { i: S }, ['e', 'e, ee, s, es', 'se']),
    pattern('KX1', { i: S }, ['e', 'e, ee, se, s', 'es']),
    pattern('K1X1', { i: S }, ['e', 'e, ee, s', 'se, es']),
    pattern('I1N', {}, ['e, s', 'e, ee', 'se']),
    pattern('I1K', { r: S }, ['e, es, s', 'e, ee', 'se']),
    pattern('IK1', { r: S }, ['e, s', 'e, ee, se, es']),
    pattern('I1K1', { r: S }, ['e, s', 'e, ee, es', 'se']),
    pattern('I1X', {}, ['e, s', 'e, ee, s, es', 'se']),
    pattern('IX1', {}, ['e, s', 'e, ee, se, s', 'es']),
    pattern('I1X1', {}, ['e, s', 'e, ee, s', 'se, es']),
  ].map((p) => [p.name, p]),
);

export interface NoiseProtocol {
  readonly name: string;
  readonly pattern: HandshakePattern;
  readonly cipher: AeadCipher;
}

/**
 * Section 9.3: `pskN` puts a `psk` token at the start of the first message (N = 0) or at the
 * end of message N; modifiers apply left to right. `XXpsk3`, `NNpsk0+psk2`.
 */
function withPskModifiers(base: HandshakePattern, modifiers: string): HandshakePattern {
  const messages = base.messages.map((m) => [...m]);
  const seen = new Set<number>();
  for (const modifier of modifiers.split('+')) {
    const m = /^psk(0|[1-9][0-9]*)$/.exec(modifier);
    if (!m) throw new ChatError('unsupported_pattern', `pattern modifier ${modifier} is not supported`);
    const n = Number(m[1]);
    if (n > messages.length || seen.has(n)) {
      throw new ChatError('unsupported_pattern', `modifier ${modifier} does not fit pattern ${base.name}`);
    }
    seen.add(n);
    if (n === 0) messages[0].unshift('psk');
    else messages[n - 1].push('psk');
  }
  return { ...base, name: base.name + modifiers, messages, psks: seen.size };
}

/** Parses `Noise_XX_25519_ChaChaPoly_SHA256`; anything this engine cannot run is `unsupported_pattern`. */
export function parseProtocolName(name: string): NoiseProtocol {
  const parts = name.split('_');
  if (parts.length !== 5 || parts[0] !== 'Noise') {
    throw new ChatError('unsupported_pattern', 'not a Noise protocol name');
  }
  const [, patternName, dh, cipher, hash] = parts;
  // Section 10.2: the base pattern's name, then modifiers, the first appended directly and the
  // others after a '+'. Base names are the uppercase letters and digits of section 7.
  const [, baseName, modifiers] = /^([A-Z0-9]+)(.*)$/.exec(patternName) ?? [];
  const base = baseName === undefined ? undefined : PATTERNS[baseName];
  if (!base) throw new ChatError('unsupported_pattern', `handshake pattern ${patternName} is not supported`);
  const p = modifiers ? withPskModifiers(base, modifiers) : base;
  if (dh !== '25519') throw new ChatError('unsupported_pattern', `DH function ${dh} is not supported`);
  if (cipher !== 'ChaChaPoly' && cipher !== 'AESGCM') {
    throw new ChatError('unsupported_pattern', `cipher ${cipher} is not supported`);
  }
  if (hash !== 'SHA256') throw new ChatError('unsupported_pattern', `hash ${hash} is not supported`);
  return { name, pattern: p, cipher };
}

// ---------------------------------------------------------------------------------------------
// CipherState (section 5.1)

/** Section 12: 4 zero bytes, then the counter, little-endian for ChaChaPoly, big-endian for AESGCM. */
function nonceBytes(cipher: AeadCipher, n: bigint): Bytes {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setBigUint64(4, n, cipher === 'ChaChaPoly');
  return out;
}

const EMPTY = new Uint8Array(0);

export class CipherState {
  private k: Bytes | undefined;
  private n = 0n;

  constructor(
    readonly cipher: AeadCipher,
    k?: Bytes,
  ) {
    this.k = k ? Uint8Array.from(k) : undefined;
  }

  hasKey(): boolean {
    return this.k !== undefined;
  }

  /** The next nonce this state will use (for tests and limits). */
  get nonce(): bigint {
    return this.n;
  }

  /** Section 5.1 SetNonce; used by tests to reach the nonce limit. */
  setNonce(n: bigint): void {
    this.n = n;
  }

  private nextNonce(): Bytes {
    if (this.n >= MAX_NONCE) {
      throw new ChatError('nonce_exhausted', 'the transport nonce reached its limit; the session must end');
    }
    return nonceBytes(this.cipher, this.n);
  }

  encryptWithAd(ad: Bytes, plaintext: Bytes): Bytes {
    if (!this.k) return plaintext;
    const out = aeadEncrypt(this.cipher, this.k, this.nextNonce(), ad, plaintext);
    this.n++;
    return out;
  }

  /** A failed decryption leaves the nonce unchanged (section 5.1) and throws `decrypt_failed`. */
  decryptWithAd(ad: Bytes, ciphertext: Bytes): Bytes {
    if (!this.k) return ciphertext;
    const out = aeadDecrypt(this.cipher, this.k, this.nextNonce(), ad, ciphertext);
    this.n++;
    return out;
  }

  /** Section 4.2 REKEY: k = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes). */
  rekey(): void {
    if (!this.k) return;
    const next = aeadEncrypt(
      this.cipher,
      this.k,
      nonceBytes(this.cipher, MAX_NONCE),
      EMPTY,
      new Uint8Array(32),
    );
    wipe(this.k);
    this.k = next.subarray(0, 32);
  }

  /** Drops the key: called when a connection ends. */
  destroy(): void {
    wipe(this.k);
    this.k = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// SymmetricState (section 5.2)

/** Section 4.3 HKDF with HMAC-SHA256: two or three outputs from a chaining key. */
function noiseHkdf(chainingKey: Bytes, ikm: Bytes, outputs: 2 | 3): Bytes[] {
  const tempKey = hmacSha256(chainingKey, ikm);
  const out1 = hmacSha256(tempKey, new Uint8Array([1]));
  const out2 = hmacSha256(tempKey, out1, new Uint8Array([2]));
  if (outputs === 2) return [out1, out2];
  return [out1, out2, hmacSha256(tempKey, out2, new Uint8Array([3]))];
}

export class SymmetricState {
  private cs: CipherState;
  private ck: Bytes;
  private h: Bytes;

  constructor(protocolName: string, cipher: AeadCipher) {
    const name = utf8(protocolName);
    // InitializeSymmetric: h = name padded to HASHLEN, or HASH(name) if longer.
    this.h = name.length <= HASHLEN ? concatBytes(name, new Uint8Array(HASHLEN - name.length)) : sha256(name);
    this.ck = this.h;
    this.cs = new CipherState(cipher);
  }

  get cipher(): AeadCipher {
    return this.cs.cipher;
  }

  get handshakeHash(): Bytes {
    return this.h;
  }

  hasKey(): boolean {
    return this.cs.hasKey();
  }

  mixKey(ikm: Bytes): void {
    const [ck, tempK] = noiseHkdf(this.ck, ikm, 2);
    this.ck = ck;
    // InitializeKey(temp_k truncated to 32 bytes); HASHLEN is 32 already.
    this.cs = new CipherState(this.cs.cipher, tempK);
  }

  mixHash(data: Bytes): void {
    this.h = sha256(this.h, data);
  }

  /** Section 5.2 MixKeyAndHash, for `psk` tokens. */
  mixKeyAndHash(ikm: Bytes): void {
    const [ck, tempH, tempK] = noiseHkdf(this.ck, ikm, 3);
    this.ck = ck;
    this.mixHash(tempH);
    this.cs = new CipherState(this.cs.cipher, tempK);
  }

  encryptAndHash(plaintext: Bytes): Bytes {
    const ct = this.cs.encryptWithAd(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Bytes): Bytes {
    const pt = this.cs.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = noiseHkdf(this.ck, EMPTY, 2);
    const pair: [CipherState, CipherState] = [
      new CipherState(this.cs.cipher, k1),
      new CipherState(this.cs.cipher, k2),
    ];
    wipe(k1);
    wipe(k2);
    wipe(this.ck);
    this.cs.destroy();
    return pair;
  }
}

// ---------------------------------------------------------------------------------------------
// HandshakeState (section 5.3)

/** X25519 between one of our key pairs and a remote public key. */
export type DhFunction = (local: KeyPair, remotePublic: Bytes) => Bytes;

/** The default DH: primitives.x25519 (native, proved identical to tweetnacl; PROTOCOL.md section 2). */
export const defaultDh: DhFunction = (local, remotePublic) => x25519NativeWith(local, remotePublic);

export interface HandshakeOptions {
  /** Full protocol name, e.g. `Noise_XX_25519_ChaChaPoly_SHA256`. */
  readonly protocolName: string;
  readonly initiator: boolean;
  readonly prologue?: Bytes;
  /** Our static key pair, if the pattern uses one. */
  readonly s?: KeyPair;
  /** Our ephemeral key pair; injected by tests, otherwise generated when the pattern needs it. */
  readonly e?: KeyPair;
  /** The peer's static public key, when it is a pre-message. */
  readonly rs?: Bytes;
  /** The peer's ephemeral public key, when it is a pre-message. */
  readonly re?: Bytes;
  /** X25519 implementation; defaults to primitives.x25519. Tests may inject another. */
  readonly dh?: DhFunction;
  /** Ephemeral generator, for tests that need determinism; defaults to fresh random keys. */
  readonly generateKeyPair?: () => KeyPair;
  /** Pre-shared keys (32 bytes each), one per `psk` token of the pattern, used in order. */
  readonly psks?: readonly Bytes[];
}

/** The result of a finished handshake: the transport CipherStates and the handshake hash. */
export interface TransportKeys {
  /** Encrypts what we send. Undefined for the responder of a one-way pattern. */
  readonly send: CipherState | undefined;
  /** Decrypts what we receive. Undefined for the initiator of a one-way pattern. */
  readonly recv: CipherState | undefined;
  readonly handshakeHash: Bytes;
  /** The peer's static public key, if the pattern transmitted or pre-shared it. */
  readonly remoteStatic: Bytes | undefined;
}

export class HandshakeState {
  readonly protocol: NoiseProtocol;
  readonly initiator: boolean;
  private readonly ss: SymmetricState;
  private s: KeyPair | undefined;
  private e: KeyPair | undefined;
  private rs: Bytes | undefined;
  private re: Bytes | undefined;
  private readonly dh: DhFunction;
  private readonly generateKeyPair: () => KeyPair;
  private readonly psks: Bytes[];
  private messageIndex = 0;
  private finished: TransportKeys | undefined;

  constructor(opts: HandshakeOptions) {
    this.protocol = parseProtocolName(opts.protocolName);
    this.initiator = opts.initiator;
    this.ss = new SymmetricState(opts.protocolName, this.protocol.cipher);
    this.s = opts.s;
    this.e = opts.e;
    this.rs = opts.rs;
    this.re = opts.re;
    this.dh = opts.dh ?? defaultDh;
    this.generateKeyPair = opts.generateKeyPair ?? (() => x25519KeyPair());
    const psks = opts.psks ?? [];
    const want = this.protocol.pattern.psks;
    if (psks.length !== want) {
      throw new ChatError('bad_state', `pattern ${this.protocol.pattern.name} needs ${want} pre-shared keys`);
    }
    if (psks.some((k) => k.length !== PSK_LEN)) {
      throw new ChatError('bad_state', 'a pre-shared key must be 32 bytes');
    }
    this.psks = psks.map((k) => Uint8Array.from(k));

    this.ss.mixHash(opts.prologue ?? EMPTY);
    // Pre-messages: the initiator's keys first, then the responder's (section 5.3, Initialize).
    const p = this.protocol.pattern;
    for (const t of p.initiatorPre) this.ss.mixHash(this.preKey(t, this.initiator));
    for (const t of p.responderPre) this.ss.mixHash(this.preKey(t, !this.initiator));
  }

  private preKey(t: PreToken, ours: boolean): Bytes {
    const key = ours ? (t === 's' ? this.s?.publicKey : this.e?.publicKey) : t === 's' ? this.rs : this.re;
    if (!key)
      throw new ChatError('bad_state', `pattern ${this.protocol.pattern.name} needs a pre-shared ${t} key`);
    return key;
  }

  /** True when it is our turn to write the next handshake message. */
  get isMyTurn(): boolean {
    return !this.finished && this.messageIndex % 2 === (this.initiator ? 0 : 1);
  }

  get isFinished(): boolean {
    return this.finished !== undefined;
  }

  get handshakeHash(): Bytes {
    return this.ss.handshakeHash;
  }

  /** The peer's static key once known (after the token that carries it). */
  get remoteStatic(): Bytes | undefined {
    return this.rs;
  }

  private nextTokens(writing: boolean): readonly Token[] {
    if (this.finished) throw new ChatError('bad_state', 'the handshake is already finished');
    if (writing !== this.isMyTurn) {
      throw new ChatError(
        'bad_state',
        writing ? 'it is not our turn to write' : 'it is not our turn to read',
      );
    }
    return this.protocol.pattern.messages[this.messageIndex];
  }

  /** Section 9.2: in a PSK handshake an `e` token also calls MixKey(e.public_key). */
  private mixEphemeral(publicKey: Bytes): void {
    this.ss.mixHash(publicKey);
    if (this.protocol.pattern.psks > 0) this.ss.mixKey(publicKey);
  }

  /** A `psk` token: MixKeyAndHash with the next pre-shared key, which is then wiped. */
  private mixPsk(): void {
    // The constructor checked there is one key per psk token.
    const psk = this.psks.shift() as Bytes;
    this.ss.mixKeyAndHash(psk);
    wipe(psk);
  }

  /** The DH for a two-letter token, seen from our side (section 5.3, WriteMessage). */
  private mixDh(token: 'ee' | 'es' | 'se' | 'ss'): void {
    const need = <T>(v: T | undefined, what: string): T => {
      if (v === undefined) throw new ChatError('bad_state', `token ${token} needs ${what}`);
      return v;
    };
    const i = this.initiator;
    // es: initiator's e with responder's s; se: initiator's s with responder's e.
    const local =
      token === 'ee' || (token === 'es' && i) || (token === 'se' && !i)
        ? need(this.e, 'our ephemeral key')
        : need(this.s, 'our static key');
    const remote =
      token === 'ee' || (token === 'se' && i) || (token === 'es' && !i)
        ? need(this.re, 'the remote ephemeral key')
        : need(this.rs, 'the remote static key');
    const shared = this.dh(local, remote);
    this.ss.mixKey(shared);
    wipe(shared);
  }

  writeMessage(payload: Bytes = EMPTY): Bytes {
    const tokens = this.nextTokens(true);
    const parts: Bytes[] = [];
    for (const token of tokens) {
      switch (token) {
        case 'e':
          if (!this.e) this.e = this.generateKeyPair();
          parts.push(this.e.publicKey);
          this.mixEphemeral(this.e.publicKey);
          break;
        case 's':
          if (!this.s) throw new ChatError('bad_state', 'pattern needs our static key');
          parts.push(this.ss.encryptAndHash(this.s.publicKey));
          break;
        case 'psk':
          this.mixPsk();
          break;
        default:
          this.mixDh(token);
      }
    }
    parts.push(this.ss.encryptAndHash(payload));
    const message = concatBytes(...parts);
    if (message.length > MAX_MESSAGE_LEN)
      throw new ChatError('too_large', 'handshake message over 65535 bytes');
    this.advance();
    return message;
  }

  /** Reads one handshake message. Any failure is `handshake_failed` or `decrypt_failed`; do not reuse the state. */
  readMessage(message: Bytes): Bytes {
    const tokens = this.nextTokens(false);
    if (message.length > MAX_MESSAGE_LEN)
      throw new ChatError('too_large', 'handshake message over 65535 bytes');
    let off = 0;
    const take = (n: number): Bytes => {
      if (off + n > message.length) throw new ChatError('handshake_failed', 'handshake message too short');
      const out = message.subarray(off, off + n);
      off += n;
      return out;
    };
    for (const token of tokens) {
      switch (token) {
        case 'e':
          this.re = Uint8Array.from(take(DHLEN));
          this.mixEphemeral(this.re);
          break;
        case 's': {
          const len = this.ss.hasKey() ? DHLEN + TAG_LEN : DHLEN;
          this.rs = Uint8Array.from(this.ss.decryptAndHash(take(len)));
          break;
        }
        case 'psk':
          this.mixPsk();
          break;
        default:
          this.mixDh(token);
      }
    }
    const payload = this.ss.decryptAndHash(message.subarray(off));
    this.advance();
    return payload;
  }

  private advance(): void {
    this.messageIndex++;
    if (this.messageIndex < this.protocol.pattern.messages.length) return;
    const [c1, c2] = this.ss.split();
    const oneWay = this.protocol.pattern.oneWay;
    this.finished = {
      send: this.initiator ? c1 : oneWay ? undefined : c2,
      recv: this.initiator ? (oneWay ? undefined : c2) : c1,
      handshakeHash: Uint8Array.from(this.ss.handshakeHash),
      remoteStatic: this.rs,
    };
    // Temporary keys are wiped after split; a finished handshake cannot be reused.
    if (this.e) wipe(this.e.secretKey);
    this.e = undefined;
  }

  /** The transport keys; only after the last handshake message. */
  transport(): TransportKeys {
    if (!this.finished) throw new ChatError('bad_state', 'the handshake has not finished');
    return this.finished;
  }
}
