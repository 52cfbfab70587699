/**
 * Groups in the client core (docs/protocol.md section 10.6): the state of each group, the changes
 * made here and received pairwise, and our sender key per group (made at create/join, rotated
 * whenever a member goes, distributed pairwise to whoever needs it). The pure parts are state.ts,
 * inner.ts and lib/crypto/sender-keys.ts; this file decides what to store and what to send, in
 * the client's transactions. Group messages themselves are group-messages.ts.
 *
 * Everything pairwise goes through the Sender's `queueInner`: the group inner message is stored in
 * the unsent table like a text and sealed by the next flush (after a `keys.fetch` when there is no
 * session yet), so a member we never talked to still gets it, and nothing is lost offline.
 */
import { randomBytes, toHex, fromHex } from '../../crypto/primitives';
import {
  acceptDistribution,
  createOwnSenderKey,
  distributionOf,
  EMPTY_SENDER_KEY_RECORD,
  parseOwnSenderKey,
  parseSenderKeyRecord,
  serializeOwnSenderKey,
  serializeSenderKeyRecord,
  type OwnSenderKey,
  type SenderKeyDistribution,
} from '../../crypto/sender-keys';
import { ChatError, isChatError } from '../../errors';
import { canonName, checkName } from '../../names';
import type { StoreParts } from '../parts';
import type { GroupEvent, GroupEventKind, GroupInfo } from '../types';
import type { StoredGroup } from './group-store';
import type { GroupInner } from './inner';
import {
  applyChange,
  createGroup as createGroupState,
  groupChangeToJSON,
  MAX_PENDING_CHANGES,
  parseGroupChange,
  GROUP_ID_PATTERN,
  joinGroup,
  MAX_GROUP_MEMBERS,
  membershipDiff,
  proposeChange,
  stateMessageOf,
  type GroupChange,
  type GroupOp,
  type GroupState,
  type GroupStateMessage,
} from './state';

/** Sender key records kept for groups we hold no state of yet (a key that overtook the state). */
export const MAX_ORPHAN_SENDER_KEYS = 200;

export interface GroupsDeps extends StoreParts {
  readonly canon: string;
  /** Stores a pairwise group inner message for `peer` (sealed by the next flush); returns its id. */
  readonly queueInner: (peer: string, peerName: string, inner: GroupInner) => string;
  /** Something was queued: flush the pairwise outbox (and, after it, the group outbox). */
  readonly flush: () => void;
  /** A change added `peer`: their group messages held by the inbox are received now. */
  readonly added: (peer: string) => void;
}

/** What to tell the views once the transaction that made it has committed. */
export type After = () => void;

export const groupKey = (id: string): string => `#${id}`;

export class Groups {
  constructor(private readonly deps: GroupsDeps) {}

  // -------------------------------------------------------------------------------------------
  // Reading

  all(): StoredGroup[] {
    return this.deps.store.groups.groupList();
  }

  get(id: string): StoredGroup | undefined {
    return this.deps.store.groups.group(id);
  }

  /**
   * A group id, '#'+id, or a display name (with or without '#', case-insensitive, among groups we
   * are a member of). Undefined when nothing matches; `bad_name` when two groups share the name.
   */
  find(arg: string): StoredGroup | undefined {
    const bare = arg.startsWith('#') ? arg.slice(1) : arg;
    if (GROUP_ID_PATTERN.test(bare)) {
      const g = this.get(bare);
      if (g) return g;
    }
    const lower = bare.toLowerCase();
    const named = this.all().filter((g) => g.member && g.state.name.toLowerCase() === lower);
    if (named.length > 1) {
      throw new ChatError(
        'bad_name',
        `two groups are called ${bare}; name one by its id (#${named[0].id} or #${named[1].id})`,
      );
    }
    return named[0];
  }

  resolve(arg: string): StoredGroup {
    const g = this.find(arg);
    if (!g) throw new ChatError('unknown_group', `you are in no group called ${arg}`);
    return g;
  }

  /** Members (not us) whose identity changed and is not accepted yet. */
  blockedBy(g: StoredGroup): string[] {
    if (!g.member) return [];
    return g.state.members.filter(
      (m) => m !== this.deps.canon && this.deps.contacts.get(m)?.state === 'changed',
    );
  }

  info(g: StoredGroup): GroupInfo {
    const key = groupKey(g.id);
    return {
      id: g.id,
      key,
      name: g.state.name,
      members: [...g.state.members],
      admins: [...g.state.admins],
      version: g.state.version,
      unread: this.deps.store.unreadCount(key),
      member: g.member,
      blockedBy: this.blockedBy(g),
    };
  }

  /** A member's name as shown: the contact's, else the canonical one. */
  displayName(canon: string): string {
    return this.deps.contacts.get(canon)?.name ?? canon;
  }

  ownKey(g: StoredGroup): OwnSenderKey | undefined {
    return g.ownKey === undefined ? undefined : parseOwnSenderKey(g.ownKey);
  }

  // -------------------------------------------------------------------------------------------
  // Changes made here

  createGroup(name: string, users: readonly string[]): GroupInfo {
    for (const u of users) checkName(u);
    const others = [...new Set(users.map(canonName))].filter((u) => u !== this.deps.canon);
    if (others.length === 0) throw new ChatError('bad_args', 'a group needs at least one other member');
    if (others.length + 1 > MAX_GROUP_MEMBERS) {
      throw new ChatError('bad_args', `a group has at most ${MAX_GROUP_MEMBERS} members`);
    }
    const id = toHex(randomBytes(16));
    const state = createGroupState(id, name, this.deps.canon, others);
    const names = new Map(users.map((u) => [canonName(u), u]));
    const g = this.deps.tx(() => {
      const own = createOwnSenderKey(fromHex(id), randomBytes);
      const stored = this.save({ id, state, member: true, own, usedKeyIds: [own.keyId] });
      const message = stateMessageOf(state);
      for (const m of others) {
        this.deps.queueInner(m, this.deps.contacts.get(m)?.name ?? names.get(m) ?? m, {
          kind: 'group.state',
          state: message,
        });
      }
      return stored;
    });
    this.deps.log.info({ members: state.members.length }, 'group created');
    this.emit(g, 'created', this.deps.canon);
    this.deps.flush();
    return this.info(g);
  }

  /** A change by us: checked (member, admin), applied, stored and sent, in one transaction. */
  change(arg: string, op: GroupOp): GroupInfo {
    const g = this.resolve(arg);
    if (!g.member) throw new ChatError('not_member', `you are no longer a member of ${g.state.name}`);
    if (op.t !== 'leave' && !g.state.admins.includes(this.deps.canon)) {
      throw new ChatError('not_admin', `only an admin of ${g.state.name} can do that`);
    }
    if (op.t === 'add' || op.t === 'remove') for (const u of op.users) checkName(u);
    if (op.t === 'admin') checkName(op.user);
    let c: GroupChange;
    try {
      c = proposeChange(g.state, this.deps.canon, op);
    } catch (err) {
      if (!isChatError(err, 'bad_state')) throw err;
      throw new ChatError('bad_args', this.whyNoEffect(g, op));
    }
    const { state: next, outcome } = applyChange(g.state, c, this.deps.canon);
    if (outcome !== 'applied') throw new ChatError('internal', `a local group change was ${outcome}`);
    const after: After[] = [];
    const saved = this.deps.tx(() => {
      const before = g.state;
      const stored = this.afterApplied(g, next, c, after);
      const added = membershipDiff(before, next).added;
      const everyone = [...new Set([...before.members, ...next.members])];
      for (const m of everyone) {
        if (m === this.deps.canon) continue;
        const inner: GroupInner = added.includes(m)
          ? { kind: 'group.state', state: stateMessageOf(next) }
          : { kind: 'group.change', change: c };
        this.deps.queueInner(m, this.displayName(m), inner);
      }
      return stored;
    });
    for (const a of after) a();
    this.deps.flush();
    return this.info(saved);
  }

  private whyNoEffect(g: StoredGroup, op: GroupOp): string {
    const s = g.state;
    switch (op.t) {
      case 'add': {
        const fresh = op.users.map(canonName).filter((u) => !s.members.includes(u));
        return fresh.length === 0
          ? `everyone named is already a member of ${s.name}`
          : `a group has at most ${MAX_GROUP_MEMBERS} members`;
      }
      case 'remove':
        return `nobody named is a member of ${s.name}`;
      case 'rename':
        return `${s.name} already has that name`;
      case 'admin':
        return 'that admin change has no effect (not a member, already so, or the last admin)';
      case 'leave':
        return `you cannot leave ${s.name}`;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Pairwise group inner messages received (inside the decrypt transaction of e2e.ts)

  /**
   * Applies a group inner message from `from` (the authenticated pairwise sender), in the caller's
   * transaction. Refusals are reported through `after` (an error event), never thrown: the ratchet
   * step is kept and the envelope acked. Store failures throw (nothing is acked then).
   */
  received(from: string, inner: GroupInner, after: After[]): void {
    const peer = canonName(from);
    switch (inner.kind) {
      case 'group.state':
        this.receivedState(peer, inner.state, after);
        return;
      case 'group.change':
        this.receivedChange(peer, inner.change, after);
        return;
      case 'group.key':
        this.receivedKey(peer, inner.group, inner.dist, after);
        return;
    }
  }

  private report(after: After[], code: ChatError['code'], message: string, id?: string): void {
    after.push(() => {
      this.deps.log.warn({ code }, 'group message refused');
      this.deps.emit('error', { code, message, ...(id ? { peer: groupKey(id) } : {}) });
    });
  }

  private receivedState(peer: string, m: GroupStateMessage, after: After[]): void {
    const existing = this.get(m.group);
    if (existing?.member) {
      // Already a member: a resent state adds nothing; changes come one by one (`group.change`).
      this.deps.log.debug({ from: peer }, 'group state for a group we are in: ignored');
      return;
    }
    let state: GroupState;
    try {
      state = joinGroup(m, peer, this.deps.canon);
    } catch (err) {
      if (!isChatError(err)) throw err;
      this.report(after, err.code, `a group state from ${peer} was refused: ${err.message}`);
      return;
    }
    // Changes that overtook this state (made at once with the add that brought us in) fold in now,
    // each still checked against its pairwise sender.
    for (const e of this.deps.store.groups.takeEarlyChanges(state.id)) {
      state = applyChange(state, parseGroupChange(JSON.parse(e.change)), e.from).state;
    }
    if (!state.members.includes(this.deps.canon)) {
      this.save({ id: state.id, state, member: false, usedKeyIds: existing?.usedKeyIds ?? [] });
      return;
    }
    const own = createOwnSenderKey(fromHex(state.id), randomBytes, existing?.usedKeyIds ?? []);
    const stored = this.save({
      id: state.id,
      state,
      member: true,
      own,
      usedKeyIds: [...(existing?.usedKeyIds ?? []), own.keyId],
    });
    // Keys that came before the state (or from a time we were a member) count only for members.
    const gone = this.deps.store.groups.peerKeyHolders(state.id).filter((h) => !state.members.includes(h));
    if (gone.length) this.deps.store.groups.deletePeerKeys(state.id, gone);
    after.push(() => {
      this.emit(stored, 'joined', peer);
      // Group messages that overtook this state are received now.
      for (const m of state.members) if (m !== this.deps.canon) this.deps.added(m);
      this.deps.flush();
    });
  }

  private receivedChange(peer: string, c: GroupChange, after: After[]): void {
    const g = this.get(c.group);
    if (!g) {
      // It may have overtaken the state that adds us: held (a bounded number) until that comes.
      if (this.deps.store.groups.countEarlyChanges() >= MAX_PENDING_CHANGES) {
        this.report(after, 'unknown_group', `a change of a group we are not in came from ${peer}`);
        return;
      }
      this.deps.store.groups.holdEarlyChange(c.group, peer, JSON.stringify(groupChangeToJSON(c)));
      return;
    }
    if (!g.member) {
      this.deps.log.debug({ from: peer }, 'group change after we left: ignored');
      return;
    }
    const { state: next, outcome } = applyChange(g.state, c, peer);
    this.deps.log.debug({ from: peer, outcome }, 'group change');
    if (outcome === 'refused') {
      this.report(after, 'bad_state', `a change of ${g.state.name} from ${peer} was refused`, g.id);
      return;
    }
    if (outcome === 'stale') {
      // Already final here (an author resending its changes to a member it saw added, say).
      this.deps.log.debug({ from: peer }, 'a stale group change: ignored');
      return;
    }
    if (outcome !== 'applied') {
      // Held (a gap) or a duplicate: kept or dropped by the fold; nothing changed that shows.
      if (outcome === 'held') this.save({ ...g, state: next, own: this.ownKey(g) });
      return;
    }
    const stored = this.afterApplied(g, next, c, after);
    this.tellNewMembersOurChanges(g.state, stored);
    after.push(() => this.deps.flush());
  }

  /**
   * Someone else's change brought members in. The state their adder sent them cannot hold our own
   * changes made at the same time (or that the adder had not received yet): we send those to the
   * new members ourselves, as their author, so every member folds the same changes (10.2). A
   * member who has one already finds it a duplicate.
   */
  private tellNewMembersOurChanges(before: GroupState, after: StoredGroup): void {
    if (!after.member) return;
    const added = membershipDiff(before, after.state).added.filter((m) => m !== this.deps.canon);
    if (!added.length) return;
    // All of ours not yet final (at most 100): which of them the adder had, we cannot know.
    const ours = after.state.log.filter((d) => d.by === this.deps.canon);
    for (const m of added) {
      for (const d of ours) this.deps.queueInner(m, this.displayName(m), { kind: 'group.change', change: d });
    }
  }

  private receivedKey(peer: string, group: string, dist: SenderKeyDistribution, after: After[]): void {
    const groups = this.deps.store.groups;
    const g = this.get(group);
    if (g && !g.member) return;
    if (g && !g.state.members.includes(peer)) {
      // It may have overtaken the change that adds its sender: kept, and checked at every message.
      this.deps.log.debug({ from: peer }, 'a sender key from someone not yet a member');
    }
    const held = groups.peerKey(group, peer);
    if (!g && held === undefined && groups.countOrphanPeerKeys() >= MAX_ORPHAN_SENDER_KEYS) {
      this.report(after, 'bad_state', `a sender key from ${peer} for an unknown group was dropped`);
      return;
    }
    const record = held === undefined ? EMPTY_SENDER_KEY_RECORD : parseSenderKeyRecord(held);
    try {
      groups.savePeerKey(group, peer, serializeSenderKeyRecord(acceptDistribution(record, dist)));
    } catch (err) {
      if (!isChatError(err, 'bad_key')) throw err;
      this.report(after, 'bad_key', `a sender key from ${peer} was refused: ${err.message}`, group);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Shared by local and received changes

  /**
   * Stores `next` after `c` and does what membership changes require: we were removed or left
   * (our key and everyone's are dropped); someone went (their keys are dropped and we rotate ours,
   * distributing it to the remaining members only); someone came (they get our current key).
   */
  private afterApplied(g: StoredGroup, next: GroupState, c: GroupChange, after: After[]): StoredGroup {
    const groups = this.deps.store.groups;
    const { removed } = membershipDiff(g.state, next);
    const me = this.deps.canon;
    let stored: StoredGroup;
    if (!next.members.includes(me)) {
      groups.deletePeerKeys(g.id);
      stored = this.save({ id: g.id, state: next, member: false, usedKeyIds: g.usedKeyIds });
      for (const o of groups.pendingGroupOutgoing()) {
        if (o.group === g.id) for (const m of o.waiting) groups.groupOutgoingDone(o.id, m);
      }
    } else {
      let own = this.ownKey(g) ?? createOwnSenderKey(fromHex(g.id), randomBytes, g.usedKeyIds);
      let used = g.usedKeyIds.includes(own.keyId) ? g.usedKeyIds : [...g.usedKeyIds, own.keyId];
      if (removed.length) {
        groups.deletePeerKeys(g.id, removed);
        for (const o of groups.pendingGroupOutgoing()) {
          if (o.group !== g.id) continue;
          for (const m of o.waiting) if (removed.includes(m)) groups.groupOutgoingDone(o.id, m);
        }
        // Section 10.3: a fresh chain and signing key under a key id never used here before.
        own = createOwnSenderKey(fromHex(g.id), randomBytes, used);
        used = [...used, own.keyId];
      }
      stored = this.save({ id: g.id, state: next, member: true, own, usedKeyIds: used });
    }
    const joined = membershipDiff(g.state, next).added.filter((m) => m !== me);
    if (joined.length && stored.member) after.push(() => joined.forEach((m) => this.deps.added(m)));
    const kind = eventKind(c, me);
    const users =
      c.op.t === 'add' || c.op.t === 'remove' ? c.op.users : c.op.t === 'admin' ? [c.op.user] : [];
    after.push(() => this.emit(stored, kind, c.by, users));
    return stored;
  }

  /**
   * Queues our distribution of `own` (the chain as it is now) to every other member that has not
   * had this key id yet. Called before each group message we seal, in its transaction: sender keys
   * go out lazily, as in Signal, before our first message after a create, a join, an add or a
   * rotation, so a group of n costs the members who write n distributions each, not n².
   */
  distribute(g: StoredGroup, own: OwnSenderKey): void {
    const groups = this.deps.store.groups;
    const dist = distributionOf(own);
    for (const m of g.state.members) {
      if (m === this.deps.canon || groups.keyQueuedFor(g.id, m, own.keyId)) continue;
      const id = this.deps.queueInner(m, this.displayName(m), { kind: 'group.key', group: g.id, dist });
      groups.keyQueued(g.id, m, own.keyId, id);
    }
  }

  /**
   * `/accept` of a member's new identity: what we distributed to the old one is forgotten, so our
   * key goes to the new one before our next message. Group messages sealed for them before cannot
   * reach the new identity (a distribution carries the chain as it is now): given up for that
   * member. A new identity is usually a new install that knows no group: an admin sends it the
   * group's state again (a member who still has it ignores that).
   */
  identityAccepted(peer: string): void {
    const groups = this.deps.store.groups;
    for (const g of this.all()) {
      if (!g.member || !g.state.members.includes(peer)) continue;
      groups.forgetKeysSent(g.id, peer);
      for (const o of groups.pendingGroupOutgoing()) {
        if (o.group === g.id && o.waiting.includes(peer)) groups.groupOutgoingDone(o.id, peer);
      }
      if (g.state.admins.includes(this.deps.canon)) {
        this.deps.queueInner(peer, this.displayName(peer), {
          kind: 'group.state',
          state: stateMessageOf(g.state),
        });
      }
    }
  }

  save(g: {
    id: string;
    state: GroupState;
    member: boolean;
    own?: OwnSenderKey;
    usedKeyIds: readonly number[];
  }): StoredGroup {
    const groups = this.deps.store.groups;
    groups.saveGroup({
      id: g.id,
      state: g.state,
      member: g.member,
      usedKeyIds: g.usedKeyIds,
      ...(g.member && g.own ? { ownKey: serializeOwnSenderKey(g.own) } : {}),
    });
    return groups.group(g.id)!;
  }

  private emit(g: StoredGroup, what: GroupEventKind, by: string, users: readonly string[] = []): void {
    const e: GroupEvent = {
      id: g.id,
      key: groupKey(g.id),
      name: g.state.name,
      what,
      by: this.displayName(by),
      ...(users.length ? { users: users.map((u) => this.displayName(u)) } : {}),
    };
    this.deps.emit('group', e);
  }
}

function eventKind(c: GroupChange, me: string): GroupEventKind {
  switch (c.op.t) {
    case 'add':
      return 'added';
    case 'remove':
      return c.op.users.includes(me) ? 'removed-me' : 'removed';
    case 'leave':
      return 'left';
    case 'rename':
      return 'renamed';
    case 'admin':
      return 'admin';
  }
}
