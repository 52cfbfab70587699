/**
 * Issue 10, defect 3: the real relay binary under a low fd limit (prlimit). Past the limit libuv
 * accepts and closes connections itself without telling Node, so the relay caps connections
 * below its fd limit: what it drops is logged, coalesced, and once the sockets go, logins are
 * served again. Bounded: at most 160 sockets.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { BIN, dial, loginClient, readLog, tempDir, waitFor } from '../helpers/relay-harness';

/** Descriptors the relay may hold: its own files take ~25, the cap leaves 64 free of sockets. */
const FD_LIMIT = 80;
const SOCKETS = 160;
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

jest.setTimeout(90_000);

(hasPrlimit ? it : it.skip)(
  'caps connections below the fd limit, logs the drops coalesced, and serves logins again after',
  async () => {
    const dir = tempDir();
    const logFile = path.join(dir, 'relay.log');
    const child = spawn(
      'prlimit',
      [
        `--nofile=${FD_LIMIT}:${FD_LIMIT}`,
        process.execPath,
        BIN,
        '--serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--data-dir',
        dir,
        '--log-file',
        logFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const sockets: net.Socket[] = [];
    try {
      await waitFor(() => /listening on [^\s]+:(\d+)/.test(out), 20_000, 'the relay listening');
      const port = Number(/listening on [^\s]+:(\d+)/.exec(out)?.[1]);
      // Idle sockets before login from several addresses (32 are allowed per address).
      for (let i = 0; i < SOCKETS; i++) {
        const s = await dial(port, '127.0.0.1', `127.0.0.${3 + (i % 8)}`).catch(() => undefined);
        if (s) {
          s.on('error', () => undefined);
          sockets.push(s);
        }
      }
      await waitFor(
        () => readLog(logFile).some((l) => l.code === 'too_many_connections'),
        30_000,
        'the drops logged',
      );
      for (const s of sockets) s.destroy();
      // The relay learns of the closes as it reads them; a login dialled before it has may
      // still be dropped at the cap. It is served once they are read: try until then.
      let honest: Awaited<ReturnType<typeof loginClient>> | undefined;
      await waitFor(
        async () => {
          honest = await loginClient(port, 'Honest').catch(() => undefined);
          return honest !== undefined;
        },
        30_000,
        'a login served after the sockets went',
      );
      if (!honest) throw new Error('no login was served');
      expect((await honest.request({ t: 'ping' }, 'pong')).t).toBe('pong');
      honest.close();
      // Far fewer lines than refused connections: one, and a count of the ones folded into it.
      const lines = readLog(logFile).filter((l) => l.code === 'too_many_connections');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(3);
    } finally {
      for (const s of sockets) s.destroy();
      child.kill('SIGTERM');
      await exited;
    }
  },
);
