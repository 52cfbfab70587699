/**
 * Child processes that a test kills (SIGKILL, a crash): `runUntilKilled` runs `node args...` and
 * kills it once its output satisfies `killWhen`. No timer decides anything: a child that never
 * gets there fails the test by the test's own timeout, and `killChildren` (afterEach) makes sure
 * it does not outlive the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const running = new Set<ChildProcess>();

/** Resolves with everything the child wrote to stdout; rejects if it exits by itself. */
export function runUntilKilled(args: readonly string[], killWhen: (out: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killWhen(out)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (_code, signal) => {
      running.delete(child);
      if (signal !== 'SIGKILL') reject(new Error(`the child exited on its own: ${err}`));
      else resolve(out);
    });
  });
}

/** Kills what is still running (for afterEach). */
export function killChildren(): void {
  for (const c of running) c.kill('SIGKILL');
}
