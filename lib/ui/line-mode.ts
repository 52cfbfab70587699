/**
 * The line mode (`--plain`, and whenever stdin or stdout is not a terminal): the 2016 client's
 * interface. Lines like `Eve: hello` send; events print one per line (`[12:00:01] Eve: hi`,
 * `* Eve is online`). With `--json` every event is one JSON object per line, for scripts.
 *
 * A thin view over the same `ChatCore` port as the full screen (lib/ui/core.ts): it parses lines
 * with lib/ui/commands.ts and prints events. Everything a peer controls (bodies, names, error
 * texts that quote them) goes through `neutralise` first (issue 11, defect 0), and a peer's
 * text can never start a line: the client's own notices start with `* ` or `! `, a message with
 * `[time] Name: `, and each further line of a message with `  | `, so a body cannot forge
 * "* Bob is now verified".
 */
import * as readline from 'node:readline';
import { canonName } from '../names';
import type { ChatMessage, ConnectionState } from '../client/types';
import { isChatError } from '../errors';
import { type Command, helpText, parseCommand } from './commands';
import type { ChatCore, GroupEvent, GroupInfo } from './core';
import {
  findGroup,
  displayNames,
  eventWithDisplayNames,
  groupEventText,
  groupLabel,
  groupListLines,
  groupOf,
  groupResultText,
  isGroupKey,
  receiptCounts,
  runGroupCommand,
  senderOf,
  sendToGroup,
  withDisplayNames,
} from './groups';
import { neutralise } from './sanitize';

export interface LineModeOptions {
  readonly json: boolean;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** When input ends, wait at most this long for the outbox to drain before exiting. */
  readonly drainTimeoutMs?: number;
}

/** What starts each further line of a multi-line message. */
export const CONTINUATION = '  | ';

function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * One message as lines. A group message (issue 16) reads `[time] [#team] Eve: text`, with the
 * group's name (`groupName`, else its id) in brackets and the member who wrote it.
 */
export function formatMessage(m: ChatMessage, me: string, groupName?: string): string {
  const group = groupOf(m);
  const who =
    group !== undefined
      ? `[${groupLabel(groupName ?? group)}] ${senderOf(m, me)}`
      : m.direction === 'in'
        ? neutralise(m.peerName)
        : `${me} -> ${neutralise(m.peerName)}`;
  const failed = m.state === ('failed' as ChatMessage['state']) ? ' [not delivered]' : '';
  const body = neutralise(m.body, true)
    .split('\n')
    .join('\n' + CONTINUATION);
  return `[${clock(m.localTs)}] ${who}: ${body}${failed}`;
}

function describeState(s: ConnectionState, hostPort: string, fp: string | undefined, now: number): string {
  switch (s.state) {
    case 'connecting':
      return s.attempt > 1
        ? `* reconnecting to ${hostPort} (attempt ${s.attempt})`
        : `* connecting to ${hostPort}`;
    case 'online':
      return `* connected to ${hostPort} (relay ${fp ?? 'unknown'})`;
    case 'offline':
      return `* disconnected: ${neutralise(s.reason)}; retrying in ${Math.max(0, Math.ceil((s.retryAt - now) / 1000))} s`;
    case 'closed':
      return s.reason === 'closed' ? '* closed' : `* closed: ${neutralise(s.reason)}`;
  }
}

/** Short message ids, as the receipts show them. */
function ids(list: readonly string[]): string {
  return list.map((i) => i.slice(0, 8)).join(' ');
}

/** Runs the line mode until /exit, end of input, or a permanent refusal. Resolves with the exit status. */
export function runLineMode(client: ChatCore, opts: LineModeOptions): Promise<number> {
  let lastNotice: string | undefined;
  const out = (line: string) => {
    lastNotice = undefined;
    opts.output.write(line + '\n');
  };
  /** A line of the client's own; the same one twice in a row is printed once (defect 11). */
  const notice = (line: string) => {
    if (line === lastNotice) return;
    opts.output.write(line + '\n');
    lastNotice = line;
  };
  const emitJson = (event: string, data: object) => out(JSON.stringify({ event, ...data }));
  const nameOf = (peer: string) =>
    neutralise(client.contacts().find((c) => c.canon === canonName(peer))?.name ?? peer);
  /** Each group's last known name, by key: what a rename renamed from. */
  const groupNames = new Map<string, string>();
  const groupInfo = (key: string): GroupInfo | undefined => {
    const info = client.group(key);
    if (info) groupNames.set(info.key, info.name);
    return info;
  };
  const groupName = (key: string) => groupInfo(key)?.name ?? groupNames.get(key);
  const show = (m: ChatMessage) =>
    formatMessage(m, client.name, isGroupKey(m.peer) ? groupName(m.peer) : undefined);
  for (const g of client.groups()) groupNames.set(g.key, g.name);
  /** Group events printed: a command whose change was already told by its event says no more. */
  let groupEventsTold = 0;
  let finished = false;
  let status = 0;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  const finish = (code: number) => {
    if (finished) return;
    finished = true;
    status = code;
    rl.close();
    resolveDone(status);
  };

  client.on('state', (s) => {
    if (opts.json)
      emitJson('state', { ...s, hostPort: client.hostPort, fingerprint: client.serverFingerprint });
    else notice(describeState(s, client.hostPort, client.serverFingerprint, Date.now()));
    if (s.state === 'closed' && s.code !== undefined && s.code !== 'server_key_unknown') finish(1);
  });
  client.on('presence', (p) => {
    if (opts.json) emitJson('presence', p);
    else notice(`* ${neutralise(p.user)} is ${p.online ? 'online' : 'offline'}`);
  });
  client.on('message', (m) => {
    if (opts.json) emitJson('message', m);
    else out(show(m));
    // Printed is shown: that is when a read receipt goes (unless --no-read-receipts).
    client.markShown(m.peer);
  });
  client.on('receipt', (r) => {
    if (isGroupKey(r.peer)) {
      groupReceipt(r);
      return;
    }
    if (opts.json) {
      emitJson('receipt', r);
      return;
    }
    const who = nameOf(r.peer);
    const what = r.ids.length === 1 ? 'your message' : `your ${r.ids.length} messages`;
    const text: Record<string, string> = {
      queued: `* ${who} is offline: ${what} will be delivered later`,
      delivered: `* ${what} reached ${who}`,
      read: `* ${who} read ${what}`,
      failed: `! ${what} to ${who} cannot be delivered`,
    };
    if (text[r.state]) notice(`${text[r.state]} [${ids(r.ids)}]`);
  });
  /** Our group message's counts, one line per message: "delivered to 3 of 5, read by 2". */
  const groupReceipt = (r: { peer: string; ids: readonly string[]; state: string }) => {
    const counts = r.ids.map((id) => ({ id, ...client.groupReceipts(r.peer, id) }));
    if (opts.json) {
      emitJson('receipt', { ...r, receipts: counts });
      return;
    }
    const g = groupLabel(groupName(r.peer) ?? r.peer.slice(1));
    for (const c of counts) {
      if (r.state === 'failed') notice(`! your message to ${g} cannot be delivered [${ids([c.id])}]`);
      else if ((r.state === 'delivered' || r.state === 'read') && c.to && c.delivered && c.read)
        notice(
          `* your message to ${g}: ${receiptCounts({ to: c.to, delivered: c.delivered, read: c.read })} [${ids([c.id])}]`,
        );
    }
  };
  client.on('typing', (t) => {
    if (opts.json) emitJson('typing', t);
    else if (t.on && isGroupKey(t.peer))
      notice(
        `* ${neutralise(t.peerName)} is typing in ${groupLabel(groupName(t.peer) ?? t.peer.slice(1))}...`,
      );
    else if (t.on) notice(`* ${neutralise(t.peerName)} is typing...`);
  });
  client.on('group', (e: GroupEvent) => {
    groupEventsTold++;
    const before = groupNames.get(e.key);
    const info = groupInfo(e.key);
    groupNames.set(e.key, e.name);
    if (opts.json) emitJson('group', { ...e, group: info });
    else {
      const show = displayNames(client.name, client.contacts());
      const shown = info && withDisplayNames(info, show);
      notice(`* ${groupEventText(eventWithDisplayNames(e, show), client.name, before, shown)}`);
    }
  });
  client.on('contact', (c) => {
    if (opts.json) {
      emitJson('contact', c);
      return;
    }
    const name = neutralise(c.name);
    if (c.state === 'changed') {
      notice(
        `! The safety number with ${name} changed. Sending to ${name} is blocked and their messages are held.`,
      );
      out(`! Compare it with /verify ${name}; if it is right, /accept ${name}.`);
    } else if (c.state === 'verified') notice(`* ${name} is now verified`);
  });
  client.on('error', (e) => {
    if (opts.json) emitJson('error', e);
    else notice(`! ${neutralise(e.message)}`);
  });
  client.on(
    'recovery-code' as never,
    ((r: { code: string }) => {
      if (opts.json) emitJson('recovery-code', r);
      else {
        out(`* Your recovery code (write it down; /recovery shows it again):`);
        out(`*   ${neutralise(r.code)}`);
      }
    }) as never,
  );
  client.on('server-unknown', (s) => {
    // Section 6: line mode never trusts an unknown relay on its own.
    if (opts.json) emitJson('server-unknown', s);
    else {
      out(`! The relay at ${s.hostPort} is not known. Its key fingerprint is ${s.fingerprint}.`);
      out(
        `! If that is the right relay, run again with --accept-new-server or --server-fingerprint ${s.fingerprint}`,
      );
    }
    client.trustServer(false);
    finish(1);
  });

  const rl = readline.createInterface({ input: opts.input, terminal: false });
  const handle = async (cmd: Command): Promise<void> => {
    const result = (data: object, text: string) => (opts.json ? emitJson('result', data) : out(text));
    switch (cmd.action) {
      case 'empty':
        return;
      case 'send': {
        const m = client.send(cmd.to, cmd.body);
        if (opts.json) emitJson('sending', m);
        return;
      }
      case 'send-group': {
        const m = sendToGroup(client, cmd.group, cmd.body);
        if (opts.json) emitJson('sending', m);
        return;
      }
      case 'group': {
        const told = groupEventsTold;
        const raw = runGroupCommand(client, cmd);
        groupNames.set(raw.key, raw.name);
        const info = withDisplayNames(raw, displayNames(client.name, client.contacts()));
        if (opts.json) emitJson('result', { group: raw });
        else if (cmd.op === 'members') out(groupResultText(cmd, info, client.name));
        // Our own change is told by its 'group' event when the client emits one for it.
        else if (groupEventsTold === told) notice(`* ${groupResultText(cmd, info, client.name)}`);
        return;
      }
      case 'groups': {
        const gs = client.groups();
        result({ groups: gs }, groupListLines(gs).join('\n'));
        return;
      }
      case 'say':
        result({ error: 'say NAME: text' }, '! say who it is for: NAME: text (or /msg NAME text)');
        return;
      case 'help':
        result({ help: helpText() }, helpText());
        return;
      case 'list': {
        const users = await client.list();
        const w = Math.max(0, ...users.map((u) => u.name.length));
        result(
          { users },
          users
            .map((u) =>
              `  ${neutralise(u.name).padEnd(w)}  ${u.online ? 'online' : u.lastSeen ? `last seen ${clock(u.lastSeen)}` : ''}`.trimEnd(),
            )
            .join('\n') || '  nobody yet',
        );
        return;
      }
      case 'contacts': {
        const cs = client.contacts();
        const w = Math.max(0, ...cs.map((c) => c.name.length));
        const sw = Math.max(0, ...cs.map((c) => c.state.length));
        result(
          { contacts: cs },
          cs
            .map((c) =>
              `  ${neutralise(c.name).padEnd(w)}  ${c.state.padEnd(sw)}  ${(c.online ? 'online' : 'offline').padEnd(7)}  ${c.unread ? `${c.unread} unread` : ''}`.trimEnd(),
            )
            .join('\n') || '  no contacts yet',
        );
        return;
      }
      case 'verify':
        if (cmd.confirm) {
          client.verify(cmd.user);
          // The 'contact' event prints "* NAME is now verified"; JSON scripts get a result.
          if (opts.json) emitJson('result', { verified: cmd.user });
        } else {
          const n = client.safetyNumber(cmd.user);
          shown.set(canonName(cmd.user), n);
          result(
            { user: cmd.user, safetyNumber: n, state: client.contactState(cmd.user) },
            `Safety number with ${cmd.user}:\n  ${n}\nCompare it with ${cmd.user} (in person or by a call); if it matches, /verify ${cmd.user} confirm`,
          );
        }
        return;
      case 'accept': {
        const n = shown.get(canonName(cmd.user)) ?? client.safetyNumber(cmd.user);
        client.acceptIdentity(cmd.user, n);
        result({ accepted: cmd.user }, `* accepted the new identity of ${cmd.user} (not verified)`);
        return;
      }
      case 'history': {
        const peer = isGroupKey(cmd.user) ? findGroup(client, cmd.user).key : cmd.user;
        for (const m of client.history(peer)) {
          if (opts.json) emitJson('history', m);
          else out(show(m));
        }
        client.markShown(peer);
        return;
      }
      case 'close': {
        if (!cmd.user) throw new Error('say which conversation: /close NAME');
        if (!client.closeConversation) throw new Error('this client cannot close conversations yet');
        const group = isGroupKey(cmd.user) ? findGroup(client, cmd.user) : undefined;
        client.closeConversation(group?.key ?? cmd.user);
        result(
          { closed: group?.key ?? cmd.user },
          `* closed the conversation ${group ? `of ${groupLabel(group.name)}` : `with ${cmd.user}`}`,
        );
        return;
      }
      case 'delete':
        result({ error: 'delete' }, '! /delete works in the full screen, where the failed message is shown');
        return;
      case 'recovery':
        if (!client.recoveryCode) throw new Error('this client has no recovery code yet');
        result({ recoveryCode: client.recoveryCode() }, `* Your recovery code: ${client.recoveryCode()}`);
        return;
      case 'exit':
        finish(0);
        return;
      case 'invalid':
        result({ error: cmd.message }, `! ${neutralise(cmd.message)}`);
        return;
    }
  };
  /** The safety number last shown per contact: what /accept accepts (CLIENT-API.md 4). */
  const shown = new Map<string, string>();

  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      if (finished) return;
      try {
        await handle(parseCommand(line));
      } catch (err) {
        const code = isChatError(err) ? err.code : 'internal';
        const message = err instanceof Error ? err.message : String(err);
        if (opts.json) emitJson('error', { code, message });
        else out(`! ${neutralise(message)}`);
      }
    });
  });
  rl.on('close', () => {
    void chain.then(async () => {
      if (finished) return;
      // End of input (a script): give the outbox a moment to drain, then exit.
      const deadline = Date.now() + (opts.drainTimeoutMs ?? 10_000);
      while (client.outboxSize() > 0 && Date.now() < deadline && client.connection.state !== 'closed') {
        await new Promise((r) => setTimeout(r, 50));
      }
      finish(client.outboxSize() > 0 ? 1 : 0);
    });
  });
  // Messages stored but never shown (the last run ended before printing them) come first.
  const unread = [
    ...client.contacts().map((c) => ({ peer: c.canon, unread: c.unread })),
    ...client.groups().map((g) => ({ peer: g.key, unread: g.unread })),
  ];
  for (const c of unread) {
    if (c.unread === 0) continue;
    for (const m of client.history(c.peer)) {
      if (m.direction !== 'in' || m.state !== 'received') continue;
      if (opts.json) emitJson('message', m);
      else out(show(m));
    }
    client.markShown(c.peer);
  }
  client.start();
  return done;
}
