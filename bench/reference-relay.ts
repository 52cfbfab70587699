/**
 * The bench's reference (issue 12): a minimal relay that speaks the same wire as ChatSecure's
 * (Noise XX of lib/net/secure-channel.ts, one AEAD seal and one open per frame per hop, the
 * same JSON messages) and does nothing else: no store, no signature check of the login, no
 * limits, no presence. `send` is answered `sent` and forwarded as `deliver` to the recipient if
 * online (else dropped, answered `queued`); `ack` is dropped. The bench clients cannot tell it
 * from the relay, so the same load runs against both in the same process layout and every
 * figure comes with its ratio.
 */
import * as net from 'node:net';
import type { KeyPair } from '../lib/crypto/primitives';
import { fdConnectionCap } from '../lib/server/limits';
import { parseClientMessage, type ClientMessage, type RelayMessage } from '../lib/net/messages';
import { acceptSecureChannel, type SecureChannel } from '../lib/net/secure-channel';

type Channel = SecureChannel<ClientMessage, RelayMessage>;

export interface ReferenceRelay {
  readonly port: number;
  stop(): Promise<void>;
}

export async function startReferenceRelay(key: KeyPair): Promise<ReferenceRelay> {
  const online = new Map<string, Channel>();
  const open = new Set<Channel>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    acceptSecureChannel<ClientMessage, RelayMessage>(socket, {
      staticKey: key,
      serverInfo: { server: 'bench-reference', version: '1', limits: { frame: 65535 } },
      parse: parseClientMessage,
      idleTimeoutMs: Infinity,
    }).then(
      ({ channel, login }) => {
        const name = login.user.toLowerCase();
        open.add(channel);
        online.get(name)?.destroy({ code: 'replaced', message: 'replaced' });
        online.set(name, channel);
        channel.on('close', () => {
          open.delete(channel);
          if (online.get(name) === channel) online.delete(name);
        });
        channel.on('message', (m) => {
          switch (m.t) {
            case 'send': {
              const to = online.get(m.to.toLowerCase());
              channel.send({ t: 'sent', rid: m.rid, id: m.id, status: to ? 'delivered' : 'queued' });
              to?.send({ t: 'deliver', id: m.id, from: login.user, env: m.env, ts: Date.now() });
              return;
            }
            case 'ping':
              channel.send({ t: 'pong', rid: m.rid });
              return;
            case 'presence.watch':
            case 'presence.unwatch':
              channel.send({ t: 'presence.batch', rid: m.rid, changes: [] });
              return;
            case 'ack':
            case 'pong':
              return;
            default:
              channel.send({ t: 'error', rid: m.rid, code: 'bad_message', message: 'not in the reference' });
          }
        });
        channel.start();
        channel.send({ t: 'welcome', queued: 0 });
      },
      () => undefined,
    );
  });
  // As the relay: below the fd limit, so the process keeps descriptors for itself (reading its
  // own memory use opens /proc/self/stat; at the limit that failed with EMFILE).
  server.maxConnections = fdConnectionCap() ?? 1_000_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of open) c.destroy({ code: 'closed', message: 'stopping' });
      await closed;
    },
  };
}
