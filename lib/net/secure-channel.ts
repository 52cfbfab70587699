/**
 * The secure session between a client and the relay (PROTOCOL.md sections 4, 5 and 9):
 * cleartext ClientHello / ServerHello negotiation, then Noise XX with the chosen suite and a
 * prologue that binds both hellos, then Noise transport messages carrying JSON.
 *
 * The Noise engine (lib/crypto/noise.ts) does no I/O; this driver moves its bytes over a socket.
 * Everything that arrives here is validated before anyone else sees it: frames by the decoder,
 * handshake payloads and messages by lib/net/messages.ts.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CipherState, HandshakeState } from '../crypto/noise';
import type { RelayCertificate } from '../crypto/relay-cert';
import {
  type Bytes,
  concatBytes,
  constantTimeEqual,
  type KeyPair,
  utf8,
  wipe,
  x25519KeyPairRaw,
  x25519Raw,
} from '../crypto/primitives';
import { ChatError, type ErrorCode, isChatError } from '../errors';
import { inOneBuffer, RID_PATTERN, type Base64 } from './codec';
import { FrameSocket, type FrameSocketOptions } from './frame-socket';
import {
  type ClientHello,
  type LoginPayload,
  parseClientHello,
  parseLoginPayload,
  parseServerHello,
  parseServerInfo,
  serializeClientHello,
  serializeLoginPayload,
  serializeServerHello,
  serializeServerInfo,
  type ServerInfo,
} from './handshake-payloads';
import { MAX_TRANSPORT_PLAINTEXT } from './limits';
import { serializeMessage } from './messages';

export { FRAME_DEADLINE_MS } from './frame-socket';
export { MAX_TRANSPORT_PLAINTEXT } from './limits';

/** The suites we implement, in our order of preference (section 5). */
export const SUPPORTED_SUITES = ['Noise_XX_25519_ChaChaPoly_SHA256', 'Noise_XX_25519_AESGCM_SHA256'] as const;
export type Suite = (typeof SUPPORTED_SUITES)[number];

/** Section 9: the handshake must finish within 10 s of accept (a monotonic clock: Node timers). */
export const HANDSHAKE_DEADLINE_MS = 10_000;
/** Section 7: 90 s of silence closes a connection; a ping is due after 30 s. */
export const IDLE_TIMEOUT_MS = 90_000;
export const PING_INTERVAL_MS = 30_000;

const PROLOGUE_LABEL = 'ChatSecure/1\n';

/** Section 5.3: prologue = "ChatSecure/1\n" || u16(len CH) || CH || u16(len SH) || SH. */
export function handshakePrologue(clientHello: Bytes, serverHello: Bytes): Bytes {
  const u16 = (n: number) => new Uint8Array([n >> 8, n & 0xff]);
  return concatBytes(
    utf8(PROLOGUE_LABEL),
    u16(clientHello.length),
    clientHello,
    u16(serverHello.length),
    serverHello,
  );
}

export interface ChannelTimeouts extends FrameSocketOptions {
  handshakeDeadlineMs?: number;
  idleTimeoutMs?: number;
}

/** Why a channel closed: a code for programs, a sentence for people. */
export interface CloseReason {
  readonly code: ErrorCode | 'closed';
  readonly message: string;
  /** True when we closed it (our decision), false when the peer or the network did. */
  readonly local: boolean;
}

// ---------------------------------------------------------------------------------------------
// The established channel

export interface SecureChannelEvents<In> {
  /** A validated message from the peer. */
  message: [In];
  /** A frame that decrypted but is not a valid message: the caller answers with its code. */
  invalid: [ChatError, string | undefined];
  /** The channel is gone; its keys are already dropped. */
  close: [CloseReason];
}

/**
 * An authenticated, encrypted message channel. `In` is what the peer sends (validated by
 * `parse`), `Out` what we send. Every frame is a Noise transport message; a frame that fails
 * to decrypt closes the channel (section 5.4).
 */
export class SecureChannel<In, Out> extends EventEmitter<SecureChannelEvents<In>> {
  private closed: CloseReason | undefined;
  private lastActivity = 0;
  private readonly sweep: IdleSweep | undefined;
  /** The peer's authenticated Noise static key. */
  readonly remoteStatic: Bytes;
  /** The handshake hash: a session id for debug logs. */
  readonly handshakeHash: Bytes;

  constructor(
    private readonly io: FrameSocket,
    private readonly sendCs: CipherState,
    private readonly recvCs: CipherState,
    private readonly parse: (bytes: Bytes) => In,
    private readonly serialize: (msg: Out) => Bytes,
    remoteStatic: Bytes,
    handshakeHash: Bytes,
    readonly suite: Suite,
    idleTimeoutMs: number,
  ) {
    super();
    [this.remoteStatic, this.handshakeHash] = inOneBuffer([remoteStatic, handshakeHash]);
    io.onFailure = (err) => this.finish({ code: err.code, message: err.message, local: false });
    if (io.failed)
      queueMicrotask(() => this.finish({ code: 'connection_closed', message: 'closed', local: false }));
    this.lastActivity = performance.now();
    if (Number.isFinite(idleTimeoutMs)) {
      this.sweep = IdleSweep.of(idleTimeoutMs);
      this.sweep.add(this);
    }
  }

  /** Starts delivering messages; call once listeners are attached. */
  start(): void {
    this.io.deliverTo((frame) => this.onFrame(frame));
  }

  /** For the idle sweep: closes the channel if the peer has been silent for `timeoutMs` at `now`. */
  closeIfIdle(now: number, timeoutMs: number): void {
    if (now - this.lastActivity >= timeoutMs)
      this.destroy({ code: 'connection_closed', message: 'no traffic for too long', local: true });
  }

  /** Milliseconds since the peer last sent a frame (monotonic). */
  get idleMs(): number {
    return performance.now() - this.lastActivity;
  }

  get isOpen(): boolean {
    return this.closed === undefined;
  }

  private onFrame(frame: Bytes): void {
    if (this.closed) return;
    let plaintext: Bytes;
    try {
      plaintext = this.recvCs.decryptWithAd(new Uint8Array(0), frame);
    } catch (err) {
      const code: ErrorCode = isChatError(err, 'nonce_exhausted') ? 'nonce_exhausted' : 'bad_frame';
      this.destroy({ code, message: 'a transport message failed to decrypt', local: true });
      return;
    }
    this.lastActivity = performance.now();
    let msg: In;
    try {
      msg = this.parse(plaintext);
    } catch (err) {
      const e = isChatError(err) ? err : new ChatError('bad_message', 'invalid message');
      this.emit('invalid', e, extractRid(plaintext));
      return;
    }
    this.emit('message', msg);
  }

  /** Bytes sent and not yet taken by the network (the relay's measure of a slow reader). */
  get unsent(): number {
    return this.io.unsent;
  }

  /**
   * Sends one message through its serializer (only the fields of its type are written).
   * Oversized messages throw `too_large`; a closed channel drops silently.
   */
  send(msg: Out): void {
    if (this.closed) return;
    const bytes = this.serialize(msg);
    if (bytes.length > MAX_TRANSPORT_PLAINTEXT)
      throw new ChatError('too_large', 'message over the frame limit');
    let ct: Bytes;
    try {
      ct = this.sendCs.encryptWithAd(new Uint8Array(0), bytes);
    } catch (err) {
      if (!isChatError(err, 'nonce_exhausted')) throw err;
      this.destroy({ code: 'nonce_exhausted', message: err.message, local: true });
      return;
    }
    this.io.write(ct);
  }

  /** Ends the channel gracefully: what was written is flushed, then the socket ends. */
  close(reason: Omit<CloseReason, 'local'> = { code: 'closed', message: 'closed' }): void {
    if (this.closed) return;
    const socket = this.io.socket;
    this.finish({ ...reason, local: true });
    socket.end();
    // A peer that never reads must not hold the socket open forever.
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  /** Ends the channel at once. */
  destroy(reason: Omit<CloseReason, 'local'> & { local?: boolean }): void {
    if (this.closed) return;
    this.finish({ local: true, ...reason });
    this.io.socket.destroy();
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = reason;
    this.sweep?.delete(this);
    // Section 5.4: when a connection ends, both sides drop its session keys.
    this.sendCs.destroy();
    this.recvCs.destroy();
    if (!this.io.failed) this.io.fail(new ChatError('connection_closed', reason.message));
    if (!this.io.socket.destroyed && !reason.local) this.io.socket.destroy();
    this.emit('close', reason);
  }
}

/**
 * The idle close (section 7) of every channel with one timeout: one interval timer that checks
 * them all every IDLE_SWEEP_DIVISOR-th of the timeout, instead of a Node timer per channel (a
 * Timeout, its closure and their context were ~250 bytes of every idle connection, issue 12). A
 * silent channel is closed between the timeout and 1.1 times it (90 s: within 99 s).
 */
export const IDLE_SWEEP_DIVISOR = 10;

interface Idler {
  closeIfIdle(now: number, timeoutMs: number): void;
}

class IdleSweep {
  private static readonly byTimeout = new Map<number, IdleSweep>();
  private readonly channels = new Set<Idler>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly timeoutMs: number) {}

  static of(timeoutMs: number): IdleSweep {
    let s = IdleSweep.byTimeout.get(timeoutMs);
    if (!s) IdleSweep.byTimeout.set(timeoutMs, (s = new IdleSweep(timeoutMs)));
    return s;
  }

  add(channel: Idler): void {
    this.channels.add(channel);
    if (this.timer) return;
    this.timer = setInterval(() => this.run(), Math.max(1, this.timeoutMs / IDLE_SWEEP_DIVISOR));
    this.timer.unref();
  }

  delete(channel: Idler): void {
    this.channels.delete(channel);
    if (this.channels.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    const now = performance.now();
    // A channel closed here leaves the set; a Set's iteration goes on past a deleted entry.
    for (const c of this.channels) c.closeIfIdle(now, this.timeoutMs);
  }
}

/** Best effort: the `rid` of a message that failed validation, so the error can answer it. */
function extractRid(plaintext: Bytes): string | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(plaintext).toString('utf8'));
    if (v && typeof v === 'object' && 'rid' in v) {
      const rid = (v as { rid: unknown }).rid;
      if (typeof rid === 'string' && RID_PATTERN.test(rid)) return rid;
    }
  } catch {
    // not JSON: no rid
  }
  return undefined;
}

/**
 * Runs one side's handshake steps under the deadline (a monotonic timer). On any failure the
 * socket goes (after flushing, for a no_common_suite refusal) and a coded error is thrown.
 */
async function underDeadline<T>(io: FrameSocket, steps: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ChatError('handshake_timeout', `the handshake did not finish within ${ms / 1000} s`)),
      ms,
    );
    timer.unref();
  });
  try {
    return await Promise.race([steps, timeout]);
  } catch (err) {
    const e = asHandshakeError(err);
    io.fail(e);
    if (e.code === 'no_common_suite') io.socket.end();
    else io.socket.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function asHandshakeError(err: unknown): ChatError {
  if (isChatError(err)) {
    if (err.code === 'decrypt_failed' || err.code === 'bad_key' || err.code === 'bad_state') {
      return new ChatError('handshake_failed', 'the secure handshake failed', 'handshake');
    }
    return err;
  }
  return new ChatError('handshake_failed', 'the secure handshake failed', 'handshake');
}

// ---------------------------------------------------------------------------------------------
// Relay side

export interface AcceptOptions<In> extends ChannelTimeouts {
  readonly staticKey: KeyPair;
  readonly serverInfo: ServerInfo;
  /** Suites the relay accepts, in any order: the client's preference decides. */
  readonly suites?: readonly Suite[];
  readonly parse: (bytes: Bytes) => In;
  /** Defaults to `serializeMessage` (lib/net/messages.ts). */
  readonly serialize?: (msg: never) => Bytes;
}

export interface Accepted<In, Out> {
  readonly channel: SecureChannel<In, Out>;
  /** Message 3's payload; the relay checks `idcert` against `channel.remoteStatic`. */
  readonly login: LoginPayload;
}

/** Message 2's payload, serialised once per ServerInfo object (the relay passes the same one). */
const serializedInfos = new WeakMap<ServerInfo, Bytes>();
function serializedInfo(info: ServerInfo): Bytes {
  let b = serializedInfos.get(info);
  if (!b) serializedInfos.set(info, (b = serializeServerInfo(info)));
  return b;
}

/**
 * Runs the relay's side of section 5 on an accepted socket. On failure the socket is closed
 * and the promise rejects with a coded ChatError (the caller logs the code).
 */
export async function acceptSecureChannel<In, Out>(
  socket: Duplex,
  opts: AcceptOptions<In>,
): Promise<Accepted<In, Out>> {
  const io = new FrameSocket(socket, opts);
  const suites = opts.suites ?? SUPPORTED_SUITES;
  const run = async (): Promise<Accepted<In, Out>> => {
    // 1. ClientHello (cleartext).
    const chBytes = await io.next();
    const ch: ClientHello = parseClientHello(chBytes);
    const suite = ch.suites.find((s): s is Suite => (suites as readonly string[]).includes(s));
    if (!suite) {
      io.write(serializeServerHello({ v: 1, error: 'no_common_suite', suites }));
      throw new ChatError('no_common_suite', 'the client offered no suite this relay supports');
    }
    // 2. ServerHello (cleartext).
    const shBytes = serializeServerHello({ v: 1, suite });
    io.write(shBytes);
    // 3. Noise XX, responder.
    const hs = new HandshakeState({
      protocolName: suite,
      initiator: false,
      prologue: handshakePrologue(chBytes, shBytes),
      s: opts.staticKey,
      // Raw keys through libsodium: no KeyObject import/export per handshake (issue 12).
      generateKeyPair: x25519KeyPairRaw,
      dh: x25519Raw,
    });
    // -> e
    hs.readMessage(await io.next());
    // <- e, ee, s, es
    io.write(hs.writeMessage(serializedInfo(opts.serverInfo)));
    // -> s, se
    const login = parseLoginPayload(hs.readMessage(await io.next()));
    const t = hs.transport();
    if (!t.send || !t.recv || !t.remoteStatic)
      throw new ChatError('handshake_failed', 'handshake incomplete');
    const channel = new SecureChannel<In, Out>(
      io,
      t.send,
      t.recv,
      opts.parse,
      serializerOf<Out>(opts.serialize),
      t.remoteStatic,
      t.handshakeHash,
      suite,
      opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    );
    return { channel, login };
  };
  return underDeadline(io, run(), opts.handshakeDeadlineMs ?? HANDSHAKE_DEADLINE_MS);
}

// ---------------------------------------------------------------------------------------------
// Client side

export interface ConnectOptions<In> extends ChannelTimeouts {
  readonly staticKey: KeyPair;
  /** Suites to offer, in order of preference. */
  readonly suites?: readonly Suite[];
  /**
   * Decides whether the relay's static key is trusted (section 6), with the certificate that
   * message 2 carried if any (section 6.1, already parsed strictly, signature not yet checked).
   * It runs after message 2 and before message 3 says anything about the user; throw to abort
   * the handshake.
   */
  readonly verifyServer: (remoteStatic: Bytes, cert: RelayCertificate | undefined) => void;
  /** Message 3's payload, sent only once the relay's key is trusted. */
  readonly login: LoginPayload;
  /**
   * The registration lock (docs/protocol.md 7.1), copied verbatim into the login payload: the
   * public half of the recovery key to store with the name, and a recovery proof.
   */
  readonly recovery?: Base64;
  readonly recover?: Base64;
  readonly parse: (bytes: Bytes) => In;
  /** Defaults to `serializeMessage` (lib/net/messages.ts). */
  readonly serialize?: (msg: never) => Bytes;
}

export interface Connected<In, Out> {
  readonly channel: SecureChannel<In, Out>;
  readonly serverInfo: ServerInfo;
}

/** Runs the client's side of section 5 on a connected socket. */
export async function connectSecureChannel<In, Out>(
  socket: Duplex,
  opts: ConnectOptions<In>,
): Promise<Connected<In, Out>> {
  const io = new FrameSocket(socket, opts);
  const offered = opts.suites ?? SUPPORTED_SUITES;
  const run = async (): Promise<Connected<In, Out>> => {
    const chBytes = serializeClientHello({ v: 1, app: 'chatsecure', suites: offered });
    // Section 5, first flight: message 1 (-> e) goes in the same write as the ClientHello, not a
    // round trip later. Every suite is XX over 25519 with an empty first payload and no key yet,
    // so message 1 is our ephemeral public key whatever the relay picks (issue 12: the relay
    // then answers ServerHello and message 2 in one write). Relays read frames in order, so
    // one that expects message 1 after its ServerHello finds it waiting.
    const e = x25519KeyPairRaw();
    io.write(chBytes);
    io.write(e.publicKey);
    const shBytes = await io.next();
    const sh = parseServerHello(shBytes);
    if ('error' in sh) {
      // Unauthenticated refusal: report it, never retry with another list on our own.
      wipe(e.secretKey);
      throw new ChatError('no_common_suite', 'the relay supports none of the offered cipher suites');
    }
    const suite = offered.find((s) => s === sh.suite);
    if (!suite) throw new ChatError('handshake_failed', 'the relay chose a suite we did not offer');
    const hs = new HandshakeState({
      protocolName: suite,
      initiator: true,
      prologue: handshakePrologue(chBytes, shBytes),
      s: opts.staticKey,
      e,
      // Raw keys through libsodium: no KeyObject import/export per handshake (issue 12).
      dh: x25519Raw,
    });
    // -> e, already sent: the engine's message 1 (its hash now bound to both hellos) must be
    // exactly those bytes.
    if (!constantTimeEqual(hs.writeMessage(), e.publicKey))
      throw new ChatError('handshake_failed', 'message 1 depends on the suite');
    // <- e, ee, s, es
    const infoBytes = hs.readMessage(await io.next());
    const rs = hs.remoteStatic;
    if (!rs) throw new ChatError('handshake_failed', 'the relay sent no static key');
    // Section 5.3: check the relay's key (and its certificate, section 6.1) before saying
    // anything about the user. The payload is parsed first only to reach the certificate.
    const serverInfo = parseServerInfo(infoBytes);
    opts.verifyServer(rs, serverInfo.cert);
    // -> s, se
    const login: LoginPayload = {
      ...opts.login,
      ...(opts.recovery !== undefined ? { recovery: opts.recovery } : {}),
      ...(opts.recover !== undefined ? { recover: opts.recover } : {}),
    };
    io.write(hs.writeMessage(serializeLoginPayload(login)));
    const t = hs.transport();
    if (!t.send || !t.recv) throw new ChatError('handshake_failed', 'handshake incomplete');
    const channel = new SecureChannel<In, Out>(
      io,
      t.send,
      t.recv,
      opts.parse,
      serializerOf<Out>(opts.serialize),
      rs,
      t.handshakeHash,
      suite,
      opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    );
    return { channel, serverInfo };
  };
  return underDeadline(io, run(), opts.handshakeDeadlineMs ?? HANDSHAKE_DEADLINE_MS);
}

/** The channel's serializer: the caller's, or the protocol's own for relay and client messages. */
function serializerOf<Out>(serialize: ((msg: never) => Bytes) | undefined): (msg: Out) => Bytes {
  // The protocol's serializer itself, not a new closure per channel (issue 12).
  return (serialize ?? serializeMessage) as (msg: Out) => Bytes;
}
