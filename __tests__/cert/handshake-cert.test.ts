/**
 * The certificate inside the Noise handshake (docs/protocol.md 5.3 and 6.1), over real loopback
 * sockets: the relay sends it in message 2, the client's verify hook sees it before message 3,
 * and a hook that refuses keeps message 3 (the login) from ever reaching the relay.
 */
import * as net from 'node:net';
import { createIdentity } from '../../lib/crypto/identity';
import { ed25519KeyPair, sha256, toBase64, x25519KeyPair } from '../../lib/crypto/primitives';
import {
  type RelayCertificate,
  relayCertFields,
  signRelayCert,
  verifyRelayCert,
} from '../../lib/crypto/relay-cert';
import { ChatError, isChatError } from '../../lib/errors';
import type { ServerInfo } from '../../lib/net/handshake-payloads';
import { parseClientMessage, parseRelayMessage } from '../../lib/net/messages';
import { acceptSecureChannel, connectSecureChannel } from '../../lib/net/secure-channel';
import { dial, waitFor } from '../helpers/relay-harness';

const relayKey = x25519KeyPair();
const authority = ed25519KeyPair();
const cert = signRelayCert(
  authority.secretKey,
  relayCertFields(relayKey.publicKey, 'relay-1', Date.now(), 7),
);
const identity = createIdentity();
const login = {
  user: 'Adam',
  signKey: toBase64(identity.signKey.publicKey),
  idcert: toBase64(identity.idcert),
};

const servers: net.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** A relay side on loopback that records how far each handshake got. */
async function relaySide(serverInfo: ServerInfo) {
  const seen = { logins: 0, failures: [] as string[] };
  const server = net.createServer((socket) => {
    acceptSecureChannel(socket, { staticKey: relayKey, serverInfo, parse: parseClientMessage }).then(
      ({ channel }) => {
        seen.logins++;
        channel.destroy({ code: 'closed', message: 'test done' });
      },
      (err: unknown) => seen.failures.push(isChatError(err) ? err.code : 'other'),
    );
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, seen };
}

async function connect(port: number, verify: (k: Uint8Array, c: RelayCertificate | undefined) => void) {
  const socket = await dial(port);
  return connectSecureChannel(socket, {
    staticKey: identity.dhKey,
    verifyServer: verify,
    login,
    parse: parseRelayMessage,
  });
}

const info = (c?: RelayCertificate): ServerInfo => ({
  server: 'chatsecure-relay',
  version: '0.1.0',
  limits: { frame: 65535 },
  ...(c ? { cert: c } : {}),
});

async function failureOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'connected';
  } catch (err) {
    return isChatError(err) ? err.code : 'other';
  }
}

it('the hook gets the certificate the relay sent, with the handshake key, and the login follows', async () => {
  const { port, seen } = await relaySide(info(cert));
  let got: RelayCertificate | undefined;
  const { channel, serverInfo } = await connect(port, (k, c) => {
    got = c;
    verifyRelayCert(c as RelayCertificate, {
      trusted: [sha256(authority.publicKey)],
      relayKey: k,
      nowMs: Date.now(),
    });
  });
  expect(got?.relayId).toBe('relay-1');
  expect(serverInfo.cert && toBase64(serverInfo.cert.bytes)).toBe(toBase64(cert.bytes));
  // Message 3 followed: the relay side completed the login.
  await waitFor(() => seen.logins === 1, 5000, 'the login on the relay side');
  channel.destroy({ code: 'closed', message: 'done' });
  // Without a certificate the hook sees undefined.
  const plain = await relaySide(info());
  let plainCert: RelayCertificate | undefined = cert;
  const second = await connect(plain.port, (_k, c) => (plainCert = c));
  expect(plainCert).toBeUndefined();
  await waitFor(() => plain.seen.logins === 1, 5000, 'the login without a certificate');
  second.channel.destroy({ code: 'closed', message: 'done' });
});

it('a hook that refuses stops the client before message 3: the relay never sees a login', async () => {
  const { port, seen } = await relaySide(info(cert));
  const refuse = () => {
    throw new ChatError('server_cert_invalid', 'refused by the test');
  };
  expect(await failureOf(connect(port, refuse))).toBe('server_cert_invalid');
  // A certificate from an authority the client does not trust, checked for real.
  const otherCa = ed25519KeyPair();
  const strict = (k: Uint8Array, c: RelayCertificate | undefined) =>
    verifyRelayCert(c as RelayCertificate, {
      trusted: [sha256(otherCa.publicKey)],
      relayKey: k,
      nowMs: Date.now(),
    });
  expect(await failureOf(connect(port, strict))).toBe('server_cert_invalid');
  // The relay side saw both handshakes end without a message 3.
  await waitFor(() => seen.failures.length === 2, 5000, 'both handshakes to end on the relay side');
  expect(seen.logins).toBe(0);
  expect(seen.failures).toHaveLength(2);
});

it('a malformed certificate in message 2 is server_cert_invalid, before the hook runs', async () => {
  const garbage = { ...cert, bytes: new Uint8Array(cert.bytes.length).fill(9) };
  const { port } = await relaySide(info(garbage));
  let called = false;
  expect(await failureOf(connect(port, () => (called = true)))).toBe('server_cert_invalid');
  expect(called).toBe(false);
  const oversized = { ...cert, bytes: new Uint8Array(300) };
  const big = await relaySide(info(oversized));
  expect(await failureOf(connect(big.port, () => (called = true)))).toBe('server_cert_invalid');
  expect(called).toBe(false);
});
