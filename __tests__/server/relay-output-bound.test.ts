/**
 * Issue 10, defect 2: the bound on what the relay buffers for one connection, at its default
 * (4 MiB), over real loopback sockets. A client that never reads makes the relay stop reading
 * from it, then, once pushed deliveries take its unsent bytes past 4 MiB, closes it with
 * `rate_limited`; a bystander keeps working throughout. Every loop is bounded in count.
 */
import * as net from 'node:net';
import { createIdentity } from '../../lib/crypto/identity';
import { randomBytes, toBase64, toHex } from '../../lib/crypto/primitives';
import { MAX_ENVELOPE_BYTES } from '../../lib/net/limits';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../../lib/net/messages';
import { connectSecureChannel } from '../../lib/net/secure-channel';
import { DEFAULT_LIMITS } from '../../lib/server/limits';
import { dial, loginClient, readLog, startRelay, waitFor } from '../helpers/relay-harness';

/** Pings the non-reader writes at most (each ~45 bytes on the wire, its pong ~60). */
const MAX_PINGS = 400_000;
/** The non-reader's own socket holding this much unsent means the relay stopped reading it. */
const BACKED_UP_BYTES = 1024 * 1024;

jest.setTimeout(120_000);

it('stops reading a client that never reads, then closes it with rate_limited past 4 MiB; a bystander is served', async () => {
  expect(DEFAULT_LIMITS.outMaxBytes).toBe(4 * 1024 * 1024);
  // Only the request rate is opened, so the non-reader's pings are answered rather than refused;
  // the output bounds are the defaults.
  const relay = await startRelay({ limits: { requestsPerSecond: 1e7, requestBurst: 1e7 } });
  try {
    const bystander = await loginClient(relay.port, 'Bystander');
    const sender = await loginClient(relay.port, 'Sender');

    const socket: net.Socket = await dial(relay.port);
    const identity = createIdentity();
    const { channel } = await connectSecureChannel<RelayMessage, ClientMessage>(socket, {
      staticKey: identity.dhKey,
      verifyServer: () => undefined,
      login: {
        user: 'Sink',
        signKey: toBase64(identity.signKey.publicKey),
        idcert: toBase64(identity.idcert),
      },
      parse: parseRelayMessage,
      // The sink's own bound must not end the test before the relay's does.
      outMaxBytes: 1024 * 1024 * 1024,
    });
    const closed = new Promise<{ code: string }>((resolve) => channel.once('close', resolve));
    await new Promise<void>((resolve, reject) => {
      channel.on('message', (m) => {
        if (m.t === 'welcome') resolve();
      });
      channel.once('close', (r) => reject(new Error(`closed before welcome: ${r.code}`)));
      channel.start();
    });
    // From here on the sink never reads.
    socket.pause();

    // 1. Its pongs pile up unread until the relay stops reading it: the sink's own writes back up.
    let pings = 0;
    while (socket.writableLength < BACKED_UP_BYTES && pings < MAX_PINGS) {
      for (let i = 0; i < 1000; i++) channel.send({ t: 'ping', rid: `p${pings++}` });
      await new Promise((r) => setImmediate(r));
    }
    expect(socket.writableLength).toBeGreaterThanOrEqual(BACKED_UP_BYTES);
    // The relay is not merely busy: others are answered.
    expect((await bystander.request({ t: 'ping' }, 'pong')).t).toBe('pong');

    // 2. Deliveries are pushed, not answers: 100 (the delivery window) of the largest envelope
    // come to ~6 MiB, past the 4 MiB bound, so the relay closes the sink with a code.
    const big = () => toBase64(randomBytes(MAX_ENVELOPE_BYTES));
    for (let i = 0; i < DEFAULT_LIMITS.deliveryWindow; i++) {
      const r = await sender.request(
        { t: 'send', id: toHex(randomBytes(16)), to: 'Sink', env: big() },
        'sent',
      );
      expect(r.t).toBe('sent');
      if (readLog(relay.logFile).some((l) => l.user === 'Sink' && l.code === 'rate_limited')) break;
    }
    await waitFor(
      () =>
        readLog(relay.logFile).some(
          (l) => l.msg === 'connection closed' && l.user === 'Sink' && l.code === 'rate_limited',
        ),
      60_000,
      'the sink closed with rate_limited',
    );
    socket.resume();
    await closed;
    socket.destroy();
    expect((await bystander.request({ t: 'ping' }, 'pong')).t).toBe('pong');
    expect((await sender.request({ t: 'ping' }, 'pong')).t).toBe('pong');
    bystander.close();
    sender.close();
  } finally {
    await relay.stop();
  }
});
