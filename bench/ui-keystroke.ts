/**
 * Keystroke → screen updated, for the full-screen UI (issue 11): a real Client over a real
 * SQLite store holding 100 conversations and 10,000 messages, the real screen (blessed) writing
 * to a stream. A key is written to the screen's input; the time until blessed has written the
 * redrawn screen is one sample. Reported: p50 and p99 in ms (target p99 ≤ 16 ms, one frame).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Client } from '../lib/client/client';
import { loadOrCreateIdentity } from '../lib/client/identity-store';
import { KnownServers } from '../lib/client/known-servers';
import { openClientStore } from '../lib/client/sqlite-store';
import { closeLogger, createLogger } from '../lib/log';
import { runScreen } from '../lib/ui/screen/run-screen';

export interface UiKeystrokeResult {
  readonly conversations: number;
  readonly messages: number;
  readonly keystrokes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * The process's CPU time per keystroke (user + system): what one key costs, which unlike the
   * latencies does not grow when other processes share the cores.
   */
  readonly cpuPerKeyMs: number;
}

export async function uiKeystroke(
  conversations = 100,
  perConversation = 100,
  keystrokes = 400,
): Promise<UiKeystrokeResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-uibench-'));
  const store = openClientStore(dir);
  const now = Date.now();
  for (let c = 0; c < conversations; c++) {
    for (let i = 0; i < perConversation; i++) {
      store.addMessage({
        id: `${c}-${i}`,
        peer: `peer${c}`,
        peerName: `Peer${c}`,
        direction: i % 2 ? 'out' : 'in',
        body: `message ${i} in conversation ${c}, long enough to wrap on a narrow screen perhaps`,
        ts: now - (perConversation - i) * 1000,
        localTs: now - (perConversation - i) * 1000,
        state: i % 2 ? 'read' : 'shown',
      });
    }
  }
  const logFile = path.join(dir, 'bench.log');
  const logger = createLogger({ file: logFile, name: 'Bench', level: 'warn' });
  const { identity } = loadOrCreateIdentity(dir);
  const client = new Client({
    name: 'Bench',
    host: '127.0.0.1',
    port: 9, // nothing listens: the screen stays offline, as drawing does not depend on it
    identity,
    store,
    knownServers: new KnownServers(path.join(dir, 'known_servers')),
    knownServersFile: path.join(dir, 'known_servers'),
    logger,
    logFile,
    reconnect: { baseMs: 60_000, maxMs: 60_000 },
  });
  const input = new PassThrough();
  let wrote: (() => void) | undefined;
  const output = Object.assign(
    new Writable({
      write(_c, _e, cb) {
        const w = wrote;
        wrote = undefined;
        w?.();
        cb();
      },
    }),
    { columns: 120, rows: 40, isTTY: true },
  );
  const done = runScreen(client, { bell: false, readReceipts: false, input, output });
  const press = (key: string) =>
    new Promise<number>((resolve) => {
      const t0 = process.hrtime.bigint();
      wrote = () => resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      input.write(key);
    });
  await new Promise((r) => setTimeout(r, 200));
  await press('\x1b1'); // Alt+1: a conversation with 100 messages open
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < keystrokes; i++) samples.push(await press(i % 20 === 19 ? '\x15' : 'x'));
  const cpu = process.cpuUsage(cpu0);
  input.write('\x1b[21~'); // F10
  await done;
  await client.close();
  store.close();
  await closeLogger(logger);
  fs.rmSync(dir, { recursive: true, force: true });
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return {
    conversations,
    messages: conversations * perConversation,
    keystrokes,
    p50Ms: Number(q(0.5).toFixed(2)),
    p99Ms: Number(q(0.99).toFixed(2)),
    cpuPerKeyMs: Number(((cpu.user + cpu.system) / 1000 / keystrokes).toFixed(2)),
  };
}

if (require.main === module) {
  void uiKeystroke().then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
