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
  | { readonly action: 'help' }
  | { readonly action: 'list' }
  | { readonly action: 'exit' }
  | { readonly action: 'verify'; readonly user: string; readonly confirm: boolean }
  | { readonly action: 'accept'; readonly user: string }
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

export const COMMAND_HELP: readonly (readonly [string, string])[] = [
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

const SEND_2016 = /^([A-Za-z0-9_.-]{1,32}):\s?([\s\S]*)$/;

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
        const user = needName('history');
        return typeof user === 'string' ? { action: 'history', user } : user;
      }
      case 'close': {
        if (arg(0) === undefined) return { action: 'close', user: undefined };
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
      case 'msg': {
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
