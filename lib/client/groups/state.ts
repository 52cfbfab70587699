/**
 * Group state (docs/protocol.md section 10.2), pure: no I/O, no clock, no randomness (the group id
 * is made by the caller). A group is a random id, a name, members, admins and a version. It lives
 * on the members' clients; changes travel as inner messages over the pairwise sessions, so the
 * pairwise sender authenticates each one (`from` must equal the change's `by`).
 *
 * The concurrency rule. A change names the version it makes, `v` = the author's version + 1. A
 * client accepts a change when `v` is at most its version + 1 (a change further ahead is held
 * until the gap fills). The state is a deterministic fold: start from the base snapshot and apply
 * every accepted change in the order (v, SHA-256 of the change), skipping each change that is not
 * allowed at that point (its author is not an admin then, say). The version is the largest `v`
 * accepted. Two admins who change the group at once both make version n + 1; every client orders
 * the two the same way, whatever order they arrived in, so every client that has the same changes
 * is in the same state. A change that arrives after others that sort after it is folded in again
 * from the base (a rebase), so the result never depends on arrival order.
 *
 * Changes more than FINAL_DEPTH versions behind the newest are final: folded into the base and
 * forgotten, and one that arrives later still is refused as `stale` (the only case where clients
 * could disagree, and only after a delay of FINAL_DEPTH versions).
 */
import { ChatError, type ErrorCode } from '../../errors';
import {
  readArray,
  readBoolean,
  readObject,
  readSafeInteger,
  readString,
  type Fields,
} from '../../crypto/json-fields';
import { sha256, toHex, utf8 } from '../../crypto/primitives';
import { canonName, isValidName } from '../../names';
import { MAX_MULTI_RECIPIENTS } from '../../net/limits';

/** The sender and the most recipients one `send.multi` carries (section 10.5). */
export const MAX_GROUP_MEMBERS = MAX_MULTI_RECIPIENTS + 1;
/** A group name is shown in the sidebar: short, printable. */
export const MAX_GROUP_NAME_LEN = 64;
/** Versions after which a change is final (folded into the base). */
export const FINAL_DEPTH = 100;
/** Changes held per group while an earlier one is missing. */
export const MAX_PENDING_CHANGES = 100;
/** A group id: 16 random bytes as 32 lowercase hex characters (the sender keys' group id). */
export const GROUP_ID_PATTERN = /^[0-9a-f]{32}$/;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export type GroupOp =
  | { readonly t: 'add'; readonly users: readonly string[] }
  | { readonly t: 'remove'; readonly users: readonly string[] }
  | { readonly t: 'leave' }
  | { readonly t: 'rename'; readonly name: string }
  | { readonly t: 'admin'; readonly user: string; readonly on: boolean };

/** One change; user names are canonical and sorted (normalised when made or parsed). */
export interface GroupChange {
  readonly group: string;
  readonly v: number;
  readonly by: string;
  readonly op: GroupOp;
}

/** Members and admins are canonical names, sorted. */
export interface GroupSnapshot {
  readonly name: string;
  readonly members: readonly string[];
  readonly admins: readonly string[];
  readonly version: number;
}

export interface GroupState extends GroupSnapshot {
  readonly id: string;
  /** Final: the fold of every change up to `base.version`. */
  readonly base: GroupSnapshot;
  /** Accepted changes after the base, in (v, hash) order. */
  readonly log: readonly GroupChange[];
  /** Changes from further ahead than version + 1, waiting for the gap to fill. */
  readonly pending: readonly GroupChange[];
}

/** What a new member is sent (and every member at creation): enough to fold the same state. */
export interface GroupStateMessage {
  readonly group: string;
  readonly base: GroupSnapshot;
  readonly log: readonly GroupChange[];
}

export type ApplyOutcome = 'applied' | 'held' | 'duplicate' | 'stale' | 'refused';

function fail(code: ErrorCode, message: string): never {
  throw new ChatError(code, message, 'groups.state');
}

// ---------------------------------------------------------------------------------------------
// Validation and normalisation (shared by local changes and by parsing)

function checkGroupName(name: unknown, code: ErrorCode): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > MAX_GROUP_NAME_LEN ||
    CONTROL_CHARS.test(name)
  ) {
    fail(code, `a group name is 1 to ${MAX_GROUP_NAME_LEN} printable characters`);
  }
  return name;
}

function userList(users: readonly unknown[], code: ErrorCode, min = 1): string[] {
  if (users.length < min || users.length > MAX_GROUP_MEMBERS)
    fail(code, `a user list holds 1 to ${MAX_GROUP_MEMBERS} names`);
  const out = users.map((u) =>
    isValidName(u) ? canonName(u) : fail(code, 'a user list holds only valid names'),
  );
  const sorted = [...new Set(out)].sort();
  if (sorted.length !== out.length) fail(code, 'a user list names someone twice');
  return sorted;
}

function normaliseOp(op: GroupOp, code: ErrorCode): GroupOp {
  switch (op.t) {
    case 'add':
    case 'remove':
      return { t: op.t, users: userList(op.users, code) };
    case 'leave':
      return { t: 'leave' };
    case 'rename':
      return { t: 'rename', name: checkGroupName(op.name, code) };
    case 'admin':
      if (!isValidName(op.user) || typeof op.on !== 'boolean')
        fail(code, 'an admin change names a user and on');
      return { t: 'admin', user: canonName(op.user), on: op.on };
  }
}

function canonicalOp(op: GroupOp): unknown[] {
  switch (op.t) {
    case 'add':
    case 'remove':
      return [op.t, op.users];
    case 'leave':
      return [op.t];
    case 'rename':
      return [op.t, op.name];
    case 'admin':
      return [op.t, op.user, op.on];
  }
}

/** SHA-256 of the change's canonical form (a JSON array in a fixed order), as hex: the tie-break. */
export function changeHash(c: GroupChange): string {
  return toHex(
    sha256(utf8(JSON.stringify(['chatsecure-group-change-v1', c.group, c.v, c.by, ...canonicalOp(c.op)]))),
  );
}

function order(a: GroupChange, b: GroupChange): number {
  if (a.v !== b.v) return a.v - b.v;
  const ha = changeHash(a);
  const hb = changeHash(b);
  return ha < hb ? -1 : ha > hb ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// The fold

const without = (list: readonly string[], drop: readonly string[]) => list.filter((u) => !drop.includes(u));

/** `s` after `c`, or undefined when `c` is not allowed in `s` (it then has no effect). */
export function effectOf(s: GroupSnapshot, c: GroupChange): GroupSnapshot | undefined {
  if (!s.members.includes(c.by)) return undefined;
  const admin = s.admins.includes(c.by);
  const op = c.op;
  let members = s.members;
  let admins = s.admins;
  let name = s.name;
  switch (op.t) {
    case 'add': {
      const fresh = without(op.users, members);
      if (!admin || fresh.length === 0 || members.length + fresh.length > MAX_GROUP_MEMBERS) return undefined;
      members = [...members, ...fresh].sort();
      break;
    }
    case 'remove': {
      const gone = op.users.filter((u) => members.includes(u));
      if (!admin || gone.length === 0) return undefined;
      members = without(members, gone);
      admins = without(admins, gone);
      break;
    }
    case 'leave':
      members = without(members, [c.by]);
      admins = without(admins, [c.by]);
      break;
    case 'rename':
      if (!admin || op.name === name) return undefined;
      name = op.name;
      break;
    case 'admin':
      if (!admin || !members.includes(op.user) || admins.includes(op.user) === op.on) return undefined;
      // The last admin cannot step down; it can leave, which hands the role on (below).
      if (!op.on && admins.length === 1) return undefined;
      admins = op.on ? [...admins, op.user].sort() : without(admins, [op.user]);
      break;
  }
  // A group never keeps members without an admin: the first member by name takes the role.
  if (admins.length === 0 && members.length > 0) admins = [members[0]];
  return { name, members, admins, version: s.version };
}

function fold(base: GroupSnapshot, log: readonly GroupChange[]): GroupSnapshot {
  let s = base;
  for (const c of log) s = { ...(effectOf(s, c) ?? s), version: Math.max(s.version, c.v) };
  return s;
}

function build(
  id: string,
  base: GroupSnapshot,
  log: readonly GroupChange[],
  pending: readonly GroupChange[],
): GroupState {
  let s = fold(base, log);
  // Compaction: what is FINAL_DEPTH versions old becomes the base.
  if (s.version - base.version > FINAL_DEPTH) {
    const cut = s.version - FINAL_DEPTH;
    const old = log.filter((c) => c.v <= cut);
    base = { ...fold(base, old), version: cut };
    log = log.filter((c) => c.v > cut);
    s = fold(base, log);
  }
  return { id, ...s, base, log, pending };
}

// ---------------------------------------------------------------------------------------------
// Making and applying changes

/** A new group at version 1, its creator its only admin; send `stateMessageOf` to the others. */
export function createGroup(
  id: string,
  name: string,
  creator: string,
  members: readonly string[],
): GroupState {
  if (!GROUP_ID_PATTERN.test(id)) fail('bad_message', 'a group id is 32 lowercase hex characters');
  const by = canonName(creator);
  const all = userList([...new Set([by, ...members.map(canonName)])], 'bad_args');
  return build(
    id,
    { name: checkGroupName(name, 'bad_args'), members: all, admins: [by], version: 1 },
    [],
    [],
  );
}

/**
 * A change by `by` following `state`'s version; refused (`bad_state`) when it would have no
 * effect now, so a user is told at once that only admins may add. Apply it locally with
 * `applyChange`, then send it to every member of the state before and after it.
 */
export function proposeChange(state: GroupState, by: string, op: GroupOp): GroupChange {
  const c: GroupChange = {
    group: state.id,
    v: state.version + 1,
    by: canonName(by),
    op: normaliseOp(op, 'bad_args'),
  };
  if (!effectOf(state, c)) fail('bad_state', 'this change is not allowed in the group as it is');
  return c;
}

/**
 * Applies a change received from `from` (the authenticated pairwise sender). Never throws for a
 * well-formed change: the outcome says what happened.
 * - `applied`: accepted (folded in at its place in the order; held changes it unblocked too);
 * - `held`: from further ahead than version + 1, kept until the gap fills;
 * - `duplicate`: already accepted or held;
 * - `stale`: older than the final base;
 * - `refused`: another group, `by` is not `from`, or too many changes held.
 */
export function applyChange(
  state: GroupState,
  c: GroupChange,
  from: string,
): { state: GroupState; outcome: ApplyOutcome } {
  if (c.group !== state.id || c.by !== canonName(from)) return { state, outcome: 'refused' };
  const h = changeHash(c);
  if ([...state.log, ...state.pending].some((x) => changeHash(x) === h))
    return { state, outcome: 'duplicate' };
  if (c.v <= state.base.version) return { state, outcome: 'stale' };
  if (c.v > state.version + 1) {
    if (state.pending.length >= MAX_PENDING_CHANGES) return { state, outcome: 'refused' };
    return { state: { ...state, pending: [...state.pending, c] }, outcome: 'held' };
  }
  let log = [...state.log, c];
  let pending = state.pending;
  let version = Math.max(state.version, c.v);
  // Held changes that now follow.
  for (;;) {
    const ready = pending.filter((p) => p.v <= version + 1);
    if (ready.length === 0) break;
    pending = pending.filter((p) => p.v > version + 1);
    log = [...log, ...ready];
    version = Math.max(version, ...ready.map((p) => p.v));
  }
  log.sort(order);
  return { state: build(state.id, state.base, log, pending), outcome: 'applied' };
}

/** Who joined and who went, from one state to the next: a removal means a sender key rotation. */
export function membershipDiff(
  before: GroupSnapshot,
  after: GroupSnapshot,
): { added: string[]; removed: string[] } {
  return {
    added: without(after.members, before.members),
    removed: without(before.members, after.members),
  };
}

export function stateMessageOf(state: GroupState): GroupStateMessage {
  return { group: state.id, base: state.base, log: state.log };
}

/**
 * A state received from `from` (at creation, or when we are added). Accepted only from an admin of
 * the state it describes, and only if `self` is a member of it (`bad_state` otherwise).
 */
export function joinGroup(m: GroupStateMessage, from: string, self: string): GroupState {
  const state = build(m.group, m.base, [...m.log].sort(order), []);
  if (!state.members.includes(canonName(self)))
    fail('bad_state', 'this group state does not list us as a member');
  const sender = canonName(from);
  if (!state.admins.includes(sender) && !fold(m.base, []).admins.includes(sender)) {
    fail('bad_state', 'a group state is accepted only from one of its admins');
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// Wire form: JSON values inside the pairwise inner messages (section 10.2); strict, `bad_message`.

const BAD: ErrorCode = 'bad_message';

export function groupChangeToJSON(c: GroupChange): Record<string, unknown> {
  return { group: c.group, v: c.v, by: c.by, op: { ...c.op } };
}

function parseOp(v: unknown): GroupOp {
  const probe = readObject(v, ['t'], ['users', 'name', 'user', 'on'], BAD, 'a group change op');
  const t = readString(probe, 't', BAD, 'op');
  const exact = (req: string[]): Fields => readObject(v, ['t', ...req], [], BAD, `a group ${t} op`);
  switch (t) {
    case 'add':
    case 'remove':
      return { t, users: userList(readArray(exact(['users']), 'users', BAD, 'op'), BAD) };
    case 'leave':
      exact([]);
      return { t };
    case 'rename':
      return { t, name: checkGroupName(readString(exact(['name']), 'name', BAD, 'op'), BAD) };
    case 'admin': {
      const o = exact(['user', 'on']);
      return normaliseOp(
        { t, user: readString(o, 'user', BAD, 'op'), on: readBoolean(o, 'on', BAD, 'op') },
        BAD,
      );
    }
    default:
      return fail(BAD, 'unknown group change');
  }
}

function parseGroupId(v: unknown): string {
  if (typeof v !== 'string' || !GROUP_ID_PATTERN.test(v))
    fail(BAD, 'a group id is 32 lowercase hex characters');
  return v;
}

export function parseGroupChange(v: unknown): GroupChange {
  const o = readObject(v, ['group', 'v', 'by', 'op'], [], BAD, 'a group change');
  const version = readSafeInteger(o, 'v', BAD, 'a group change');
  if (version < 2) fail(BAD, 'a group change makes version 2 or later');
  const by = readString(o, 'by', BAD, 'a group change');
  if (!isValidName(by)) fail(BAD, 'a group change names its author');
  return { group: parseGroupId(o.group), v: version, by: canonName(by), op: parseOp(o.op) };
}

export function groupStateToJSON(m: GroupStateMessage): Record<string, unknown> {
  return { group: m.group, base: { ...m.base }, log: m.log.map(groupChangeToJSON) };
}

export function parseGroupStateMessage(v: unknown): GroupStateMessage {
  const o = readObject(v, ['group', 'base', 'log'], [], BAD, 'a group state');
  const group = parseGroupId(o.group);
  const b = readObject(o.base, ['name', 'members', 'admins', 'version'], [], BAD, 'a group base');
  const members = userList(readArray(b, 'members', BAD, 'base'), BAD);
  const admins = userList(readArray(b, 'admins', BAD, 'base'), BAD);
  if (!admins.every((a) => members.includes(a))) fail(BAD, 'every admin of a group is a member');
  const version = readSafeInteger(b, 'version', BAD, 'base');
  if (version < 1) fail(BAD, 'a group version starts at 1');
  const log = readArray(o, 'log', BAD, 'a group state').map(parseGroupChange);
  if (log.length > FINAL_DEPTH + MAX_PENDING_CHANGES) fail(BAD, 'a group state holds too many changes');
  if (log.some((c) => c.group !== group || c.v <= version))
    fail(BAD, 'a group state holds a change of another base');
  return { group, base: { name: checkGroupName(b.name, BAD), members, admins, version }, log };
}
