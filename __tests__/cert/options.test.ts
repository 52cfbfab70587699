/**
 * The certificate options (docs/protocol.md 6.1): `--relay-cert` / `relay-cert` for the relay,
 * `--trust-authority` / `trust-authority` for the client, parsed by the real argument parser
 * with a real config file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from '../../lib/cli';
import { isChatError } from '../../lib/errors';
import { tempDir } from '../helpers/relay-harness';

const FP = `SHA256:${'A'.repeat(42)}E`;
const FP2 = `SHA256:${'B'.repeat(42)}E`;
let dir: string;
beforeEach(() => (dir = tempDir('chatsecure-cert-options-')));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function withConfig(text: string, args: string[]) {
  const file = path.join(dir, 'config.toml');
  fs.writeFileSync(file, text);
  return parseArgs([...args, '--config', file], {});
}

function refusal(f: () => unknown): string {
  try {
    f();
    return 'accepted';
  } catch (err) {
    return isChatError(err) ? `${err.code}: ${err.message}` : 'not a ChatError';
  }
}

it('--relay-cert and relay-cert reach the relay options; the command line wins', () => {
  expect(parseArgs(['--serve', '--relay-cert', '/etc/r1.cert'], {})).toMatchObject({
    kind: 'serve',
    opts: { relayCert: '/etc/r1.cert' },
  });
  const cmd = withConfig('relay-cert = "/etc/file.cert"\n', ['--serve']);
  expect(cmd).toMatchObject({ kind: 'serve', opts: { relayCert: '/etc/file.cert' } });
  expect(withConfig('relay-cert = "/etc/file.cert"\n', ['--serve', '--relay-cert', 'x.cert'])).toMatchObject({
    opts: { relayCert: 'x.cert' },
  });
  const plain = parseArgs(['--serve'], {});
  expect(plain.kind === 'serve' && 'relayCert' in plain.opts).toBe(false);
});

it('--trust-authority, once or repeated, or from the config file, reaches the client options', () => {
  expect(parseArgs(['--user', 'Adam', '--trust-authority', FP], {})).toMatchObject({
    kind: 'user',
    opts: { trustAuthority: [FP] },
  });
  expect(parseArgs(['--user', 'Adam', '--trust-authority', FP, '--trust-authority', FP2], {})).toMatchObject({
    opts: { trustAuthority: [FP, FP2] },
  });
  expect(withConfig(`trust-authority = "${FP}"\n`, ['--user', 'Adam'])).toMatchObject({
    opts: { trustAuthority: [FP] },
  });
  const none = parseArgs(['--user', 'Adam'], {});
  expect(none.kind === 'user' && 'trustAuthority' in none.opts).toBe(false);
});

it('refuses a malformed authority fingerprint, and --trust-authority with --server-fingerprint', () => {
  expect(refusal(() => parseArgs(['--user', 'Adam', '--trust-authority', 'SHA256:short'], {}))).toMatch(
    /^bad_args: --trust-authority must look like SHA256:/,
  );
  expect(
    refusal(() => parseArgs(['--user', 'Adam', '--trust-authority', FP, '--server-fingerprint', FP2], {})),
  ).toMatch(/^bad_args: choose one: --trust-authority .* or --server-fingerprint/);
  expect(refusal(() => withConfig('\ntrust-authority = "nope"\n', ['--user', 'Adam']))).toMatch(
    /^bad_args: config file .* line 2: .*trust-authority.*SHA256:/,
  );
});
