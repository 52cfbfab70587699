/**
 * Through the real binary: the config file and its precedence, a bad file, `config --print`,
 * the XDG paths and the ~/.chatsecure fallback, shell completion, -v, NO_COLOR/FORCE_COLOR.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, loginClient, startRelayProcess, tempDir, waitFor } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

const ROOT = path.join(__dirname, '..', '..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
beforeAll(() => {
  ensureBuilt(['commands', 'config.js']);
}, 120_000);

/** A fresh HOME with no XDG variables and no CHATSECURE_HOME, as on a new machine. */
function home(): { home: string; env: NodeJS.ProcessEnv } {
  const h = tempDir('chatsecure-home-');
  dirs.push(h);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: h };
  return { home: h, env };
}

function run(env: NodeJS.ProcessEnv, args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env });
}

function writeConfig(h: string, text: string): string {
  const file = path.join(h, '.config', 'chatsecure', 'config.toml');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** `config --print` as key -> [value, source]. */
function printed(out: string): Map<string, [string, string]> {
  const m = new Map<string, [string, string]>();
  for (const line of out.split('\n')) {
    const r = /^([a-z-]+) = (.*?)\s+# (.*)$/.exec(line);
    if (r) m.set(r[1], [r[2], r[3]]);
  }
  return m;
}

describe('config file', () => {
  it('the command line wins over the file, the file over the defaults; config --print says which', () => {
    const { home: h, env } = home();
    const file = writeConfig(
      h,
      'port = 6001\nhost = "127.0.0.2"\nuser = "Adam"\ntheme = "light"\n\n[limits]\nrequest-burst = 7\n',
    );
    const r = run(env, ['config', '--print', '--port', '6002', '--no-bell']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`# config file: ${file}`);
    const m = printed(r.stdout);
    expect(m.get('port')).toEqual(['6002', 'command line; relay']);
    expect(m.get('host')).toEqual(['"127.0.0.2"', `${file} line 2; relay`]);
    expect(m.get('user')).toEqual(['"Adam"', `${file} line 3; client`]);
    expect(m.get('theme')).toEqual(['"light"', `${file} line 4; client`]);
    expect(m.get('bell')).toEqual(['false', 'command line; client']);
    expect(m.get('server')).toEqual(['"127.0.0.1:5000"', 'default; client']);
    expect(m.get('request-burst')).toEqual(['7', `${file} line 7; relay`]);
    expect(m.get('data-dir')?.[0]).toBe(JSON.stringify(path.join(h, '.local', 'share', 'chatsecure')));
  });

  it('a real relay takes its limits from the file, and --port from the command line over the file', async () => {
    const { home: h } = home();
    const file = writeConfig(
      h,
      'host = "127.0.0.1"\nport = 1\n\n[limits]\nrequests-per-second = 3\nrequest-burst = 4\n',
    );
    // --port 0 (any free port) on the command line wins over the file's port 1.
    const relay = await startRelayProcess(path.join(h, 'data'), ['--config', file]);
    try {
      expect(relay.port).toBeGreaterThan(1);
      const c = await loginClient(relay.port, 'Adam');
      // A burst of 4 (the file's; the default is 200): six pings at once meet rate_limited (and
      // stay within the refusals the relay answers before it closes a flooding connection).
      const answers = await Promise.all(Array.from({ length: 6 }, () => c.request({ t: 'ping' }, 'pong')));
      expect(answers.filter((a) => a.t === 'error' && a.code === 'rate_limited').length).toBeGreaterThan(0);
      c.close();
    } finally {
      await relay.stop();
    }
  }, 60_000);

  it.each([
    ['an unknown key', 'port = 6000\nprot = 6001\n', 'line 2: unknown key "prot"'],
    ['a wrong type', 'user = "Adam"\nport = "6000"\n', 'line 2: key "port" must be a whole number'],
    ['a bad value', '\n\ntheme = "pink"\n', 'line 3: key "theme" must be one of dark, light, not "pink"'],
    ['a bad server', 'server = "a:b:c"\n', 'line 1: key "server" must be HOST:PORT'],
    ['broken TOML', 'user = "Adam"\nbell = tru\n', 'line 2: key "bell": not valid TOML'],
    [
      'a bad limit',
      '[limits]\nrequest-burst = 0\n',
      'line 2: key "limits.request-burst" must be a whole number',
    ],
  ])('%s is one sentence naming the line and the key, exit status 2', (_what, text, expected) => {
    const { home: h, env } = home();
    const file = writeConfig(h, text);
    const r = run(env, ['--serve', '--port', '0']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^chatsecure: [^\n]+\n$/);
    expect(r.stderr).toContain(`config file ${file} ${expected}`);
  });

  it('--config names the file; a missing one is an error, a missing default is not', () => {
    const { home: h, env } = home();
    const r = run(env, ['config', '--print', '--config', path.join(h, 'nope.toml')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`chatsecure: there is no config file at ${path.join(h, 'nope.toml')}\n`);
    const d = run(env, ['config', '--print']);
    expect(d.status).toBe(0);
    expect(d.stdout).toContain('# config file: none');
  });

  it('a user in the file stands for --user, checked as --user would be', () => {
    const { home: h, env } = home();
    writeConfig(h, 'user = "a/b"\n');
    // The file's user is checked as the command line's would be, naming the file.
    const r = run(env, ['--plain']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('line 1: key "user" "a/b" is not a valid name');
  });
});

describe('standard paths', () => {
  it('a fresh HOME uses $XDG_DATA_HOME for data and $XDG_STATE_HOME for logs', async () => {
    const { home: h, env } = home();
    const xdg = { ...env, XDG_DATA_HOME: path.join(h, 'xd'), XDG_STATE_HOME: path.join(h, 'xs') };
    const child = spawnSync(process.execPath, [BIN, 'config', '--print'], { encoding: 'utf8', env: xdg });
    expect(printed(child.stdout).get('data-dir')).toEqual([
      JSON.stringify(path.join(h, 'xd', 'chatsecure')),
      'default ($XDG_DATA_HOME/chatsecure); relay and client',
    ]);
    // The relay itself, started with that environment, writes there.
    const p = spawn(process.execPath, [BIN, '--serve', '--port', '0'], {
      env: xdg,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      p.stdout.on('data', () => out.includes('Data:') && resolve());
      p.once('exit', () => reject(new Error(`relay exited: ${out}`)));
    });
    const logFile = path.join(h, 'xs', 'chatsecure', 'server.log');
    await waitFor(
      () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('relay listening'),
      20_000,
      'the relay log under $XDG_STATE_HOME',
    );
    const exited = new Promise((r) => p.on('exit', r));
    p.kill('SIGTERM');
    await exited;
    expect(out).toContain(`Data: ${path.join(h, 'xd', 'chatsecure', 'server')}`);
    expect(fs.existsSync(path.join(h, 'xd', 'chatsecure', 'server', 'relay.key'))).toBe(true);
    expect(fs.existsSync(path.join(h, 'xd', 'chatsecure', 'logs'))).toBe(false);
    expect(fs.existsSync(path.join(h, '.chatsecure'))).toBe(false);
  }, 60_000);

  it('an existing ~/.chatsecure is kept (no one loses data on upgrade); CHATSECURE_HOME and --data-dir win', () => {
    const { home: h, env } = home();
    fs.mkdirSync(path.join(h, '.chatsecure'));
    const dd = (e: NodeJS.ProcessEnv, extra: string[] = []) =>
      printed(run(e, ['config', '--print', ...extra]).stdout).get('data-dir');
    expect(dd(env)).toEqual([
      JSON.stringify(path.join(h, '.chatsecure')),
      'default (the existing ~/.chatsecure); relay and client',
    ]);
    expect(dd({ ...env, CHATSECURE_HOME: path.join(h, 'ch') })?.[0]).toBe(JSON.stringify(path.join(h, 'ch')));
    expect(dd({ ...env, CHATSECURE_HOME: path.join(h, 'ch') }, ['--data-dir', path.join(h, 'o')])).toEqual([
      JSON.stringify(path.join(h, 'o')),
      'command line; relay and client',
    ]);
  });
});

describe('the CLI as people expect', () => {
  it('chatsecure completion prints a bash or zsh script; completions come from the parser', () => {
    const { env } = home();
    const bash = run(env, ['completion', 'bash']);
    expect(bash.status).toBe(0);
    expect(bash.stdout).toContain(
      'complete -o bashdefault -o default -F _chatsecure_yargs_completions chatsecure',
    );
    const zsh = run(env, ['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef chatsecure/);
    expect(run(env, ['completion', 'fish']).status).toBe(2);
    const words = run(env, ['--get-yargs-completions', 'chatsecure', 'admin', '']).stdout.split('\n');
    expect(words).toEqual(expect.arrayContaining(['users', 'user', 'free-name', 'fingerprint']));
  });

  it('-v prints the version', () => {
    const { env } = home();
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(run(env, ['-v']).stdout).toBe(`${pkg.version}\n`);
  });

  it('chatsecure logs colours with FORCE_COLOR, and not with NO_COLOR or into a pipe', () => {
    const { home: h, env } = home();
    const log = path.join(h, 'x.log');
    fs.writeFileSync(log, `${JSON.stringify({ level: 50, time: 0, name: 'relay', msg: 'boom' })}\n`);
    const esc = '\u001b[';
    expect(run(env, ['logs', log]).stdout).not.toContain(esc);
    expect(run({ ...env, FORCE_COLOR: '1' }, ['logs', log]).stdout).toContain(esc);
    expect(run({ ...env, FORCE_COLOR: '0' }, ['logs', log]).stdout).not.toContain(esc);
    expect(run({ ...env, NO_COLOR: '1' }, ['logs', log]).stdout).not.toContain(esc);
    expect(run({ ...env, NO_COLOR: '1' }, ['logs', log]).stdout).toContain('boom');
  });
});
