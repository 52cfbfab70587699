import fc from 'fast-check';
import { isChatError, type ErrorCode } from '../../lib/errors';
import { randomBytes, toBase64 } from '../../lib/crypto/primitives';
import {
  type ClientMessage,
  type RelayMessage,
  MAX_ENVELOPE_BYTES,
  MAX_HELLO_BYTES,
  MAX_OPKS_PER_PUBLISH,
  parseClientHello,
  parseClientMessage,
  parseLoginPayload,
  parseRelayMessage,
  parseServerHello,
  parseServerInfo,
  serializeClientHello,
  serializeLoginPayload,
  serializeMessage,
  serializeServerHello,
  serializeServerInfo,
} from '../../lib/net/messages';
import { CLIENT, edpub, env, msgId, RELAY, sig, spk, xpub } from '../helpers/sample-messages';

const enc = (v: unknown): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(v), 'utf8'));
const dec = (b: Uint8Array): Record<string, unknown> => JSON.parse(Buffer.from(b).toString('utf8'));

function codeOf(fn: () => unknown): ErrorCode | 'no error' | 'not a ChatError' {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return isChatError(err) ? err.code : 'not a ChatError';
  }
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

const client = (v: unknown) => () => parseClientMessage(enc(v));
const relay = (v: unknown) => () => parseRelayMessage(enc(v));

describe('section 7 messages round-trip', () => {
  it.each(CLIENT.map((m) => [m.t, m] as const))('client %s', (_t, m) => {
    expect(parseClientMessage(serializeMessage(m))).toEqual(m);
  });

  it.each(RELAY.map((m) => [m.t, m] as const))('relay %s', (_t, m) => {
    expect(parseRelayMessage(serializeMessage(m))).toEqual(m);
  });

  it('covers every message type of PROTOCOL.md section 7, and presence.batch', () => {
    expect(new Set(CLIENT.map((m) => m.t))).toEqual(
      new Set([
        'list',
        'keys.publish',
        'keys.fetch',
        'send',
        'send.multi',
        'ack',
        'ping',
        'pong',
        'presence.watch',
        'presence.unwatch',
      ]),
    );
    expect(new Set(RELAY.map((m) => m.t))).toEqual(
      new Set([
        'welcome',
        'users',
        'presence',
        'presence.batch',
        'keys.bundle',
        'keys.low',
        'sent',
        'deliver',
        'ping',
        'pong',
        'error',
      ]),
    );
  });

  it('drops unknown fields, at the top and nested, both when parsing and serializing', () => {
    const parsed = parseClientMessage(
      enc({
        t: 'keys.publish',
        rid: 'r',
        spk: { ...spk, extra: 1 },
        opks: [{ id: 1, pub: spk.pub, x: 2 }],
        evil: true,
      }),
    );
    expect(parsed).toEqual({ t: 'keys.publish', rid: 'r', spk, opks: [{ id: 1, pub: spk.pub }] });
    const sneaky = { t: 'ack', id: msgId, secret: 'do not send' } as ClientMessage;
    expect(dec(serializeMessage(sneaky))).toEqual({ t: 'ack', id: msgId });
  });
});

describe('malformed section 7 messages', () => {
  it('refuses bytes that are not UTF-8, not JSON or not an object with bad_message', () => {
    expect(codeOf(() => parseClientMessage(Uint8Array.of(0xff, 0xfe)))).toBe('bad_message');
    expect(codeOf(() => parseClientMessage(new Uint8Array(Buffer.from('{"t":"list",'))))).toBe('bad_message');
    for (const v of [null, 3, 'list', [], [{ t: 'list', rid: 'r' }], true]) {
      expect(codeOf(client(v))).toBe('bad_message');
      expect(codeOf(relay(v))).toBe('bad_message');
    }
  });

  it('refuses a missing, non-string or unknown t with bad_message, prototype names included', () => {
    for (const t of [undefined, 1, null, 'nope', 'constructor', 'toString', '__proto__', 'welcome']) {
      expect(codeOf(client({ t, rid: 'r' }))).toBe('bad_message');
    }
    expect(codeOf(relay({ t: 'send', rid: 'r', id: msgId, to: 'Eve', env }))).toBe('bad_message');
  });

  it('refuses every missing required field with bad_message naming it', () => {
    const optional = new Set([
      'keys.bundle.opk',
      'error.rid',
      'error.id',
      'error.identity',
      'send.for',
      'welcome.users',
      'welcome.limits',
      'presence.batch.rid',
      'sent.user',
      'error.user',
    ]);
    const check = (msgs: readonly { t: string }[], parse: (b: Uint8Array) => unknown) => {
      for (const m of msgs) {
        const wire = dec(serializeMessage(m as ClientMessage));
        for (const k of Object.keys(wire)) {
          if (k === 't' || optional.has(`${m.t}.${k}`)) continue;
          const rest = { ...wire };
          delete rest[k];
          expect([m.t, k, codeOf(() => parse(enc(rest)))]).toEqual([m.t, k, 'bad_message']);
          expect(messageOf(() => parse(enc(rest)))).toContain(k);
        }
      }
    };
    check(CLIENT, parseClientMessage);
    check(RELAY, parseRelayMessage);
  });

  it('refuses wrong-typed fields with bad_message, never echoing the value', () => {
    const secret = 'SECRET-VALUE-4242';
    const cases: [unknown, string][] = [
      [{ t: 'list', rid: secret + '!' }, 'rid'],
      [{ t: 'list', rid: 'x'.repeat(65) }, 'rid'],
      [{ t: 'list', rid: '' }, 'rid'],
      [{ t: 'ack', id: msgId.toUpperCase() }, 'id'],
      [{ t: 'ack', id: msgId + '0' }, 'id'],
      [{ t: 'ack', id: 12 }, 'id'],
      [{ t: 'send', rid: 'r', id: msgId, to: 'Eve', env: secret }, 'env'],
      [{ t: 'send', rid: 'r', id: msgId, to: 'Eve', env: env.replace(/=*$/, '') + '=' }, 'env'],
      [{ t: 'keys.publish', rid: 'r', spk: { ...spk, id: -1 }, opks: [] }, 'spk.id'],
      [{ t: 'keys.publish', rid: 'r', spk: { ...spk, id: 2 ** 32 }, opks: [] }, 'spk.id'],
      [{ t: 'keys.publish', rid: 'r', spk: { ...spk, id: 1.5 }, opks: [] }, 'spk.id'],
      [{ t: 'keys.publish', rid: 'r', spk: { ...spk, pub: toBase64(randomBytes(31)) }, opks: [] }, 'spk.pub'],
      [{ t: 'keys.publish', rid: 'r', spk: { ...spk, sig: toBase64(randomBytes(63)) }, opks: [] }, 'spk.sig'],
      [
        { t: 'keys.publish', rid: 'r', spk: { ...spk, pub: toBase64(new Uint8Array(32)) }, opks: [] },
        'spk.pub',
      ],
      [{ t: 'keys.publish', rid: 'r', spk, opks: [{ id: 1, pub: secret }] }, 'opks[0].pub'],
      [{ t: 'keys.publish', rid: 'r', spk, opks: {} }, 'opks'],
      [{ t: 'keys.publish', rid: 'r', spk: 'x', opks: [] }, 'spk'],
    ];
    for (const [v, field] of cases) {
      expect([field, codeOf(client(v))]).toEqual([field, 'bad_message']);
      const text = messageOf(client(v));
      expect(text).toContain(field);
      expect(text).not.toContain(secret);
    }
    const relayCases: [unknown, string][] = [
      [{ t: 'sent', rid: 'r', id: msgId, status: 'lost' }, 'status'],
      [{ t: 'users', rid: 'r', users: [{ name: 'a', online: 'yes', lastSeen: null }] }, 'users[0].online'],
      [{ t: 'users', rid: 'r', users: [{ name: 'a', online: true, lastSeen: 1.5 }] }, 'users[0].lastSeen'],
      [{ t: 'users', rid: 'r', users: [{ name: 'a', online: true }] }, 'users[0].lastSeen'],
      [{ t: 'deliver', id: msgId, from: 'Adam', env, ts: -1 }, 'ts'],
      [{ t: 'deliver', id: msgId, from: 'Adam', env, ts: '1' }, 'ts'],
      [{ t: 'welcome', users: 'Adam', queued: 0 }, 'users'],
      [{ t: 'keys.low', remaining: -3 }, 'remaining'],
      [{ t: 'presence', user: 'Eve', online: 1 }, 'online'],
      [{ t: 'error', code: 'x', message: 'ring \u0007 bell' }, 'message'],
      [{ t: 'error', code: 'x', message: '\u001b[2J' }, 'message'],
      [{ t: 'error', code: 'Not A Code', message: 'm' }, 'code'],
      [
        { t: 'keys.bundle', rid: 'r', user: 'Eve', signKey: edpub, dhKey: edpub.slice(4), idcert: sig, spk },
        'dhKey',
      ],
      [
        { t: 'keys.bundle', rid: 'r', user: 'Eve', signKey: edpub, dhKey: xpub(), idcert: sig, spk, opk: 5 },
        'opk',
      ],
    ];
    for (const [v, field] of relayCases) {
      expect([field, codeOf(relay(v))]).toEqual([field, 'bad_message']);
      expect(messageOf(relay(v))).toContain(field);
    }
  });

  it('refuses a small-order Ed25519 signing key (the identity point)', () => {
    const identity = toBase64(Uint8Array.from([1, ...new Uint8Array(31)]));
    const v = { t: 'keys.bundle', rid: 'r', user: 'Eve', signKey: identity, dhKey: xpub(), idcert: sig, spk };
    expect(codeOf(relay(v))).toBe('bad_message');
  });

  it('refuses malformed names in to/user/from fields with bad_name', () => {
    for (const bad of ['', 'a b', 'é', 'x'.repeat(33), 'eve\n', '../eve']) {
      expect(codeOf(client({ t: 'send', rid: 'r', id: msgId, to: bad, env }))).toBe('bad_name');
      expect(codeOf(client({ t: 'keys.fetch', rid: 'r', user: bad }))).toBe('bad_name');
      expect(codeOf(relay({ t: 'presence', user: bad, online: true }))).toBe('bad_name');
      expect(codeOf(relay({ t: 'deliver', id: msgId, from: bad, env, ts: 1 }))).toBe('bad_name');
    }
    expect(codeOf(client({ t: 'keys.fetch', rid: 'r', user: 5 }))).toBe('bad_message');
  });

  it('refuses an envelope over MAX_ENVELOPE_BYTES and more than 200 one-time prekeys with too_large', () => {
    // An honest envelope (32 KiB padded plaintext, prekey fields, base64 and JSON) stays under 45 KiB.
    const big = toBase64(randomBytes(45 * 1024));
    expect(parseClientMessage(enc({ t: 'send', rid: 'r', id: msgId, to: 'Eve', env: big })).t).toBe('send');
    const over = toBase64(randomBytes(MAX_ENVELOPE_BYTES + 1));
    expect(codeOf(client({ t: 'send', rid: 'r', id: msgId, to: 'Eve', env: over }))).toBe('too_large');
    expect(codeOf(relay({ t: 'deliver', id: msgId, from: 'Eve', env: over, ts: 1 }))).toBe('too_large');
    expect(codeOf(client({ t: 'send', rid: 'r', id: msgId, to: 'Eve', env: '' }))).toBe('bad_message');
    const opk = { id: 1, pub: spk.pub };
    const ok = { t: 'keys.publish', rid: 'r', spk, opks: Array(MAX_OPKS_PER_PUBLISH).fill(opk) };
    expect(codeOf(client(ok))).toBe('no error');
    expect(codeOf(client({ ...ok, opks: [...ok.opks, opk] }))).toBe('too_large');
  });

  it('refuses a message larger than a frame with too_large', () => {
    expect(codeOf(() => parseClientMessage(new Uint8Array(65536).fill(0x20)))).toBe('too_large');
  });
});

describe('section 5 handshake payloads', () => {
  const suites = ['Noise_XX_25519_ChaChaPoly_SHA256', 'Noise_XX_25519_AESGCM_SHA256'];

  it('round-trips ClientHello, both ServerHello forms, ServerInfo and the login payload', () => {
    const ch = { v: 1, app: 'chatsecure', suites } as const;
    expect(parseClientHello(serializeClientHello(ch))).toEqual(ch);
    expect(dec(serializeClientHello(ch))).toEqual({ v: 1, app: 'chatsecure', suites });
    const sh = { v: 1, suite: suites[0] } as const;
    expect(parseServerHello(serializeServerHello(sh))).toEqual(sh);
    const refusal = { v: 1, error: 'no_common_suite', suites: [suites[1]] } as const;
    expect(parseServerHello(serializeServerHello(refusal))).toEqual(refusal);
    const info = { server: 'chatsecure relay', version: '0.1.0', limits: { frame: 65535, envelope: 49152 } };
    expect(parseServerInfo(serializeServerInfo(info))).toEqual(info);
    const login = { user: 'Adam', signKey: edpub, idcert: sig };
    expect(parseLoginPayload(serializeLoginPayload(login))).toEqual(login);
  });

  it('answers an unsupported v with unsupported_version, and a missing or odd v with bad_message', () => {
    expect(codeOf(() => parseClientHello(enc({ v: 2, app: 'chatsecure', suites })))).toBe(
      'unsupported_version',
    );
    expect(codeOf(() => parseServerHello(enc({ v: 0, suite: suites[0] })))).toBe('unsupported_version');
    expect(codeOf(() => parseClientHello(enc({ app: 'chatsecure', suites })))).toBe('bad_message');
    expect(codeOf(() => parseClientHello(enc({ v: '1', app: 'chatsecure', suites })))).toBe('bad_message');
    expect(codeOf(() => parseClientHello(enc({ v: 1.5, app: 'chatsecure', suites })))).toBe('bad_message');
  });

  it('refuses hellos over 1 KiB with too_large, on both parse and serialize', () => {
    const many = { v: 1, app: 'chatsecure', suites: Array(15).fill('S'.repeat(64)) };
    expect(enc(many).length).toBeGreaterThan(MAX_HELLO_BYTES);
    expect(codeOf(() => parseClientHello(enc(many)))).toBe('too_large');
    expect(codeOf(() => serializeClientHello(many as never))).toBe('too_large');
    expect(codeOf(() => parseServerHello(enc({ v: 1, suite: 'x'.repeat(MAX_HELLO_BYTES) })))).toBe(
      'too_large',
    );
  });

  it('refuses malformed hellos with bad_message', () => {
    const bad: unknown[] = [
      { v: 1, app: 'other', suites },
      { v: 1, app: 'chatsecure' },
      { v: 1, app: 'chatsecure', suites: 'Noise_XX' },
      { v: 1, app: 'chatsecure', suites: ['has space'] },
      { v: 1, app: 'chatsecure', suites: Array(17).fill('A') },
    ];
    for (const v of bad) expect(codeOf(() => parseClientHello(enc(v)))).toBe('bad_message');
    for (const v of [
      { v: 1 },
      { v: 1, suite: 7 },
      { v: 1, error: 'other', suites },
      { v: 1, error: 'no_common_suite' },
    ]) {
      expect(codeOf(() => parseServerHello(enc(v)))).toBe('bad_message');
    }
  });

  it('checks ServerInfo text and limits', () => {
    const ok = { server: 's', version: '1.0.0', limits: {} };
    expect(parseServerInfo(enc({ ...ok, extra: 1 }))).toEqual(ok);
    expect(codeOf(() => parseServerInfo(enc({ ...ok, limits: { frame: '65535' } })))).toBe('bad_message');
    expect(codeOf(() => parseServerInfo(enc({ ...ok, limits: [] })))).toBe('bad_message');
    expect(codeOf(() => parseServerInfo(enc({ ...ok, server: 'evil\u001b[31m' })))).toBe('bad_message');
    expect(codeOf(() => parseServerInfo(enc({ ...ok, version: 1 })))).toBe('bad_message');
    const proto = new Uint8Array(Buffer.from('{"server":"s","version":"1","limits":{"__proto__":{"x":1}}}'));
    expect(codeOf(() => parseServerInfo(proto))).toBe('bad_message');
  });

  it('checks the login payload: bad name -> bad_name, key and idcert lengths -> bad_message', () => {
    expect(codeOf(() => parseLoginPayload(enc({ user: 'a b', signKey: edpub, idcert: sig })))).toBe(
      'bad_name',
    );
    expect(codeOf(() => parseLoginPayload(enc({ user: 'a', signKey: sig, idcert: sig })))).toBe(
      'bad_message',
    );
    expect(codeOf(() => parseLoginPayload(enc({ user: 'a', signKey: edpub, idcert: edpub })))).toBe(
      'bad_message',
    );
    expect(codeOf(() => parseLoginPayload(enc({ user: 'a', signKey: edpub })))).toBe('bad_message');
  });
});

describe('hostile input only ever throws ChatError (property)', () => {
  const parsers = [
    parseClientMessage,
    parseRelayMessage,
    parseClientHello,
    parseServerHello,
    parseServerInfo,
    parseLoginPayload,
  ];
  const valid: unknown[] = [
    ...[...CLIENT, ...RELAY].map((m) => dec(serializeMessage(m))),
    { v: 1, app: 'chatsecure', suites: ['Noise_XX_25519_ChaChaPoly_SHA256'] },
    { v: 1, suite: 'Noise_XX_25519_ChaChaPoly_SHA256' },
    { server: 's', version: '1', limits: { frame: 65535 } },
    { user: 'Adam', signKey: edpub, idcert: sig },
  ];

  function onlyChatErrors(bytes: Uint8Array): void {
    for (const parse of parsers) {
      try {
        const out = parse(bytes);
        expect(typeof out).toBe('object');
      } catch (err) {
        if (!isChatError(err)) throw err;
      }
    }
  }

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), onlyChatErrors), { numRuns: 500 });
  });

  it('random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => onlyChatErrors(enc(v))),
      { numRuns: 500 },
    );
  });

  /** Replaces, deletes or adds one property somewhere in a JSON tree. */
  function mutate(v: unknown, path: number[], replacement: unknown, del: boolean, newKey: string): unknown {
    if (typeof v !== 'object' || v === null) return replacement;
    const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...(v as object) };
    const keys = Object.keys(copy);
    if (keys.length === 0 || path.length === 0) {
      // On an array, append instead: setting `length` (or a huge index) is not a JSON mutation.
      if (Array.isArray(copy)) copy.push(replacement);
      else copy[newKey] = replacement;
      return copy;
    }
    const k = keys[path[0] % keys.length];
    const rec = copy as Record<string, unknown>;
    if (path.length === 1 && del) delete rec[k];
    else rec[k] = mutate(rec[k], path.slice(1), replacement, del, newKey);
    return copy;
  }

  it('randomly mutated valid messages: parse or ChatError, and a parsed result re-serializes the same', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.nat(), { minLength: 0, maxLength: 4 }),
        fc.oneof(fc.jsonValue(), fc.string(), fc.integer(), fc.constant(null), fc.constant('__proto__')),
        fc.boolean(),
        fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 't', 'v')),
        (base, path, replacement, del, newKey) => {
          const bytes = enc(mutate(base, path, replacement, del, newKey));
          onlyChatErrors(bytes);
          for (const [parse, serialize] of [
            [parseClientMessage, serializeMessage],
            [parseRelayMessage, serializeMessage],
          ] as const) {
            let m: ClientMessage | RelayMessage;
            try {
              m = parse(bytes);
            } catch {
              continue;
            }
            expect(parse(serialize(m))).toEqual(m);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
