/**
 * The frame layer and the handshake driver over an in-memory duplex pair (no socket), as
 * js-libp2p-noise tests `performHandshake`: issue 10, defect 1 (the unfinished-frame deadline is
 * per frame) and the structure point (the driver is testable without a socket).
 */
import { Duplex } from 'node:stream';
import { createIdentity } from '../../lib/crypto/identity';
import { toBase64, x25519KeyPair } from '../../lib/crypto/primitives';
import { encodeFrame } from '../../lib/net/framing';
import { FrameSocket } from '../../lib/net/frame-socket';
import {
  parseClientMessage,
  parseRelayMessage,
  type ClientMessage,
  type RelayMessage,
} from '../../lib/net/messages';
import { acceptSecureChannel, connectSecureChannel } from '../../lib/net/secure-channel';

function duplexPair(): [Duplex, Duplex] {
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
    });
  const a: Duplex = make(() => b);
  const b: Duplex = make(() => a);
  return [a, b];
}

it('runs the whole handshake and carries messages over a duplex pair', async () => {
  const [c, r] = duplexPair();
  const relayKey = x25519KeyPair();
  const id = createIdentity();
  const accepted = acceptSecureChannel<ClientMessage, RelayMessage>(r, {
    staticKey: relayKey,
    serverInfo: { server: 'pair', version: '1', limits: { frame: 65535 } },
    parse: parseClientMessage,
  });
  const recovery = toBase64(createIdentity().signKey.publicKey);
  const connected = await connectSecureChannel<RelayMessage, ClientMessage>(c, {
    staticKey: id.dhKey,
    verifyServer: () => undefined,
    login: { user: 'Pair', signKey: toBase64(id.signKey.publicKey), idcert: toBase64(id.idcert) },
    recovery,
    parse: parseRelayMessage,
  });
  const { channel, login } = await accepted;
  expect(login).toMatchObject({ user: 'Pair', recovery });
  expect(connected.serverInfo.server).toBe('pair');
  const got = new Promise<ClientMessage>((resolve) => channel.on('message', resolve));
  channel.start();
  connected.channel.start();
  connected.channel.send({ t: 'ping', rid: 'p1' });
  expect(await got).toEqual({ t: 'ping', rid: 'p1' });
  channel.close();
});

it('does not cut a steady sender whose chunks always end mid-frame (defect 1)', async () => {
  const [writer, reader] = duplexPair();
  const deadline = 1000;
  const io = new FrameSocket(reader, { frameDeadlineMs: deadline });
  let failure: string | undefined;
  io.onFailure = (e) => (failure = e.code);
  let frames = 0;
  io.deliverTo(() => frames++);
  const n = 100;
  const bytes = Buffer.concat(Array.from({ length: n }, () => encodeFrame(new Uint8Array(100).fill(7))));
  const size = 102;
  // Chunk k holds the second half of frame k-1 and the first half of frame k: never a boundary.
  // 101 chunks at least 20 ms apart outlast the 1 s deadline of any one frame.
  let at = 0;
  for (let k = 0; k <= n; k++) {
    const end = Math.min(bytes.length, k * size + size / 2);
    writer.write(bytes.subarray(at, end));
    at = end;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(failure).toBeUndefined();
  expect(frames).toBe(n);
});

it('still cuts a frame left unfinished (defect 1)', async () => {
  const [writer, reader] = duplexPair();
  const io = new FrameSocket(reader, { frameDeadlineMs: 200 });
  const failed = new Promise<string>((resolve) => (io.onFailure = (e) => resolve(e.code)));
  io.deliverTo(() => undefined);
  writer.write(encodeFrame(new Uint8Array(50)).subarray(0, 10));
  expect(await failed).toBe('bad_frame');
});
