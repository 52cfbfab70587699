/**
 * The identity on disk through the real binary: created on the first run with mode 0600,
 * sealed with a passphrase file; a wrong or missing passphrase is a clear error and never a
 * silent new identity. Also the --json line mode: one JSON object per event.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, startRelayProcess, tempDir, waitFor } from '../helpers/relay-harness';

function run(args: string[], input = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: 'pipe',
      env: { ...process.env, CHATSECURE_PASSPHRASE: '' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

it('seals the identity with a passphrase; a wrong or missing one is refused, never replaced', async () => {
  const dataDir = tempDir();
  const relay = await startRelayProcess(dataDir);
  try {
    const pass = path.join(dataDir, 'pass');
    fs.writeFileSync(pass, 'correct horse battery staple\n', { mode: 0o600 });
    const common = [
      '--user',
      'Adam',
      '--server',
      `127.0.0.1:${relay.port}`,
      '--data-dir',
      dataDir,
      '--plain',
    ];
    const first = await run([...common, '--accept-new-server', '--passphrase-file', pass], '/exit\n');
    expect(first.code).toBe(0);
    const idFile = path.join(dataDir, 'users', 'adam', 'identity.json');
    expect(fs.statSync(idFile).mode & 0o777).toBe(0o600);
    const sealed = fs.readFileSync(idFile, 'utf8');
    expect(sealed).toContain('"sealed"');

    fs.writeFileSync(pass, 'wrong\n');
    const wrong = await run([...common, '--passphrase-file', pass], '/exit\n');
    expect(wrong.code).toBe(1);
    expect(wrong.out).toMatch(/passphrase/i);
    const missing = await run(common, '/exit\n');
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/sealed|passphrase/i);
    expect(fs.readFileSync(idFile, 'utf8')).toBe(sealed);
  } finally {
    await relay.stop();
  }
}, 60000);

it('--json prints one JSON object per event', async () => {
  const dataDir = tempDir();
  const relay = await startRelayProcess(dataDir);
  try {
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--user',
        'Eve',
        '--server',
        `127.0.0.1:${relay.port}`,
        '--data-dir',
        dataDir,
        '--json',
        '--accept-new-server',
      ],
      { stdio: 'pipe' },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.on('exit', r));
    await waitFor(() => out.includes('"online"'), 15000, 'Eve online');
    child.stdin.write('/list\n');
    await waitFor(() => out.includes('"users"'), 15000, 'the list');
    child.stdin.end('/exit\n');
    expect(await exited).toBe(0);
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; users?: { name: string; online: boolean }[] });
    expect(events.some((e) => e.event === 'state')).toBe(true);
    const list = events.find((e) => e.event === 'result' && e.users);
    expect(list?.users).toEqual([expect.objectContaining({ name: 'Eve', online: true })]);
  } finally {
    await relay.stop();
  }
}, 60000);
