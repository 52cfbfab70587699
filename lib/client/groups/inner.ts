/**
 * The group inner messages carried by the pairwise sessions (docs/protocol.md section 10.1):
 * `group.state`, `group.change` and `group.key`. Same framing as the other inner messages
 * (section 8.5): JSON padded with spaces to whole 256-byte blocks, at most 32 KiB; parsing is
 * strict (`bad_message`, `too_large`). The client core dispatches here every inner message whose
 * `kind` starts with `group.` (`isGroupKind`).
 */
import { ChatError } from '../../errors';
import { MAX_INNER_BYTES, PAD_BLOCK } from '../../crypto/inner-message';
import { parseJsonBytes, readObject, readString } from '../../crypto/json-fields';
import { fromBase64, toBase64, toHex, utf8, type Bytes } from '../../crypto/primitives';
import {
  DISTRIBUTION_LEN,
  encodeDistribution,
  parseDistribution,
  type SenderKeyDistribution,
} from '../../crypto/sender-keys';
import {
  groupChangeToJSON,
  groupStateToJSON,
  parseGroupChange,
  parseGroupStateMessage,
  type GroupChange,
  type GroupStateMessage,
} from './state';

export type GroupInner =
  | { readonly kind: 'group.state'; readonly state: GroupStateMessage }
  | { readonly kind: 'group.change'; readonly change: GroupChange }
  | { readonly kind: 'group.key'; readonly group: string; readonly dist: SenderKeyDistribution };

const BLANK = 0x20;

export function isGroupKind(kind: string): boolean {
  return kind.startsWith('group.');
}

function body(m: GroupInner): Record<string, unknown> {
  switch (m.kind) {
    case 'group.state':
      return { kind: m.kind, state: groupStateToJSON(m.state) };
    case 'group.change':
      return { kind: m.kind, change: groupChangeToJSON(m.change) };
    case 'group.key':
      return { kind: m.kind, group: m.group, dist: toBase64(encodeDistribution(m.dist)) };
  }
}

export function encodeGroupInner(m: GroupInner): Bytes {
  const json = utf8(JSON.stringify(body(m)));
  if (json.length > MAX_INNER_BYTES)
    throw new ChatError('too_large', `a message is at most ${MAX_INNER_BYTES} bytes`);
  const blocks = Math.ceil(json.length / PAD_BLOCK);
  const out = new Uint8Array(blocks * PAD_BLOCK);
  out.fill(BLANK, json.length);
  out.set(json);
  return out;
}

/** Strict; the sender key distribution must name the same group as the message. */
export function parseGroupInner(bytes: Bytes): GroupInner {
  if (bytes.length > MAX_INNER_BYTES) throw new ChatError('too_large', 'the message is too large');
  if (bytes.length === 0 || bytes.length % PAD_BLOCK !== 0) throw new ChatError('bad_message', 'bad padding');
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === BLANK) end--;
  if (bytes.length - end >= PAD_BLOCK) throw new ChatError('bad_message', 'bad padding');
  const what = 'group message';
  const value = parseJsonBytes(bytes.subarray(0, end), 'bad_message', what);
  const probe = readObject(value, ['kind'], ['state', 'change', 'group', 'dist'], 'bad_message', what);
  const kind = readString(probe, 'kind', 'bad_message', what);
  switch (kind) {
    case 'group.state':
      return {
        kind,
        state: parseGroupStateMessage(readObject(value, ['kind', 'state'], [], 'bad_message', what).state),
      };
    case 'group.change':
      return {
        kind,
        change: parseGroupChange(readObject(value, ['kind', 'change'], [], 'bad_message', what).change),
      };
    case 'group.key': {
      const o = readObject(value, ['kind', 'group', 'dist'], [], 'bad_message', what);
      const group = readString(o, 'group', 'bad_message', what);
      const dist = parseDistribution(
        fromBase64(readString(o, 'dist', 'bad_message', what), DISTRIBUTION_LEN, 'dist'),
      );
      if (toHex(dist.groupId) !== group)
        throw new ChatError('bad_message', 'a sender key names another group');
      return { kind, group, dist };
    }
    default:
      throw new ChatError('bad_message', 'unknown group message kind');
  }
}

/** The stored form of a group inner message waiting for a session (the `unsent` table): its JSON. */
export function groupInnerToText(m: GroupInner): string {
  return JSON.stringify(body(m));
}

/** Back from the stored form, through the same strict parser as a received one. */
export function groupInnerFromText(text: string): GroupInner {
  const json = utf8(text);
  const out = new Uint8Array(Math.max(1, Math.ceil(json.length / PAD_BLOCK)) * PAD_BLOCK);
  out.fill(BLANK, json.length);
  out.set(json);
  return parseGroupInner(out);
}
