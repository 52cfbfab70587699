/**
 * Groups in the views (issue 16): what the line mode and the full screen both say about a
 * group, as pure functions of the client's shapes (GroupInfo, GroupEvent, the receipt counts),
 * and `runGroupCommand`, the one place a `/group` command becomes a client call.
 *
 * A group's name, its members' names and a sender's name are peer-supplied: every one goes
 * through `neutralise` here, and a name is cut to GROUP_NAME_SHOWN characters and quoted
 * unless it is one plain word, so a group called "x\n* Bob is now verified" shows as
 * `#"x * Bob is now verified"` inside our own sentence, never as a line or a claim of its own.
 */
import { canonName } from '../names';
import type { GroupCommand } from './commands';
import type { ChatMessage } from '../client/types';
import type { ChatCore, GroupEvent, GroupInfo, GroupReceipts } from './core';
import { neutralise } from './sanitize';

/** The most of a group's name shown (the create rule allows 64; a peer's client may not care). */
export const GROUP_NAME_SHOWN = 64;

/** A name shown bare after '#': one word, nothing that could end a bracket or a quote. */
const BARE_NAME = /^[^\s:#"[\]\p{Cc}]+$/u;

/**
 * `#name`, neutralised and bounded: how every view shows a group. A name someone else's client
 * made may hold spaces, brackets or colons; it is then quoted, `#"our plan: go"`, so that it
 * cannot pass for the rest of our sentence ("#x; Eve is now verified") or for the sender of
 * a line mode's group line ("[#team] Eve: ...").
 */
export function groupLabel(name: string): string {
  const chars = [...neutralise(name)];
  const cut =
    chars.length > GROUP_NAME_SHOWN ? chars.slice(0, GROUP_NAME_SHOWN - 1).join('') + '…' : chars.join('');
  return BARE_NAME.test(cut) ? '#' + cut : `#"${cut.replace(/"/g, "'")}"`;
}

/** Whether a conversation key is a group's ('#' + id); contact names never start with '#'. */
export function isGroupKey(peer: string): boolean {
  return peer.startsWith('#');
}

/** The group a message belongs to, or undefined for a message between two. */
export function groupOf(m: ChatMessage): string | undefined {
  return m.group ?? (isGroupKey(m.peer) ? m.peer.slice(1) : undefined);
}

/** Who wrote a group message (neutralised): `me` for ours. */
export function senderOf(m: ChatMessage, me: string): string {
  return neutralise(m.direction === 'out' ? me : (m.sender ?? m.peerName));
}

/** "delivered to 3 of 5, read by 2" (read counts as delivered too). */
export function receiptCounts(r: GroupReceipts): string {
  const read = new Set(r.read.map(canonName));
  const delivered = new Set([...r.delivered.map(canonName), ...read]);
  const n = r.to.length;
  if (delivered.size === 0) return n === 1 ? 'not yet delivered to its 1 member' : `delivered to 0 of ${n}`;
  return `delivered to ${delivered.size} of ${n}` + (read.size > 0 ? `, read by ${read.size}` : '');
}

const same = (a: string, b: string) => canonName(a) === canonName(b);

/**
 * The client lists members by canonical name (GROUPS-API.md): each shown with the case its
 * owner registered, where a contact (or I) has it; a name not known stays as it is.
 */
export function displayNames(
  me: string,
  contacts: readonly { readonly canon: string; readonly name: string }[],
): (name: string) => string {
  const book = new Map(contacts.map((c) => [c.canon, c.name]));
  book.set(canonName(me), me);
  return (n) => book.get(canonName(n)) ?? n;
}

/** `info` with its members, admins and blocking members in their display names. */
export function withDisplayNames(info: GroupInfo, show: (name: string) => string): GroupInfo {
  return {
    ...info,
    members: info.members.map(show),
    admins: info.admins.map(show),
    blockedBy: info.blockedBy.map(show),
  };
}

/** `e` with its author and subjects in their display names. */
export function eventWithDisplayNames(e: GroupEvent, show: (name: string) => string): GroupEvent {
  return { ...e, by: show(e.by), ...(e.users ? { users: e.users.map(show) } : {}) };
}

/** A list of names in words: "Bob", "Bob and Eve", "Bob, Dan and Eve"; `me` becomes "you". */
export function namesInWords(names: readonly string[], me: string): string {
  const shown = names.map((n) => (same(n, me) ? 'you' : neutralise(n)));
  if (shown.length <= 1) return shown[0] ?? 'nobody';
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

/**
 * A group event as one sentence (no leading mark: the line mode puts `* ` before it).
 * `before`: the group's name before this event, for 'renamed'; `info`: the group now, for the
 * members of a group just made.
 */
export function groupEventText(e: GroupEvent, me: string, before?: string, info?: GroupInfo): string {
  const by = same(e.by, me) ? 'you' : neutralise(e.by);
  const By = by === 'you' ? 'You' : by;
  const g = groupLabel(e.name);
  const users = namesInWords(e.users ?? [], me);
  const others = (info?.members ?? []).filter((m) => !same(m, me) && !same(m, e.by));
  switch (e.what) {
    case 'created':
      return `${By} created the group ${g}` + (others.length ? ` with ${namesInWords(others, me)}` : '');
    case 'joined':
      return (
        `${By} added you to the group ${g}` + (others.length ? ` (with ${namesInWords(others, me)})` : '')
      );
    case 'added':
      return `${By} added ${users} to ${g}`;
    case 'removed':
      return `${By} removed ${users} from ${g}`;
    case 'left':
      return by === 'you' ? `You left ${g}; its history stays readable` : `${By} left ${g}`;
    case 'renamed':
      return before !== undefined && before !== e.name
        ? `${By} renamed ${groupLabel(before)} to ${g}`
        : `${By} renamed the group to ${g}`;
    case 'admin': {
      // The event says whose role changed; the group as it is now says which way.
      const now = new Set(info?.admins.map(canonName) ?? []);
      if (info && (e.users ?? []).every((u) => !now.has(canonName(u))))
        return `${By} took the admin role of ${g} from ${users}`;
      return `${By} made ${users} ${e.users && e.users.length > 1 ? 'admins' : 'an admin'} of ${g}`;
    }
    case 'removed-me':
      return `${By} removed you from ${g}; its history stays readable`;
  }
}

/** `/group members`: a heading, then one row per member, admins and blocking members marked. */
export function groupMembersLines(info: GroupInfo, me: string): string[] {
  const admins = new Set(info.admins.map(canonName));
  const blocked = new Set(info.blockedBy.map(canonName));
  const w = Math.max(0, ...info.members.map((m) => neutralise(m).length));
  const head =
    `${groupLabel(info.name)}: ${info.members.length} member${info.members.length === 1 ? '' : 's'}` +
    (info.member ? '' : ' (you are no longer a member)');
  const rows = info.members.map((m) => {
    const marks = [
      same(m, me) ? 'you' : '',
      admins.has(canonName(m)) ? 'admin' : '',
      blocked.has(canonName(m))
        ? `! safety number changed: sending blocked until /accept ${neutralise(m)}`
        : '',
    ].filter(Boolean);
    return `  ${neutralise(m).padEnd(w)}  ${marks.join(', ')}`.trimEnd();
  });
  return [head, ...rows];
}

/** `/groups`: one row per group. */
export function groupListLines(groups: readonly GroupInfo[]): string[] {
  if (groups.length === 0) return ['  no groups yet: /group create NAME USER...'];
  const labels = groups.map((g) => groupLabel(g.name));
  const w = Math.max(...labels.map((l) => l.length));
  return groups.map((g, i) => {
    const notes = [
      `${g.members.length} member${g.members.length === 1 ? '' : 's'}`,
      g.member ? '' : 'left',
      g.blockedBy.length ? 'sending blocked' : '',
      g.unread ? `${g.unread} unread` : '',
    ].filter(Boolean);
    return `  ${labels[i].padEnd(w)}  ${notes.join(', ')}`;
  });
}

/** The sentence after a group command succeeded (the 'group' event says what others did). */
export function groupResultText(cmd: GroupCommand, info: GroupInfo, me: string): string {
  const g = groupLabel(info.name);
  switch (cmd.op) {
    case 'create':
      return `Created ${g} with ${namesInWords(
        info.members.filter((m) => !same(m, me)),
        me,
      )}`;
    case 'add':
      return `Added ${namesInWords(cmd.users, me)} to ${g}`;
    case 'remove':
      return `Removed ${namesInWords(cmd.users, me)} from ${g}`;
    case 'leave':
      return `You left ${g}; its history stays readable`;
    case 'rename':
      return `Renamed the group to ${g}`;
    case 'admin': {
      const who = same(cmd.user, me) ? 'You are' : `${neutralise(cmd.user)} is`;
      return `${who} ${cmd.on ? 'now' : 'no longer'} an admin of ${g}`;
    }
    case 'members':
      return groupMembersLines(info, me).join('\n');
  }
}

/** Runs a `/group` command on the core; throws its ChatError (a sentence) on bad input. */
export function runGroupCommand(core: ChatCore, cmd: GroupCommand): GroupInfo {
  switch (cmd.op) {
    case 'create':
      return core.createGroup(cmd.group, cmd.users);
    case 'add':
      return core.addToGroup(cmd.group, cmd.users);
    case 'remove':
      return core.removeFromGroup(cmd.group, cmd.users);
    case 'leave':
      return core.leaveGroup(cmd.group);
    case 'rename':
      return core.renameGroup(cmd.group, cmd.name);
    case 'admin':
      return core.setGroupAdmin(cmd.group, cmd.user, cmd.on);
    case 'members':
      return findGroup(core, cmd.group);
  }
}

/** A group by what the user typed; the sentence when there is none. */
export function findGroup(core: ChatCore, typed: string): GroupInfo {
  const info = core.group(typed);
  if (!info) throw new Error(`there is no group called ${groupLabel(typed)}; /groups lists yours`);
  return info;
}

/** Sends to a group; throws the core's ChatError (e.g. identity_changed, a sentence). */
export function sendToGroup(core: ChatCore, group: string, body: string): ChatMessage {
  return core.sendGroup(group, body);
}
