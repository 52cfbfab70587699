/**
 * The line mode (`--plain`, and whenever stdin or stdout is not a terminal): the 2016 client's
 * interface. Lines like `Eve: hello` send; events print one per line (`[12:00:01] Eve: hi`,
 * `* Eve is online`). With `--json` every event is one JSON object per line, for scripts.
 *
 * A thin view over the Client: it parses lines with lib/ui/commands.ts and prints events.
 */
import * as readline from 'node:readline';
import type { Client } from '../client/client';
import type { ChatMessage, ConnectionState } from '../client/types';
import { isChatError } from '../errors';
import { type Command, helpText, parseCommand } from './commands';

export interface LineModeOptions {
  readonly json: boolean;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** When input ends, wait at most this long for the outbox to drain before exiting. */
  readonly drainTimeoutMs?: number;
}

function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function formatMessage(m: ChatMessage, me: string): string {
  const who = m.direction === 'in' ? m.peerName : `${me} -> ${m.peerName}`;
  return `[${clock(m.localTs)}] ${who}: ${m.body}`;
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
      return `* disconnected: ${s.reason}; retrying in ${Math.max(0, Math.ceil((s.retryAt - now) / 1000))} s`;
    case 'closed':
      return `* closed: ${s.reason}`;
  }
}

/** Runs the line mode until /exit, end of input, or a permanent refusal. Resolves with the exit status. */
export function runLineMode(client: Client, opts: LineModeOptions): Promise<number> {
  const out = (line: string) => opts.output.write(line + '\n');
  const emitJson = (event: string, data: object) => out(JSON.stringify({ event, ...data }));
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
    else out(describeState(s, client.hostPort, client.serverFingerprint, Date.now()));
    if (s.state === 'closed' && s.code !== undefined && s.code !== 'server_key_unknown') finish(1);
  });
  client.on('presence', (p) => {
    if (opts.json) emitJson('presence', p);
    else out(`* ${p.user} is ${p.online ? 'online' : 'offline'}`);
  });
  client.on('message', (m) => {
    if (opts.json) emitJson('message', m);
    else out(formatMessage(m, client.name));
    // Printed is shown: that is when a read receipt goes (unless --no-read-receipts).
    client.markShown(m.peer);
  });
  client.on('receipt', (r) => {
    if (opts.json) emitJson('receipt', r);
    else if (r.state === 'delivered' || r.state === 'read' || r.state === 'queued') {
      const n = r.ids.length;
      const what = r.state === 'queued' ? 'queued for' : `${r.state} to`;
      out(
        `* ${n === 1 ? 'message' : `${n} messages`} ${what} ${r.peer} [${r.ids.map((i) => i.slice(0, 8)).join(' ')}]`,
      );
    }
  });
  client.on('typing', (t) => {
    if (opts.json) emitJson('typing', t);
    else if (t.on) out(`* ${t.peerName} is typing...`);
  });
  client.on('contact', (c) => {
    if (opts.json) emitJson('contact', c);
    else if (c.state === 'changed') {
      out(
        `! The safety number with ${c.name} changed. Sending to ${c.name} is blocked and their messages are held.`,
      );
      out(`! Compare it with /verify ${c.name}; if it is right, /accept ${c.name}.`);
    } else if (c.state === 'verified') out(`* ${c.name} is now verified`);
  });
  client.on('error', (e) => {
    if (opts.json) emitJson('error', e);
    else out(`! ${e.message} (${e.code})`);
  });
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
      case 'say':
        result({ error: 'say NAME: text' }, '! say who it is for: NAME: text (or /msg NAME text)');
        return;
      case 'help':
        result({ help: helpText() }, helpText());
        return;
      case 'list': {
        const users = await client.list();
        result(
          { users },
          users
            .map(
              (u) =>
                `  ${u.name}${u.online ? ' (online)' : u.lastSeen ? ` (last seen ${clock(u.lastSeen)})` : ''}`,
            )
            .join('\n') || '  nobody yet',
        );
        return;
      }
      case 'contacts': {
        const cs = client.contacts();
        result(
          { contacts: cs },
          cs
            .map(
              (c) =>
                `  ${c.name}  ${c.state}${c.online ? '  online' : ''}${c.unread ? `  ${c.unread} unread` : ''}`,
            )
            .join('\n') || '  no contacts yet',
        );
        return;
      }
      case 'verify':
        if (cmd.confirm) {
          client.verify(cmd.user);
          result({ verified: cmd.user }, `* ${cmd.user} is now verified`);
        } else {
          const n = client.safetyNumber(cmd.user);
          result(
            { user: cmd.user, safetyNumber: n, state: client.contactState(cmd.user) },
            `Safety number with ${cmd.user}:\n  ${n}\nCompare it with ${cmd.user} (in person or by a call); if it matches, /verify ${cmd.user} confirm`,
          );
        }
        return;
      case 'accept':
        client.acceptIdentity(cmd.user);
        result({ accepted: cmd.user }, `* accepted the new identity of ${cmd.user} (not verified)`);
        return;
      case 'history':
        for (const m of client.history(cmd.user)) {
          if (opts.json) emitJson('history', m);
          else out(formatMessage(m, client.name));
        }
        client.markShown(cmd.user);
        return;
      case 'exit':
        finish(0);
        return;
      case 'invalid':
        result({ error: cmd.message }, `! ${cmd.message}`);
        return;
    }
  };

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
        else out(`! ${message} (${code})`);
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
  for (const c of client.contacts()) {
    if (c.unread === 0) continue;
    for (const m of client.history(c.canon)) {
      if (m.direction !== 'in' || m.state !== 'received') continue;
      if (opts.json) emitJson('message', m);
      else out(formatMessage(m, client.name));
    }
    client.markShown(c.canon);
  }
  client.start();
  return done;
}
