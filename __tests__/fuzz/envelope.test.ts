/**
 * Fuzzing the end-to-end envelope and the inner message (PROTOCOL.md section 8; issue 6, item 4):
 * parseEnvelope, the whole receive path decryptEnvelope (X3DH, ratchet, AEAD) and
 * parseInnerMessage, on random input and on real envelopes from a real session mutated byte-wise
 * and field-wise. Only ChatErrors with a code come out; an unmutated envelope still decrypts.
 */
import fc from 'fast-check';
import { parseEnvelope } from '../../lib/crypto/envelope';
import {
  encodeInnerMessage,
  parseInnerMessage,
  PAD_BLOCK,
  type InnerMessage,
} from '../../lib/crypto/inner-message';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import type { Session } from '../../lib/crypto/ratchet/session';
import { decryptEnvelope, encryptMessage, initiateSession } from '../../lib/crypto/session-manager';
import { bundleOf, lookupOf, makeUser, T0 } from '../crypto/e2e-helpers';
import {
  enc,
  expectOnlyChatError,
  FUZZ_TIMEOUT_MS,
  hostileKey,
  hostileValue,
  mutate,
  mutateJson,
  mutationArb,
  runFuzz,
} from './fuzz-config';

/** What a receiver may answer to a hostile envelope (lib/crypto/session-manager.ts). */
const DECRYPT_CODES = [
  'bad_message',
  'too_large',
  'bad_key',
  'identity_changed',
  'no_session',
  'duplicate_message',
  'too_many_skipped',
  'decrypt_failed',
];

const adam = makeUser('Adam', 1);
const eve = makeUser('Eve', 2);
const text = (body: string): InnerMessage => ({ kind: 'text', id: toHex(randomBytes(16)), ts: T0, body });

// A real conversation: Adam's prekey envelope, Eve's reply, then Adam's next (a plain `msg`).
let adamSession: Session = initiateSession({ ours: adam, theirName: 'Eve', bundle: bundleOf(eve) }).session;
const first = encryptMessage(adamSession, encodeInnerMessage(text('hello Eve')));
adamSession = first.session;
const eveFirst = decryptEnvelope({
  ours: eve,
  fromName: 'Adam',
  envelopeBytes: first.envelopeBytes,
  sessions: [],
  prekeys: lookupOf(eve),
  now: T0,
});
const reply = encryptMessage(eveFirst.session, encodeInnerMessage(text('hello Adam')));
const adamGot = decryptEnvelope({
  ours: adam,
  fromName: 'Eve',
  envelopeBytes: reply.envelopeBytes,
  sessions: [adamSession],
  prekeys: lookupOf(adam),
  now: T0,
});
const second = encryptMessage(adamGot.session, encodeInnerMessage(text('second')));
const eveSession = reply.session;

const ENVELOPES = [first.envelopeBytes, second.envelopeBytes];
const asJson = (b: Uint8Array) => JSON.parse(Buffer.from(b).toString('utf8')) as unknown;

/** Eve receiving `bytes` from Adam, with no session yet or with the one she has. */
function receive(bytes: Uint8Array): void {
  for (const sessions of [[], [eveSession]]) {
    expectOnlyChatError(
      () =>
        decryptEnvelope({
          ours: eve,
          fromName: 'Adam',
          envelopeBytes: bytes,
          sessions,
          prekeys: lookupOf(eve),
          now: T0,
        }),
      DECRYPT_CODES,
    );
  }
}

it('the fixtures are real: both envelopes decrypt for Eve', () => {
  const a = decryptEnvelope({
    ours: eve,
    fromName: 'Adam',
    envelopeBytes: first.envelopeBytes,
    sessions: [],
    prekeys: lookupOf(eve),
    now: T0,
  });
  expect(parseInnerMessage(a.plaintext)).toMatchObject({ kind: 'text', body: 'hello Eve' });
  const b = decryptEnvelope({
    ours: eve,
    fromName: 'Adam',
    envelopeBytes: second.envelopeBytes,
    sessions: [eveSession],
    prekeys: lookupOf(eve),
    now: T0,
  });
  expect(parseInnerMessage(b.plaintext)).toMatchObject({ kind: 'text', body: 'second' });
});

it(
  'parseEnvelope on random bytes and random JSON',
  () =>
    runFuzz(
      'envelope: random input',
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.jsonValue().map(enc)), (bytes) => {
        expectOnlyChatError(() => parseEnvelope(bytes), ['bad_message', 'too_large']);
      }),
    ),
  FUZZ_TIMEOUT_MS,
);

it(
  'real envelopes mutated byte-wise and field-wise: parse and decrypt give only coded errors',
  () =>
    runFuzz(
      'envelope: mutated valid (parse + decrypt)',
      fc.property(
        fc.constantFrom(...ENVELOPES),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        hostileValue,
        fc.boolean(),
        hostileKey,
        (envelope, byteMutations, path, replacement, del, newKey) => {
          for (const bytes of [
            mutate(envelope, byteMutations),
            enc(mutateJson(asJson(envelope), path, replacement, del, newKey)),
          ]) {
            expectOnlyChatError(() => parseEnvelope(bytes), ['bad_message', 'too_large']);
            receive(bytes);
          }
        },
      ),
    ),
  FUZZ_TIMEOUT_MS,
);

const innerArb: fc.Arbitrary<InnerMessage> = fc.oneof(
  fc.record({
    kind: fc.constant('text' as const),
    id: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    ts: fc.nat(),
    body: fc.string({ maxLength: 300 }),
  }),
  fc.record({
    kind: fc.constant('receipt' as const),
    of: fc.array(
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
    state: fc.constantFrom('delivered' as const, 'read' as const),
  }),
  fc.record({ kind: fc.constant('typing' as const), on: fc.boolean() }),
);

/** JSON padded with spaces as the sender pads it, so the parser gets past the padding check. */
function padded(v: unknown): Uint8Array {
  const json = enc(v);
  const out = new Uint8Array(Math.max(1, Math.ceil(json.length / PAD_BLOCK)) * PAD_BLOCK).fill(0x20);
  out.set(json);
  return out;
}

it(
  'parseInnerMessage: random, padded random JSON, and mutated valid messages; valid ones round-trip',
  () =>
    runFuzz(
      'inner message: random and mutated',
      fc.property(
        innerArb,
        fc.array(mutationArb, { maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        hostileValue,
        fc.boolean(),
        hostileKey,
        fc.uint8Array({ maxLength: 600 }),
        (m, byteMutations, path, replacement, del, newKey, random) => {
          const valid = encodeInnerMessage(m);
          expect(parseInnerMessage(valid)).toEqual(m);
          const codes = ['bad_message', 'too_large'];
          expectOnlyChatError(() => parseInnerMessage(mutate(valid, byteMutations)), codes);
          const fields = JSON.parse(Buffer.from(valid).toString('utf8').trimEnd()) as unknown;
          expectOnlyChatError(
            () => parseInnerMessage(padded(mutateJson(fields, path, replacement, del, newKey))),
            codes,
          );
          expectOnlyChatError(() => parseInnerMessage(random), codes);
          expectOnlyChatError(() => parseInnerMessage(padded(replacement)), codes);
        },
      ),
    ),
  FUZZ_TIMEOUT_MS,
);
