/**
 * Replays every vector file in __tests__/fixtures/noise-vectors/ (the cacophony JSON format):
 * a file dropped into that folder is picked up with no code change. Every vector must replay:
 * one the engine refuses (`unsupported_pattern`) fails the suite, unless its protocol is listed
 * in UNSUPPORTED below with the reason, and only those are reported as skipped. So dropping a
 * pattern from the table or refusing a cipher cannot pass as "skipped".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CipherState, HandshakeState, parseProtocolName } from '../../lib/crypto/noise';
import { fromHex, toHex, x25519KeyPair } from '../../lib/crypto/primitives';
import { codeOf as code } from '../helpers/error-code';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  init_psks?: string[];
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  resp_psks?: string[];
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

const dir = path.join(__dirname, '..', 'fixtures', 'noise-vectors');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

/**
 * Protocols of the fixture files this engine deliberately does not run, with the reason. Empty
 * today: every vector in the folder replays. A file bringing e.g. 448 or BLAKE2 vectors adds
 * those names here; the test below checks the engine really refuses each one.
 */
const UNSUPPORTED: Readonly<Record<string, string>> = {};

const keyPair = (hex: string | undefined) => (hex ? x25519KeyPair(fromHex(hex)) : undefined);
/** An absent or empty `*_psks` list means no PSK (the format of other published vector sets). */
const psks = (list: string[] | undefined) => (list ?? []).map(fromHex);

function replay(v: Vector): void {
  const init = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: true,
    prologue: fromHex(v.init_prologue),
    s: keyPair(v.init_static),
    e: keyPair(v.init_ephemeral),
    rs: v.init_remote_static ? fromHex(v.init_remote_static) : undefined,
    psks: psks(v.init_psks),
  });
  const resp = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: false,
    prologue: fromHex(v.resp_prologue),
    s: keyPair(v.resp_static),
    e: keyPair(v.resp_ephemeral),
    rs: v.resp_remote_static ? fromHex(v.resp_remote_static) : undefined,
    psks: psks(v.resp_psks),
  });
  const oneWay = init.protocol.pattern.oneWay;
  let transport: { init: [CipherState?, CipherState?]; resp: [CipherState?, CipherState?] } | undefined;

  v.messages.forEach((m, i) => {
    // Messages alternate initiator -> responder from the first; in one-way patterns all go i -> r.
    const fromInitiator = oneWay || i % 2 === 0;
    const payload = fromHex(m.payload);
    let ct: Uint8Array;
    let got: Uint8Array;
    if (!transport) {
      const [w, r] = fromInitiator ? [init, resp] : [resp, init];
      ct = w.writeMessage(payload);
      got = r.readMessage(ct);
      if (init.isFinished) {
        expect(resp.isFinished).toBe(true);
        const ti = init.transport();
        const tr = resp.transport();
        if (v.handshake_hash) {
          expect(toHex(ti.handshakeHash)).toBe(v.handshake_hash);
          expect(toHex(tr.handshakeHash)).toBe(v.handshake_hash);
        }
        transport = { init: [ti.send, ti.recv], resp: [tr.send, tr.recv] };
      }
    } else {
      const sender = fromInitiator ? transport.init[0] : transport.resp[0];
      const receiver = fromInitiator ? transport.resp[1] : transport.init[1];
      if (!sender || !receiver) throw new Error(`message ${i}: no transport state in that direction`);
      ct = sender.encryptWithAd(new Uint8Array(0), payload);
      got = receiver.decryptWithAd(new Uint8Array(0), ct);
    }
    expect(`${i}:${toHex(ct)}`).toBe(`${i}:${m.ciphertext}`);
    expect(toHex(got)).toBe(m.payload);
  });
  expect(transport).toBeDefined();
}

describe('Noise test vectors', () => {
  it('has at least one vector file', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('replays a vector whose psk lists are empty as a vector without PSK', () => {
    const file = path.join(dir, 'cacophony-25519-SHA256.json');
    const [v]: Vector[] = JSON.parse(fs.readFileSync(file, 'utf8')).vectors;
    replay({ ...v, init_psks: [], resp_psks: [] });
  });

  for (const file of files) {
    const vectors: Vector[] = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')).vectors;
    describe(file, () => {
      for (const v of vectors) {
        const reason = UNSUPPORTED[v.protocol_name];
        if (reason) {
          it(`${v.protocol_name} is refused as unsupported (${reason})`, () => {
            expect(code(() => parseProtocolName(v.protocol_name))).toBe('unsupported_pattern');
          });
          // Reported as skipped in jest's summary, with the reason in the title.
          it.skip(`${v.protocol_name} (skipped: ${reason})`, () => undefined);
        } else {
          it(v.protocol_name, () => replay(v));
        }
      }
    });
  }
});
