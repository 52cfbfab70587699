/**
 * Fuzzing the message validators (PROTOCOL.md sections 5 and 7; issue 6, item 4): every parser
 * of lib/net/messages.ts on random bytes, random JSON, messages with a known `t` and random
 * fields, and valid messages mutated byte-wise and field-wise. Only ChatErrors with a code
 * come out; whatever parses re-serializes to the same message.
 */
import fc from 'fast-check';
import {
  parseClientHello,
  parseClientMessage,
  parseLoginPayload,
  parseRelayMessage,
  parseServerHello,
  parseServerInfo,
  serializeMessage,
  type ClientMessage,
  type RelayMessage,
} from '../../lib/net/messages';
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
import { CLIENT, edpub, RELAY, sig } from '../helpers/sample-messages';

const PARSERS = [
  parseClientMessage,
  parseRelayMessage,
  parseClientHello,
  parseServerHello,
  parseServerInfo,
  parseLoginPayload,
] as const;

const VALID_MESSAGES: (ClientMessage | RelayMessage)[] = [...CLIENT, ...RELAY];
const VALID_PAYLOADS: unknown[] = [
  ...VALID_MESSAGES.map((m) => JSON.parse(Buffer.from(serializeMessage(m)).toString('utf8'))),
  { v: 1, app: 'chatsecure', suites: ['Noise_XX_25519_ChaChaPoly_SHA256'] },
  { v: 1, suite: 'Noise_XX_25519_ChaChaPoly_SHA256' },
  { v: 1, error: 'no_common_suite', suites: ['Noise_XX_25519_AESGCM_SHA256'] },
  { server: 's', version: '1', limits: { frame: 65535 } },
  { user: 'Adam', signKey: edpub, idcert: sig },
];
const TYPES = [...new Set(VALID_MESSAGES.map((m) => m.t))];

/** Every parser: a value or a coded ChatError; a parsed section 7 message round-trips. */
function check(bytes: Uint8Array): void {
  for (const parse of PARSERS) expectOnlyChatError(() => parse(bytes));
  for (const parse of [parseClientMessage, parseRelayMessage]) {
    const m = expectOnlyChatError(() => parse(bytes)) as ClientMessage | RelayMessage | undefined;
    if (m !== undefined) expect(parse(serializeMessage(m))).toEqual(m);
  }
}

it(
  'random bytes',
  () => runFuzz('messages: random bytes', fc.property(fc.uint8Array({ maxLength: 500 }), check)),
  FUZZ_TIMEOUT_MS,
);

it(
  'random JSON, and objects with a known t and random fields',
  () =>
    runFuzz(
      'messages: random JSON',
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc
            .record({ t: fc.constantFrom(...TYPES), v: fc.constantFrom(1, 2, '1') })
            .chain((base) =>
              fc.dictionary(hostileKey, hostileValue, { maxKeys: 6 }).map((extra) => ({ ...extra, ...base })),
            ),
        ),
        (v) => check(enc(v)),
      ),
    ),
  FUZZ_TIMEOUT_MS,
);

it(
  'valid messages and handshake payloads, mutated field-wise and byte-wise',
  () =>
    runFuzz(
      'messages: mutated valid',
      fc.property(
        fc.constantFrom(...VALID_PAYLOADS),
        fc.array(fc.nat(), { maxLength: 4 }),
        hostileValue,
        fc.boolean(),
        hostileKey,
        fc.array(mutationArb, { maxLength: 3 }),
        (base, path, replacement, del, newKey, byteMutations) => {
          const structural = enc(mutateJson(base, path, replacement, del, newKey));
          check(structural);
          check(mutate(enc(base), byteMutations));
        },
      ),
    ),
  FUZZ_TIMEOUT_MS,
);
