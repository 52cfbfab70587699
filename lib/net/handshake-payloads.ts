/**
 * The handshake payloads of PROTOCOL.md section 5: the cleartext hellos and the payloads of Noise
 * messages 2 (ServerInfo) and 3 (login). Built from the codec library (codec.ts).
 *
 * Errors: as in codec.ts, plus a hello over 1 KiB -> `too_large` and a `v` other than 1 ->
 * `unsupported_version`.
 */
import { ChatError } from '../errors';
import { fromBase64, toBase64 } from '../crypto/primitives';
import { decodeRelayCert, RELAY_CERT_MAX_LEN, type RelayCertificate } from '../crypto/relay-cert';
import {
  array,
  type Base64,
  type Codec,
  ed25519Key,
  fail,
  type JsonObject,
  limitsCodec,
  literal,
  missingOr,
  name,
  object,
  optional,
  own,
  parseJson,
  pattern,
  signature,
  text,
  toBytes,
} from './codec';
import {
  APP_NAME,
  MAX_HELLO_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_SUITE_NAME_LEN,
  MAX_SUITES,
  MAX_TEXT_LEN,
  PROTOCOL_VERSION,
} from './limits';

const SUITE_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

/** Handshake message 0, cleartext (section 5.1). */
export interface ClientHello {
  readonly v: 1;
  readonly app: 'chatsecure';
  readonly suites: readonly string[];
}

/** Handshake reply, cleartext (section 5.2): the chosen suite, or a refusal listing the relay's. */
export type ServerHello =
  | { readonly v: 1; readonly suite: string }
  | { readonly v: 1; readonly error: 'no_common_suite'; readonly suites: readonly string[] };

/** Payload of Noise message 2 (section 5.3). */
export interface ServerInfo {
  readonly server: string;
  readonly version: string;
  readonly limits: Readonly<Record<string, number>>;
  /** The relay's certificate (section 6.1), when it has one. */
  readonly cert?: RelayCertificate;
}

/** Payload of Noise message 3 (section 5.3). */
export interface LoginPayload {
  readonly user: string;
  readonly signKey: Base64;
  readonly idcert: Base64;
  /**
   * The public half of the user's recovery key (Ed25519). Stored with the name at registration,
   * and set or replaced at a later login of the same identity.
   */
  readonly recovery?: Base64;
  /**
   * Registration lock (section 5.3): with `recovery`, a signature by that recovery key over
   * `"chatsecure-recover-v1" 0x00 || u8(len canon) || canon || signKey || dhKey`. It lets a new
   * identity take over a name whose stored recovery key equals `recovery`.
   */
  readonly recover?: Base64;
}

/** A handshake payload's version: absent or not an integer is malformed; another integer is unsupported. */
function checkVersion(o: JsonObject): 1 {
  const v = own(o, 'v');
  if (typeof v !== 'number' || !Number.isInteger(v)) missingOr(v, 'v', 'an integer');
  if (v !== PROTOCOL_VERSION) fail('unsupported_version', `protocol version ${v} is not supported`);
  return PROTOCOL_VERSION;
}

const suite = pattern(SUITE_PATTERN, `a suite name of 1 to ${MAX_SUITE_NAME_LEN} characters`);
const suiteList = array(suite, MAX_SUITES, 'bad_message');

export function parseClientHello(b: Uint8Array): ClientHello {
  const o = parseJson(b, MAX_HELLO_BYTES, 'ClientHello');
  const v = checkVersion(o);
  return {
    v,
    app: literal(APP_NAME).decode(own(o, 'app'), 'app'),
    suites: suiteList.decode(own(o, 'suites'), 'suites'),
  };
}

export function serializeClientHello(h: ClientHello): Uint8Array {
  return checkedHello(toBytes({ v: h.v, app: h.app, suites: [...h.suites] }), 'ClientHello');
}

export function parseServerHello(b: Uint8Array): ServerHello {
  const o = parseJson(b, MAX_HELLO_BYTES, 'ServerHello');
  const v = checkVersion(o);
  if (own(o, 'error') !== undefined) {
    const error = literal('no_common_suite').decode(own(o, 'error'), 'error');
    return { v, error, suites: suiteList.decode(own(o, 'suites'), 'suites') };
  }
  return { v, suite: suite.decode(own(o, 'suite'), 'suite') };
}

export function serializeServerHello(h: ServerHello): Uint8Array {
  const wire = 'suite' in h ? { v: h.v, suite: h.suite } : { v: h.v, error: h.error, suites: [...h.suites] };
  return checkedHello(toBytes(wire), 'ServerHello');
}

function checkedHello(b: Uint8Array, what: string): Uint8Array {
  if (b.length > MAX_HELLO_BYTES) {
    throw new ChatError('too_large', `${what} is larger than ${MAX_HELLO_BYTES} bytes`, 'messages.serialize');
  }
  return b;
}

/** The base64 of the largest certificate: a longer string is refused before it is decoded. */
const MAX_CERT_BASE64 = Math.ceil(RELAY_CERT_MAX_LEN / 3) * 4;

/**
 * Section 6.1: a relay certificate, strict base64, parsed field by field by `decodeRelayCert`
 * (lengths, version, keys, relay id, times). Every failure is `server_cert_invalid`; the
 * signature and expiry are the client's checks (`verifyRelayCert`), made before message 3.
 */
export const relayCertCodec: Codec<RelayCertificate> = {
  decode(v, field) {
    if (typeof v !== 'string') throw new ChatError('server_cert_invalid', `field ${field} must be base64`);
    if (v.length > MAX_CERT_BASE64)
      throw new ChatError('server_cert_invalid', `field ${field} is longer than a relay certificate can be`);
    let b: Uint8Array;
    try {
      b = fromBase64(v, undefined, `field ${field}`);
    } catch {
      throw new ChatError('server_cert_invalid', `field ${field} is not canonical base64`);
    }
    return decodeRelayCert(b);
  },
  encode: (c) => toBase64(c.bytes),
};

const serverInfo = object<ServerInfo>({
  server: text(MAX_TEXT_LEN),
  version: text(MAX_TEXT_LEN),
  limits: limitsCodec,
  cert: optional(relayCertCodec),
});

export function parseServerInfo(b: Uint8Array): ServerInfo {
  return serverInfo.decode(parseJson(b, MAX_MESSAGE_BYTES, 'ServerInfo'), '');
}

export function serializeServerInfo(i: ServerInfo): Uint8Array {
  return toBytes(serverInfo.encode(i));
}

const loginPayload = object<LoginPayload>({
  user: name,
  signKey: ed25519Key,
  idcert: signature,
  recovery: optional(ed25519Key),
  recover: optional(signature),
});

export function parseLoginPayload(b: Uint8Array): LoginPayload {
  return loginPayload.decode(parseJson(b, MAX_MESSAGE_BYTES, 'login payload'), '');
}

export function serializeLoginPayload(p: LoginPayload): Uint8Array {
  return toBytes(loginPayload.encode(p));
}
