/**
 * What a typed line means: a pure function, shared by the line mode and the full-screen UI,
 * with a test per command. The 2016 syntax `Eve: hello` sends to Eve.
 *
 * To add a command: add a case to `Command`, parse it in `parseCommand`, describe it in
 * `COMMAND_HELP`, and handle it in both views (lib/ui/line-mode.ts, lib/ui/screen/).
 */
import { isValidName } from '../names';

export type Command =
  | {
      readonly action: 'send';
      readonly to: string;
      readonly body: string;
      /** Written as `NAME: text` (not /msg): the full screen asks before a new name. */
      readonly prefixed?: true;
    }
  /** Plain text with no recipient: goes to the open conversation (full-screen UI). */
  | { readonly action: 'say'; readonly body: string }
  /** `#NAME: text` or `/msg #NAME text`: to the group NAME (a name, an id, or '#'+id). */
  | { readonly action: 'send-group'; readonly group: string; readonly body: string }
  | GroupCommand
  /** The groups I am or was in. */
  | { readonly action: 'groups' }
  | { readonly action: 'help' }
  | { readonly action: 'list' }
  | { readonly action: 'exit' }
  | { readonly action: 'verify'; readonly user: string; readonly confirm: boolean }
  | { readonly action: 'accept'; readonly user: string }
  /** `user` is a contact's name, or '#' and a group's name. */
  | { readonly action: 'history'; readonly user: string }
  | { readonly action: 'contacts' }
  /** Hides a conversation (the open one when no name is given) until a new message. */
  | { readonly action: 'close'; readonly user: string | undefined }
  /** Deletes the failed messages of the open conversation. */
  | { readonly action: 'delete' }
  /** Shows the recovery code again. */
  | { readonly action: 'recovery' }
  /** Finds text in the open conversation (n / N move between matches). */
  | { readonly action: 'search'; readonly text: string }
  | { readonly action: 'empty' }
  | { readonly action: 'invalid'; readonly message: string };

/** `/group OP ...`: the group's name as typed (without a leading '#'), checked by the core. */
export type GroupCommand =
  | {
      readonly action: 'group';
      readonly op: 'create' | 'add' | 'remove';
      readonly group: string;
      readonly users: readonly string[];
    }
  | { readonly action: 'group'; readonly op: 'leave' | 'members'; readonly group: string }
  | { readonly action: 'group'; readonly op: 'rename'; readonly group: string; readonly name: string }
  | {
      readonly action: 'group';
      readonly op: 'admin';
      readonly group: string;
      readonly user: string;
      readonly on: boolean;
    };

/** One token, so that `#NAME: text` can address it: no space, ':' or '#', at most 64 characters. */
export const GROUP_NAME_PATTERN = /^[^\s:#\p{Cc}]{1,64}$/u;
export const GROUP_NAME_RULE = 'a group name is 1 to 64 characters, without spaces, ":" or "#"';

export const GROUP_USAGE: Record<GroupCommand['op'], string> = {
  create: '/group create NAME USER...',
  add: '/group add NAME USER...',
  remove: '/group remove NAME USER...',
  leave: '/group leave NAME',
  members: '/group members NAME',
  rename: '/group rename NAME NEW',
  admin: '/group admin NAME USER [off]',
};

/** The commands of conversations of two, and the client's own. */
export const PAIR_HELP: readonly (readonly [string, string])[] = [
  ['NAME: text', 'send text to NAME (the 2016 syntax)'],
  ['/msg NAME text', 'send text to NAME'],
  ['/list', 'who is registered and who is online'],
  ['/contacts', 'your contacts and whether each is verified'],
  ['/verify NAME', 'show the safety number you share with NAME'],
  ['/verify NAME confirm', 'mark NAME verified after comparing the number'],
  ['/accept NAME', "accept NAME's new identity after a safety number change"],
  ['/history NAME', 'show the conversation with NAME again'],
  ['/close [NAME]', 'close a conversation (it comes back with a new message)'],
  ['/delete', 'delete the messages that could not be delivered'],
  ['/search TEXT', 'find TEXT in the conversation (n, N: next, previous)'],
  ['/recovery', 'show your recovery code again'],
  ['/help', 'this help'],
  ['/exit', 'quit'],
];

/** The group commands (issue 16): short, so that the F1 help still fits 120x40 (defect 10). */
export const GROUP_HELP: readonly (readonly [string, string])[] = [
  ['#GROUP: text', 'send to the group GROUP'],
  [GROUP_USAGE.create, 'make a group, as admin'],
  [GROUP_USAGE.add, 'add members (admins)'],
  [GROUP_USAGE.remove, 'remove members (admins)'],
  [GROUP_USAGE.leave, 'leave; history stays'],
  [GROUP_USAGE.members, 'members, admins, blocks'],
  [GROUP_USAGE.rename, 'rename it (admins)'],
  [GROUP_USAGE.admin, 'make or unmake an admin'],
  ['/groups', 'your groups'],
];

export const COMMAND_HELP: readonly (readonly [string, string])[] = [...PAIR_HELP, ...GROUP_HELP];

const SEND_2016 = /^([A-Za-z0-9_.-]{1,32}):\s?([\s\S]*)$/;
const SEND_GROUP = /^#([^\s:#\p{Cc}]{1,64}):\s?([\s\S]*)$/u;

/** The group a line is written to when it starts `#NAME:`, else undefined. */
export function groupAddressed(line: string): string | undefined {
  return SEND_GROUP.exec(line)?.[1];
}

/** A group name as typed: one leading '#' is dropped; an error sentence when it breaks the rule. */
function groupName(
  typed: string | undefined,
  usage: string,
): string | { action: 'invalid'; message: string } {
  if (typed === undefined) return { action: 'invalid', message: `say which group: ${usage}` };
  const name = typed.startsWith('#') ? typed.slice(1) : typed;
  if (!GROUP_NAME_PATTERN.test(name))
    return { action: 'invalid', message: `"${typed}" is not a valid group name: ${GROUP_NAME_RULE}` };
  return name;
}

/** `/group OP ARGS...`, each usage error a sentence that shows the right form. */
export function parseGroupCommand(args: readonly string[]): Command {
  const sub = (args[0] ?? '').toLowerCase();
  if (!(sub in GROUP_USAGE)) {
    const forms = Object.values(GROUP_USAGE).join(', ');
    return {
      action: 'invalid',
      message: sub
        ? `/group ${args[0]} is not a group command; use one of ${forms}`
        : `/group needs what to do: ${forms}`,
    };
  }
  const op = sub as GroupCommand['op'];
  const usage = GROUP_USAGE[op];
  const group = groupName(args[1], usage);
  if (typeof group !== 'string') return group;
  const rest = args.slice(2);
  switch (op) {
    case 'create':
    case 'add':
    case 'remove': {
      if (rest.length === 0) {
        const who = op === 'create' ? 'its members' : op === 'add' ? 'who to add' : 'who to remove';
        return { action: 'invalid', message: `/group ${op} needs ${who} after the group's name: ${usage}` };
      }
      const bad = rest.find((u) => !isValidName(u));
      if (bad !== undefined) return { action: 'invalid', message: `"${bad}" is not a valid name` };
      return { action: 'group', op, group, users: rest };
    }
    case 'leave':
    case 'members':
      if (rest.length > 0)
        return { action: 'invalid', message: `/group ${op} takes only the group's name: ${usage}` };
      return { action: 'group', op, group };
    case 'rename': {
      if (rest.length !== 1)
        return {
          action: 'invalid',
          message:
            rest.length === 0
              ? `/group rename needs the new name after the group's name: ${usage}`
              : `a group name is one word: ${usage}`,
        };
      const name = groupName(rest[0], usage);
      if (typeof name !== 'string') return name;
      return { action: 'group', op, group, name };
    }
    case 'admin': {
      const [user, flag] = rest;
      if (user === undefined || rest.length > 2 || (flag !== undefined && flag.toLowerCase() !== 'off'))
        return { action: 'invalid', message: `use ${usage}` };
      if (!isValidName(user)) return { action: 'invalid', message: `"${user}" is not a valid name` };
      return { action: 'group', op, group, user, on: flag === undefined };
    }
  }
}

export function parseCommand(line: string): Command {
  const text = line.replace(/\r?\n$/, '');
  if (text.trim() === '') return { action: 'empty' };
  if (text.startsWith('/') && !text.startsWith('//')) {
    const [cmd, ...rest] = text.slice(1).trim().split(/\s+/);
    const arg = (i: number) => rest[i];
    const needName = (action: string): string | Command => {
      const user = arg(0);
      if (!user) return { action: 'invalid', message: `/${action} needs a name` };
      if (!isValidName(user)) return { action: 'invalid', message: `"${user}" is not a valid name` };
      return user;
    };
    switch (cmd.toLowerCase()) {
      case 'help':
      case '?':
        return { action: 'help' };
      case 'list':
      case 'who':
        return { action: 'list' };
      case 'exit':
      case 'quit':
        return { action: 'exit' };
      case 'contacts':
        return { action: 'contacts' };
      case 'verify': {
        const user = needName('verify');
        if (typeof user !== 'string') return user;
        const extra = arg(1);
        if (extra !== undefined && extra.toLowerCase() !== 'confirm') {
          return { action: 'invalid', message: 'use /verify NAME or /verify NAME confirm' };
        }
        return { action: 'verify', user, confirm: extra !== undefined };
      }
      case 'accept': {
        const user = needName('accept');
        return typeof user === 'string' ? { action: 'accept', user } : user;
      }
      case 'history': {
        const group = arg(0)?.startsWith('#') ? groupName(arg(0), '/history #GROUP') : undefined;
        if (group !== undefined)
          return typeof group === 'string' ? { action: 'history', user: '#' + group } : group;
        const user = needName('history');
        return typeof user === 'string' ? { action: 'history', user } : user;
      }
      case 'close': {
        if (arg(0) === undefined) return { action: 'close', user: undefined };
        const group = arg(0)?.startsWith('#') ? groupName(arg(0), '/close #GROUP') : undefined;
        if (group !== undefined)
          return typeof group === 'string' ? { action: 'close', user: '#' + group } : group;
        const user = needName('close');
        return typeof user === 'string' ? { action: 'close', user } : user;
      }
      case 'delete':
        return { action: 'delete' };
      case 'recovery':
        return { action: 'recovery' };
      case 'search': {
        const m = /^\/\S+\s+([\s\S]*)$/.exec(text.trim());
        const what = m ? m[1].trim() : '';
        return what
          ? { action: 'search', text: what }
          : { action: 'invalid', message: '/search needs some text' };
      }
      case 'group':
        return parseGroupCommand(rest);
      case 'groups':
        return { action: 'groups' };
      case 'msg': {
        if (arg(0)?.startsWith('#')) {
          const group = groupName(arg(0), '/msg #GROUP text');
          if (typeof group !== 'string') return group;
          const m = /^\/\S+\s+\S+\s?([\s\S]*)$/.exec(text.trim());
          const body = m ? m[1] : '';
          if (body.trim() === '')
            return { action: 'invalid', message: '/msg needs some text after the group name' };
          return { action: 'send-group', group, body };
        }
        const user = needName('msg');
        if (typeof user !== 'string') return user;
        // Keep the body exactly as typed after the name.
        const m = /^\/\S+\s+\S+\s?([\s\S]*)$/.exec(text.trim());
        const body = m ? m[1] : '';
        if (body.trim() === '') return { action: 'invalid', message: '/msg needs some text after the name' };
        return { action: 'send', to: user, body };
      }
      default:
        return { action: 'invalid', message: `unknown command /${cmd}; type /help` };
    }
  }
  // `//text` sends a line that starts with a slash.
  const literal = text.startsWith('//') ? text.slice(1) : text;
  const g = literal === text ? SEND_GROUP.exec(text) : null;
  if (g) {
    if (g[2].trim() === '') return { action: 'invalid', message: `nothing to send to #${g[1]}` };
    return { action: 'send-group', group: g[1], body: g[2] };
  }
  const m = SEND_2016.exec(literal);
  if (m && literal === text) {
    const body = m[2];
    if (body.trim() === '') return { action: 'invalid', message: `nothing to send to ${m[1]}` };
    return { action: 'send', to: m[1], body, prefixed: true };
  }
  return { action: 'say', body: literal };
}

/** The command words, for Tab completion. */
export const COMMAND_WORDS: readonly string[] = [
  ...new Set(COMMAND_HELP.filter(([c]) => c.startsWith('/')).map(([c]) => c.split(' ')[0])),
];

export function helpText(): string {
  const w = Math.max(...COMMAND_HELP.map(([c]) => c.length));
  return COMMAND_HELP.map(([c, d]) => `  ${c.padEnd(w)}  ${d}`).join('\n');
}
