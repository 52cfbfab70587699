import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isChatError } from '../lib/errors';
import { EMPTY_LOCK_GRACE_MS, isProcessAlive, lockDataDir, LOCK_FILE, type Lock } from '../lib/lock';

let tmp: string;
let dir: string;
let lockPath: string;
const held: Lock[] = [];
let child: ChildProcess | undefined;

function lock(): Lock {
  const l = lockDataDir(dir);
  held.push(l);
  return l;
}

function lockError(): Error {
  try {
    lock();
  } catch (err) {
    expect(isChatError(err, 'locked')).toBe(true);
    return err as Error;
  }
  throw new Error('expected the lock to be refused');
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.pid).toBeGreaterThan(0);
  expect(isProcessAlive(r.pid!)).toBe(false);
  return r.pid!;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-lock-'));
  dir = path.join(tmp, 'adam');
  lockPath = path.join(dir, LOCK_FILE);
});

afterEach(async () => {
  for (const l of held.splice(0)) l.release();
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill();
    await exited;
  }
  child = undefined;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the lock file holds our pid, mode 0600, in a 0700 dir', () => {
  const l = lock();
  expect(l.path).toBe(lockPath);
  expect(fs.readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
  expect(fs.statSync(lockPath).mode & 0o777).toBe(0o600);
  expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
});

test('a second holder is refused with the holder pid; after release it can lock', () => {
  const first = lock();
  const err = lockError();
  expect(err.message).toContain(`another chatsecure is running for this user (pid ${process.pid})`);
  first.release();
  first.release(); // twice is harmless
  expect(fs.existsSync(lockPath)).toBe(false);
  lock();
  expect(fs.readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
});

test('a lock held by another live process is refused; once it is gone the lock is taken over', async () => {
  child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  await new Promise((resolve) => child!.once('spawn', resolve));
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(lockPath, `${child.pid}\n`, { mode: 0o600 });
  expect(lockError().message).toContain(`(pid ${child.pid})`);

  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child.kill();
  await exited;
  lock();
  expect(fs.readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
});

test('a stale lock (its pid is dead) is taken over', () => {
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(lockPath, `${deadPid()}\n`, { mode: 0o600 });
  lock();
  expect(fs.readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
});

test('an empty lock is being written: refused while fresh, taken over once old', () => {
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(lockPath, '', { mode: 0o600 });
  expect(lockError().message).toContain('still starting');
  const old = (Date.now() - EMPTY_LOCK_GRACE_MS - 1000) / 1000;
  fs.utimesSync(lockPath, old, old);
  lock();
  expect(fs.readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`);
});

test('release leaves a lock that is no longer ours', () => {
  const l = lock();
  const other = `${deadPid()}\n`;
  fs.writeFileSync(lockPath, other);
  l.release();
  expect(fs.readFileSync(lockPath, 'utf8')).toBe(other);
});

test('a data dir that cannot be created is storage_failed, not locked', () => {
  const aFile = path.join(tmp, 'plain-file');
  fs.writeFileSync(aFile, 'x');
  let caught: unknown;
  try {
    lockDataDir(path.join(aFile, 'adam'));
  } catch (err) {
    caught = err;
  }
  expect(isChatError(caught, 'storage_failed')).toBe(true);
});
