/**
 * Issue 14 points 1 and 5: `--cluster` and `--relay-id` from the command line and from the config
 * file, their refusals, `config --print` (which hides a Redis password), and the durability
 * check at start: a relay on an unsafely configured redis-server warns, naming each setting.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from '../../lib/cli';
import { isChatError } from '../../lib/errors';
import { startRedis, type RedisServer } from '../helpers/redis-harness';
import { BIN, loginClient, readLog, startRelayProcess, tempDir } from '../helpers/relay-harness';

function refusal(args: string[], env: NodeJS.ProcessEnv = { HOME: tempDir() }): string {
  try {
    parseArgs(args, env);
  } catch (err) {
    if (isChatError(err) && err.code === 'bad_args') return err.message;
    throw err;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

describe('options', () => {
  const env = (): NodeJS.ProcessEnv => ({ HOME: tempDir('chatsecure-home-') });

  it('--cluster with --relay-id gives the serve options; without either, none', () => {
    const cmd = parseArgs(
      ['--serve', '--cluster', 'redis://127.0.0.1:6379/2', '--relay-id', 'relay-1'],
      env(),
    );
    expect(cmd).toMatchObject({
      kind: 'serve',
      opts: { cluster: { url: 'redis://127.0.0.1:6379/2', relayId: 'relay-1' } },
    });
    const plain = parseArgs(['--serve'], env());
    expect(plain.kind === 'serve' && plain.opts.cluster).toBeFalsy();
  });

  it('refuses a cluster without a relay id, a relay id alone, a bad URL or id, naming the option', () => {
    expect(refusal(['--serve', '--cluster', 'redis://h:1'])).toMatch(/--cluster needs --relay-id/);
    expect(refusal(['--serve', '--relay-id', 'a'])).toMatch(/--relay-id is for a relay in a cluster/);
    expect(refusal(['--serve', '--cluster', 'http://h:1', '--relay-id', 'a'])).toMatch(
      /--cluster must start with redis:\/\//,
    );
    expect(refusal(['--serve', '--cluster', 'redis://h:1/x', '--relay-id', 'a'])).toMatch(/database number/);
    expect(refusal(['--serve', '--cluster', 'redis://h:1', '--relay-id', 'a/b'])).toMatch(
      /--relay-id must be/,
    );
    // A password in a refused URL is never repeated.
    expect(refusal(['--serve', '--cluster', 'redis://:s3cret@h:1/x', '--relay-id', 'a'])).not.toContain(
      's3cret',
    );
  });

  it('reads cluster and relay-id from the config file, refuses a bad value by line, hides the password in config --print', () => {
    const home = tempDir('chatsecure-home-');
    const file = path.join(home, 'config.toml');
    fs.writeFileSync(file, 'cluster = "redis://:s3cret@127.0.0.1:6380/1"\nrelay-id = "east-2"\n');
    const cmd = parseArgs(['--serve', '--config', file], { HOME: home });
    expect(cmd).toMatchObject({
      opts: { cluster: { url: 'redis://:s3cret@127.0.0.1:6380/1', relayId: 'east-2' } },
    });

    const r = spawnSync(process.execPath, [BIN, 'config', '--print', '--config', file], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^cluster = "?redis:\/\/:\*\*\*@127\.0\.0\.1:6380\/1"?\s+# .*line 1/m);
    expect(r.stdout).toMatch(/^relay-id = "?east-2"?\s+# .*line 2/m);
    expect(r.stdout).not.toContain('s3cret');

    fs.writeFileSync(file, 'port = 5000\nrelay-id = "no spaces"\n');
    expect(refusal(['--serve', '--config', file], { HOME: home })).toMatch(/line 2: key "relay-id" must be/);
  });
});

describe('the Redis settings check at start', () => {
  let redis: RedisServer;
  afterAll(async () => {
    await redis?.stop();
  });

  it('warns on stderr and in the log, naming each unsafe setting, and the relay still serves', async () => {
    redis = await startRedis(['--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
    const dir = tempDir('chatsecure-unsafe-');
    const logFile = path.join(dir, 'relay.log');
    const relay = await startRelayProcess(dir, [
      '--cluster',
      redis.url,
      '--relay-id',
      'unsafe',
      '--log-file',
      logFile,
    ]);
    try {
      const c = await loginClient(relay.port, 'Eve');
      expect((await c.request({ t: 'ping' }, 'pong')).t).toBe('pong');
      c.close();
    } finally {
      expect(await relay.stop()).toBe(0);
    }
    const warned = readLog(logFile)
      .filter((l) => typeof l.setting === 'string')
      .map((l) => [l.setting, l.value]);
    // appendfsync defaults to everysec: unsafe too.
    expect(warned).toEqual([
      ['appendonly', 'no'],
      ['appendfsync', 'everysec'],
      ['maxmemory-policy', 'allkeys-lru'],
    ]);
    expect(relay.stderr()).toMatch(/warning: Redis appendonly is no, not yes.*\(set appendonly yes\)/);
  });

  it('says nothing with the safe settings', async () => {
    const safe = await startRedis();
    const dir = tempDir('chatsecure-safe-');
    const logFile = path.join(dir, 'relay.log');
    try {
      const relay = await startRelayProcess(dir, [
        '--cluster',
        safe.url,
        '--relay-id',
        'safe',
        '--log-file',
        logFile,
      ]);
      expect(await relay.stop()).toBe(0);
      expect(readLog(logFile).filter((l) => l.setting !== undefined)).toEqual([]);
      expect(relay.stdout()).toContain('stopped');
    } finally {
      await safe.stop();
    }
  });
});
