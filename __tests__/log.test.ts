import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { transformFileSync } from '@swc/core';
import { ChatError } from '../lib/errors';
import {
  closeLogger,
  createLogger,
  flushLogger,
  REDACTED,
  REDACTED_FIELDS,
  redactDeep,
  serializeError,
  TOO_DEEP,
} from '../lib/log';

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-log-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function lines(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

describe('createLogger', () => {
  it('writes JSON lines to a 0600 file in a 0700 folder it creates, and nothing to stdout', async () => {
    const file = path.join(tmp, 'logs', 'server.log');
    const stdout = jest.spyOn(process.stdout, 'write');
    const log = createLogger({ file, name: 'server' });
    log.info({ port: 5000, user: 'Adam' }, 'listening');
    flushLogger(log);
    expect(stdout).not.toHaveBeenCalled();
    stdout.mockRestore();
    expect(mode(file)).toBe(0o600);
    expect(mode(path.dirname(file))).toBe(0o700);
    const [line] = lines(file);
    expect(line).toMatchObject({ msg: 'listening', port: 5000, user: 'Adam', name: 'server' });
    await closeLogger(log);
  });

  it('tightens an existing looser log file to 0600 and appends to it', async () => {
    const file = path.join(tmp, 'old.log');
    fs.writeFileSync(file, '{"msg":"before"}\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const log = createLogger({ file, name: 'x' });
    log.info('after');
    await closeLogger(log);
    expect(mode(file)).toBe(0o600);
    expect(lines(file).map((l) => l.msg)).toEqual(['before', 'after']);
  });

  it('logs debug lines only with debug: true or an explicit level', async () => {
    const quiet = path.join(tmp, 'quiet.log');
    const loud = path.join(tmp, 'loud.log');
    const explicit = path.join(tmp, 'explicit.log');
    const logs = [
      createLogger({ file: quiet, name: 'q' }),
      createLogger({ file: loud, name: 'l', debug: true }),
      createLogger({ file: explicit, name: 'e', debug: true, level: 'warn' }),
    ];
    for (const l of logs) {
      l.debug('detail');
      l.info('normal');
      l.warn('warning');
    }
    for (const l of logs) await closeLogger(l);
    expect(lines(quiet).map((l) => l.msg)).toEqual(['normal', 'warning']);
    expect(lines(loud).map((l) => l.msg)).toEqual(['detail', 'normal', 'warning']);
    expect(lines(explicit).map((l) => l.msg)).toEqual(['warning']);
  });

  it('refuses an unknown level with bad_args', () => {
    for (const level of ['chatty', 'constructor', 'toString']) {
      expect(() => createLogger({ file: path.join(tmp, 'x.log'), name: 'x', level })).toThrow(
        expect.objectContaining({ code: 'bad_args' }),
      );
    }
  });

  it('flushes a child logger through its parent file, synchronously and in order', async () => {
    const file = path.join(tmp, 'child.log');
    const log = createLogger({ file, name: 'relay' });
    const conn = log.child({ conn: 7 });
    log.info('parent');
    conn.info({ key: 'S3CR3T-child' }, 'child');
    flushLogger(conn);
    expect(lines(file).map((l) => [l.msg, l.conn])).toEqual([
      ['parent', undefined],
      ['child', 7],
    ]);
    expect(fs.readFileSync(file, 'utf8')).not.toContain('S3CR3T');
    await closeLogger(log);
    conn.info('after close');
    expect(lines(file)).toHaveLength(2);
  });
});

describe('redaction', () => {
  it('never writes a secret field at the top or nested one, two or three levels, in objects or arrays', async () => {
    const file = path.join(tmp, 'secret.log');
    const log = createLogger({ file, name: 'test', debug: true });
    const secrets: string[] = [];
    const secret = (field: string, where: string): string => {
      const s = `S3CR3T-${field}-${where}-${secrets.length}`;
      secrets.push(s);
      return s;
    };
    for (const field of REDACTED_FIELDS) {
      log.info({ [field]: secret(field, 'top'), visibleTop: 'ok-top' }, 'top level');
      log.info({ outer: { [field]: secret(field, 'one'), visibleOne: 'ok-one' } }, 'one level');
      log.warn({ a: { b: { [field]: secret(field, 'two') } }, visibleTwo: 'ok-two' }, 'two levels');
      log.debug({ a: { b: { c: { [field]: secret(field, 'three') } } } }, 'three levels');
      log.info({ list: [{ [field]: secret(field, 'array') }] }, 'in an array');
      // A Uint8Array or an object value is censored whole, not walked into.
      log.info({ [field]: { nested: secret(field, 'object') } }, 'object value');
    }
    await closeLogger(log);
    const raw = fs.readFileSync(file, 'utf8');
    for (const s of secrets) expect(raw).not.toContain(s);
    expect(raw).not.toContain('S3CR3T');
    expect(raw).toContain(REDACTED);
    for (const visible of ['ok-top', 'ok-one', 'ok-two', 'top level', 'three levels'])
      expect(raw).toContain(visible);
    expect(lines(file)).toHaveLength(REDACTED_FIELDS.length * 6);
  });

  it('censors at any depth, in child bindings too, without changing the logged object', async () => {
    const file = path.join(tmp, 'deep.log');
    const log = createLogger({ file, name: 'test' });
    const deep = { l1: { l2: { l3: { l4: { l5: { passphrase: 'S3CR3T-five', note: 'visible-five' } } } } } };
    log.info(deep, 'deep');
    log.child({ session: { rootKey: 'S3CR3T-binding', peer: 'Eve' } }).info('bound');
    log
      .child({ conn: 1 })
      .child({ inner: { mk: 'S3CR3T-grandchild' } })
      .info('grandchild');
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    log.info({ cyclic }, 'cyclic');
    await closeLogger(log);
    const raw = fs.readFileSync(file, 'utf8');
    expect(raw).not.toContain('S3CR3T');
    expect(raw).toContain('visible-five');
    expect(raw).toContain('Eve');
    expect(raw).toContain(TOO_DEEP);
    expect(deep.l1.l2.l3.l4.l5.passphrase).toBe('S3CR3T-five');
  });

  it('redactDeep returns the same object when there is nothing to censor', () => {
    const clean = { a: { b: [1, { c: 'x' }] }, pub: Uint8Array.of(1) };
    expect(redactDeep(clean)).toBe(clean);
    expect(redactDeep({ a: [{ sk: 1 }] })).toEqual({ a: [{ sk: REDACTED }] });
  });

  it('covers the fields the brief and PROTOCOL.md name', () => {
    for (const f of [
      'secretKey',
      'privateKey',
      'passphrase',
      'body',
      'plaintext',
      'text',
      'env',
      'key',
      'keys',
    ]) {
      expect(REDACTED_FIELDS).toContain(f);
    }
    for (const f of ['sk', 'seed', 'idcert', 'ct', 'header', 'mk', 'ck', 'rootKey', 'chainKey']) {
      expect(REDACTED_FIELDS).toContain(f);
    }
  });
});

describe('error serializer', () => {
  it('keeps only code, message, operation and stack', async () => {
    const file = path.join(tmp, 'err.log');
    const log = createLogger({ file, name: 'test' });
    const err = Object.assign(new ChatError('decrypt_failed', 'decryption failed', 'ratchet.decrypt'), {
      leaked: 'S3CR3T-prop',
      mk: 'S3CR3T-mk',
    });
    log.error({ err }, 'failed');
    const plain = Object.assign(new Error('plain'), { code: 'ECONNRESET', extra: 'S3CR3T-extra' });
    log.error({ error: plain }, 'socket');
    await closeLogger(log);
    const raw = fs.readFileSync(file, 'utf8');
    expect(raw).not.toContain('S3CR3T');
    const [a, b] = lines(file);
    expect(Object.keys(a.err as object).sort()).toEqual(['code', 'message', 'operation', 'stack']);
    expect(a.err).toMatchObject({
      code: 'decrypt_failed',
      message: 'decryption failed',
      operation: 'ratchet.decrypt',
    });
    expect(b.error).toMatchObject({ code: 'ECONNRESET', message: 'plain' });
    expect(Object.keys(b.error as object).sort()).toEqual(['code', 'message', 'stack']);
  });

  it('describes a thrown non-error without its content', () => {
    expect(serializeError({ secretKey: 'x' })).toEqual({ message: 'non-error thrown' });
    expect(serializeError('boom')).toEqual({ message: 'boom' });
  });
});

describe('process exit', () => {
  // lib/ compiled for a real node child (the jest transform exists only in this process).
  const root = path.resolve(__dirname, '..');
  let build: string;
  beforeAll(() => {
    build = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-log-build-'));
    for (const rel of [
      'lib/log.ts',
      'lib/paths.ts',
      'lib/errors.ts',
      'lib/names.ts',
      'lib/crypto/primitives.ts',
    ]) {
      const { code } = transformFileSync(path.join(root, rel), {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      });
      const dest = path.join(build, rel.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, code);
    }
  });
  afterAll(() => fs.rmSync(build, { recursive: true, force: true }));

  /** Runs `ending` after 1000 lines and a final `last` line; returns the child's stdout. */
  function runChild(file: string, ending: string): string {
    const script = `
      const { createLogger, flushLogger } = require(${JSON.stringify(path.join(build, 'lib/log.js'))});
      const log = createLogger({ file: ${JSON.stringify(file)}, name: 'child' });
      for (let i = 0; i < 1000; i++) log.info({ i }, 'line');
      setImmediate(() => { log.fatal('last'); ${ending} });
    `;
    return execFileSync(process.execPath, ['-e', script], {
      env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') },
      timeout: 20000,
    }).toString();
  }

  it.each([
    ['never closes its logger and exits by itself', ''],
    ['calls process.exit() at once', 'process.exit(0);'],
    ['flushes, then calls process.exit()', 'flushLogger(log); process.exit(0);'],
  ])('a process that %s keeps every line, in order, and writes nothing to stdout', (_what, ending) => {
    const file = path.join(tmp, 'child', 'child.log');
    expect(runChild(file, ending)).toBe('');
    const got = lines(file);
    expect(got).toHaveLength(1001);
    expect(got.slice(0, 1000).every((l, i) => l.i === i)).toBe(true);
    expect(got[1000].msg).toBe('last');
  });
});
