/**
 * Hostile input against a real relay on loopback (issue 2): random bytes, a zero length, a
 * 65535-byte frame of garbage, half a frame then a stall, a handshake never finished. Each
 * gets its connection closed with a logged error code while another client's session keeps
 * working.
 */
import * as net from 'node:net';
import { randomBytes } from '../../lib/crypto/primitives';
import { encodeFrame } from '../../lib/net/framing';
import {
  dial,
  loginClient,
  readLog,
  startRelay,
  type TestClient,
  type TestRelay,
  waitFor,
} from '../helpers/relay-harness';

let relay: TestRelay;
let bystander: TestClient;

beforeAll(async () => {
  relay = await startRelay({ timeouts: { handshakeDeadlineMs: 400, frameDeadlineMs: 400 } });
  bystander = await loginClient(relay.port, 'Bystander');
});

afterAll(async () => {
  bystander.close();
  await relay.stop();
});

function closedBy(socket: net.Socket): Promise<void> {
  socket.resume();
  return new Promise((resolve) => socket.on('close', () => resolve()));
}

async function bystanderStillWorks(): Promise<void> {
  const pong = await bystander.request({ t: 'ping' }, 'pong');
  expect(pong.t).toBe('pong');
}

function loggedCodes(): string[] {
  return readLog(relay.logFile)
    .filter((l) => l.msg === 'handshake failed; connection closed')
    .map((l) => String(l.code));
}

async function expectLogged(code: string): Promise<void> {
  await waitFor(() => loggedCodes().includes(code), 5000, `a logged ${code}`);
}

it('closes a connection that sends random bytes', async () => {
  const s = await dial(relay.port);
  const closed = closedBy(s);
  s.write(randomBytes(4096));
  await closed;
  await bystanderStillWorks();
});

it('closes a connection that sends a zero-length frame, with bad_frame logged', async () => {
  const s = await dial(relay.port);
  const closed = closedBy(s);
  s.write(Buffer.from([0, 0, 1, 2, 3]));
  await closed;
  await expectLogged('bad_frame');
  await bystanderStillWorks();
});

it('closes a connection that sends a 65535-byte frame of garbage', async () => {
  const s = await dial(relay.port);
  const closed = closedBy(s);
  s.write(encodeFrame(randomBytes(65535)));
  await closed;
  // A ClientHello over 1 KiB is too large.
  await expectLogged('too_large');
  await bystanderStillWorks();
});

it('closes a connection that sends half a frame and stalls', async () => {
  const s = await dial(relay.port);
  const closed = closedBy(s);
  const frame = encodeFrame(
    Buffer.from(JSON.stringify({ v: 1, app: 'chatsecure', suites: ['Noise_XX_25519_ChaChaPoly_SHA256'] })),
  );
  s.write(frame.subarray(0, 10));
  await closed;
  expect(loggedCodes().some((c) => c === 'bad_frame' || c === 'handshake_timeout')).toBe(true);
  await bystanderStillWorks();
});

it('closes a connection that never finishes the handshake, with handshake_timeout logged', async () => {
  const s = await dial(relay.port);
  const closed = closedBy(s);
  s.write(
    encodeFrame(
      Buffer.from(JSON.stringify({ v: 1, app: 'chatsecure', suites: ['Noise_XX_25519_ChaChaPoly_SHA256'] })),
    ),
  );
  await closed;
  await expectLogged('handshake_timeout');
  await bystanderStillWorks();
});

it('closes a connection whose ClientHello is not JSON, with bad_message logged', async () => {
  const s = await dial(relay.port);
  const closed = closedBy(s);
  s.write(encodeFrame(Buffer.from('hello relay')));
  await closed;
  await expectLogged('bad_message');
  await bystanderStillWorks();
});

it('closes a logged-in session whose transport frame is garbage, and only that one', async () => {
  const victim = await loginClient(relay.port, 'Victim');
  victim.socket.write(encodeFrame(randomBytes(200)));
  await victim.whenClosed();
  await waitFor(
    () => readLog(relay.logFile).some((l) => l.user === 'Victim' && l.code === 'bad_frame'),
    5000,
    'the victim closed with bad_frame',
  );
  await bystanderStillWorks();
});
