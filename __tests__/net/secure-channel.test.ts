/**
 * The secure channel over real loopback sockets: negotiation, Noise XX, transport messages,
 * prologue binding (a tampered suite list fails the handshake), deadlines and coded errors.
 */
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { HandshakeState } from '../../lib/crypto/noise';
import { fingerprint, randomBytes, toBase64, x25519KeyPair } from '../../lib/crypto/primitives';
import { isChatError } from '../../lib/errors';
import { FrameSocket } from '../../lib/net/frame-socket';
import { encodeFrame } from '../../lib/net/framing';
import {
  parseClientHello,
  parseServerHello,
  parseServerInfo,
  serializeClientHello,
  serializeLoginPayload,
} from '../../lib/net/handshake-payloads';
import {
  acceptSecureChannel,
  connectSecureChannel,
  type Accepted,
  type AcceptOptions,
  type Connected,
  type SecureChannel,
  handshakePrologue,
  type Suite,
} from '../../lib/net/secure-channel';

type Msg = { t: string; n?: number };
const parse = (b: Uint8Array): Msg => {
  const v = JSON.parse(Buffer.from(b).toString('utf8'));
  if (typeof v !== 'object' || typeof v.t !== 'string') throw new Error('bad');
  return v as Msg;
};
/** Test messages are plain JSON; the protocol's serializer knows only its own types. */
const serialize = (m: Msg): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(m), 'utf8'));

const serverKey = x25519KeyPair();
const clientKey = x25519KeyPair();
const login = { user: 'Adam', signKey: toBase64(randomBytes(32)), idcert: toBase64(randomBytes(64)) };
const serverInfo = { server: 'test-relay', version: '0.1.0', limits: { frame: 65535 } };

interface Pair {
  server: Accepted<Msg, Msg>;
  client: Connected<Msg, Msg>;
  /** The client's TCP socket under its channel, as the test dialled it. */
  clientSocket: net.Socket;
}

let servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.length = 0;
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

function listen(onSocket: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer((s) => {
    sockets.push(s);
    onSocket(s);
  });
  servers.push(srv);
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port)),
  );
}

/** A relay side whose handshake outcome (the channel, or the error it failed with) a test awaits. */
async function relayOutcome(
  opts: Partial<AcceptOptions<Msg>> = {},
): Promise<{ port: number; outcome: () => Promise<unknown> }> {
  let accepted!: Promise<unknown>;
  const port = await listen((s) => {
    accepted = acceptSecureChannel(s, { staticKey: serverKey, serverInfo, parse, serialize, ...opts }).catch(
      (e) => e,
    );
  });
  return { port, outcome: () => accepted };
}

function dial(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    sockets.push(s);
    s.on('error', reject);
  });
}

async function handshake(
  opts: { clientSuites?: Suite[]; serverSuites?: Suite[]; verify?: (k: Uint8Array) => void } = {},
): Promise<Pair> {
  let accepted!: Promise<Accepted<Msg, Msg>>;
  const port = await listen((s) => {
    accepted = acceptSecureChannel<Msg, Msg>(s, {
      staticKey: serverKey,
      serverInfo,
      parse,
      serialize,
      suites: opts.serverSuites,
    });
  });
  const sock = await dial(port);
  const client = await connectSecureChannel<Msg, Msg>(sock, {
    staticKey: clientKey,
    suites: opts.clientSuites,
    verifyServer: opts.verify ?? (() => undefined),
    login,
    parse,
    serialize,
  });
  return { server: await accepted, client, clientSocket: sock };
}

function nextMessage(ch: SecureChannel<Msg, Msg>): Promise<Msg> {
  return new Promise((resolve) => ch.once('message', resolve));
}

describe('secure channel', () => {
  it('completes Noise XX and carries messages both ways, for each suite', async () => {
    for (const suite of ['Noise_XX_25519_ChaChaPoly_SHA256', 'Noise_XX_25519_AESGCM_SHA256'] as Suite[]) {
      const { server, client } = await handshake({ clientSuites: [suite] });
      expect(server.channel.suite).toBe(suite);
      expect(client.serverInfo).toEqual(serverInfo);
      expect(server.login).toEqual(login);
      // Each side authenticated the other's static key, and both derived the same session id.
      expect(Buffer.from(server.channel.remoteStatic)).toEqual(Buffer.from(clientKey.publicKey));
      expect(Buffer.from(client.channel.remoteStatic)).toEqual(Buffer.from(serverKey.publicKey));
      expect(Buffer.from(server.channel.handshakeHash)).toEqual(Buffer.from(client.channel.handshakeHash));
      server.channel.start();
      client.channel.start();
      const got = nextMessage(server.channel);
      client.channel.send({ t: 'ping', n: 1 });
      expect(await got).toEqual({ t: 'ping', n: 1 });
      const back = nextMessage(client.channel);
      server.channel.send({ t: 'pong', n: 2 });
      expect(await back).toEqual({ t: 'pong', n: 2 });
      client.channel.close();
    }
  });

  it("follows the client's order of preference", async () => {
    const { server } = await handshake({
      clientSuites: ['Noise_XX_25519_AESGCM_SHA256', 'Noise_XX_25519_ChaChaPoly_SHA256'],
    });
    expect(server.channel.suite).toBe('Noise_XX_25519_AESGCM_SHA256');
  });

  it('refuses with no_common_suite when nothing matches', async () => {
    const { port, outcome: accepted } = await relayOutcome({
      suites: ['Noise_XX_25519_AESGCM_SHA256'],
    });
    const sock = await dial(port);
    const err = await connectSecureChannel(sock, {
      staticKey: clientKey,
      suites: ['Noise_XX_25519_ChaChaPoly_SHA256'],
      verifyServer: () => undefined,
      login,
      parse,
      serialize,
    }).catch((e) => e);
    expect(isChatError(err, 'no_common_suite')).toBe(true);
    expect(isChatError(await accepted(), 'no_common_suite')).toBe(true);
  });

  it('fails the handshake when the suite list is tampered with in flight (prologue binding)', async () => {
    const { port: relayPort, outcome: accepted } = await relayOutcome();
    // A man in the middle that reverses the client's suite list: a downgrade to its second choice.
    const mitmPort = await listen((client) => {
      const upstream = net.connect(relayPort, '127.0.0.1');
      sockets.push(upstream);
      // The hello is the first frame; what follows it (message 1 comes in the same flight) is
      // forwarded untouched.
      let head: Buffer | undefined = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        if (!head) {
          upstream.write(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        if (head.length < 2 || head.length < 2 + head.readUInt16BE(0)) return;
        const end = 2 + head.readUInt16BE(0);
        const hello = JSON.parse(head.subarray(2, end).toString('utf8'));
        hello.suites.reverse();
        upstream.write(encodeFrame(Buffer.from(JSON.stringify(hello))));
        upstream.write(head.subarray(end));
        head = undefined;
      });
      upstream.on('data', (chunk) => client.write(chunk));
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    const sock = await dial(mitmPort);
    const err = await connectSecureChannel(sock, {
      staticKey: clientKey,
      verifyServer: () => undefined,
      login,
      parse,
      serialize,
    }).catch((e) => e);
    expect(isChatError(err, 'handshake_failed')).toBe(true);
    expect(isChatError(await accepted())).toBe(true);
  });

  it('lets the client refuse the relay key before message 3 says who the user is', async () => {
    const { port, outcome: accepted } = await relayOutcome({ handshakeDeadlineMs: 500 });
    const sock = await dial(port);
    let seen = '';
    const err = await connectSecureChannel(sock, {
      staticKey: clientKey,
      verifyServer: (k) => {
        seen = fingerprint(k);
        throw Object.assign(new Error('unknown'), { code: 'server_key_unknown' });
      },
      login,
      parse,
      serialize,
    }).catch((e) => e);
    expect(seen).toBe(fingerprint(serverKey.publicKey));
    expect(err).toBeDefined();
    // The relay never received message 3, so it learned nothing about the user.
    const relayErr = await accepted();
    expect(isChatError(relayErr)).toBe(true);
  });

  it('closes a client that never finishes the handshake, at the deadline', async () => {
    const { port, outcome: accepted } = await relayOutcome({ handshakeDeadlineMs: 300 });
    const sock = await dial(port);
    const closed = new Promise((r) => sock.on('close', r));
    sock.resume();
    sock.write(
      encodeFrame(
        Buffer.from(
          JSON.stringify({ v: 1, app: 'chatsecure', suites: ['Noise_XX_25519_ChaChaPoly_SHA256'] }),
        ),
      ),
    );
    // ... and then nothing.
    const err = await accepted();
    expect(isChatError(err, 'handshake_timeout')).toBe(true);
    await closed;
  });

  it('closes the channel when a transport frame fails to decrypt', async () => {
    const { server, client, clientSocket } = await handshake();
    server.channel.start();
    client.channel.start();
    const closed = new Promise<{ code: string }>((r) => server.channel.once('close', r));
    // Garbage in place of a transport message, straight onto the client's socket.
    clientSocket.write(encodeFrame(randomBytes(100)));
    expect((await closed).code).toBe('bad_frame');
    expect(server.channel.isOpen).toBe(false);
  });

  it('reports a frame that decrypts but is not a valid message, and keeps the channel', async () => {
    const { server, client } = await handshake();
    server.channel.start();
    client.channel.start();
    const invalid = new Promise<[unknown, string | undefined]>((r) =>
      server.channel.once('invalid', (e, rid) => r([e, rid])),
    );
    client.channel.send({ rid: 'r1', nott: 1 } as unknown as Msg);
    const [, rid] = await invalid;
    expect(rid).toBe('r1');
    const got = nextMessage(server.channel);
    client.channel.send({ t: 'ping' });
    expect(await got).toEqual({ t: 'ping' });
    expect(server.channel.isOpen).toBe(true);
  });

  it("sends message 1 in the ClientHello's flight, before any ServerHello", async () => {
    // A relay that answers nothing: both frames must come anyway.
    const frames: Uint8Array[] = [];
    let gotBoth!: () => void;
    const both = new Promise<void>((r) => (gotBoth = r));
    const port = await listen((s) => {
      const io = new FrameSocket(s);
      void (async () => {
        frames.push(await io.next(), await io.next());
        gotBoth();
      })();
    });
    const sock = await dial(port);
    const client = connectSecureChannel(sock, {
      staticKey: clientKey,
      verifyServer: () => undefined,
      login,
      parse,
      handshakeDeadlineMs: 60_000,
    }).catch((e) => e);
    await both;
    expect(parseClientHello(frames[0]).app).toBe('chatsecure');
    // Message 1 of XX: the ephemeral public key alone (empty payload, no key yet).
    expect(frames[1].length).toBe(32);
    sock.destroy();
    expect(isChatError(await client, 'connection_closed')).toBe(true);
  });

  it('answers a pipelined first flight with ServerHello and message 2 in one write', async () => {
    // The relay's socket, wrapped to record what each write to the network carried.
    const writes: number[] = [];
    let accepted!: Promise<Accepted<Msg, Msg>>;
    const port = await listen((s) => {
      const wrapped = new Duplex({
        read: () => s.resume(),
        write(chunk: Buffer, _enc, cb) {
          writes.push(1);
          s.write(chunk, cb);
        },
        writev(chunks, cb) {
          writes.push(chunks.length);
          s.write(Buffer.concat(chunks.map((c) => c.chunk as Buffer)), cb);
        },
        final(cb) {
          s.end(cb);
        },
        destroy(err, cb) {
          s.destroy();
          cb(err);
        },
      });
      s.on('data', (d) => {
        if (!wrapped.push(d)) s.pause();
      });
      s.on('end', () => wrapped.push(null));
      s.on('close', () => wrapped.destroy());
      accepted = acceptSecureChannel<Msg, Msg>(wrapped, {
        staticKey: serverKey,
        serverInfo,
        parse,
        serialize,
      });
    });
    const sock = await dial(port);
    const client = await connectSecureChannel<Msg, Msg>(sock, {
      staticKey: clientKey,
      verifyServer: () => undefined,
      login,
      parse,
      serialize,
    });
    const { channel } = await accepted;
    expect(writes[0]).toBe(2);
    // And the session works.
    channel.start();
    client.channel.start();
    const got = nextMessage(channel);
    client.channel.send({ t: 'ping', n: 3 });
    expect(await got).toEqual({ t: 'ping', n: 3 });
  });

  it('still accepts a client that waits for the ServerHello before message 1', async () => {
    let accepted!: Promise<Accepted<Msg, Msg>>;
    const port = await listen((s) => {
      accepted = acceptSecureChannel<Msg, Msg>(s, { staticKey: serverKey, serverInfo, parse, serialize });
    });
    const io = new FrameSocket(await dial(port));
    // The client of the first protocol version: one frame, then wait for the answer, each step.
    const ch = serializeClientHello({
      v: 1,
      app: 'chatsecure',
      suites: ['Noise_XX_25519_ChaChaPoly_SHA256'],
    });
    io.write(ch);
    const sh = await io.next();
    expect(parseServerHello(sh)).toEqual({ v: 1, suite: 'Noise_XX_25519_ChaChaPoly_SHA256' });
    const hs = new HandshakeState({
      protocolName: 'Noise_XX_25519_ChaChaPoly_SHA256',
      initiator: true,
      prologue: handshakePrologue(ch, sh),
      s: clientKey,
    });
    io.write(hs.writeMessage());
    expect(parseServerInfo(hs.readMessage(await io.next()))).toEqual(serverInfo);
    io.write(hs.writeMessage(serializeLoginPayload(login)));
    const server = await accepted;
    expect(server.login).toEqual(login);
    expect(Buffer.from(server.channel.remoteStatic)).toEqual(Buffer.from(clientKey.publicKey));
    expect(Buffer.from(server.channel.handshakeHash)).toEqual(Buffer.from(hs.transport().handshakeHash));
  });

  it('closes an established channel that stays idle past the idle timeout', async () => {
    let accepted!: Promise<Accepted<Msg, Msg>>;
    const port = await listen((s) => {
      accepted = acceptSecureChannel<Msg, Msg>(s, {
        staticKey: serverKey,
        serverInfo,
        parse,
        serialize,
        idleTimeoutMs: 200,
      });
    });
    const sock = await dial(port);
    await connectSecureChannel(sock, { staticKey: clientKey, verifyServer: () => undefined, login, parse });
    const { channel } = await accepted;
    channel.start();
    const reason = await new Promise<{ code: string; local: boolean }>((r) => channel.once('close', r));
    expect(reason.local).toBe(true);
  });
});
