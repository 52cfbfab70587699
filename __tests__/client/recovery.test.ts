/**
 * Issue 9, point 8, client side: the recovery code is made at first run, kept 0600 next to the
 * identity (sealed with the same passphrase when there is one), shown once after the first
 * registration, and can be shown again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadOrCreateRecoveryCode, RECOVERY_FILE } from '../../lib/client/recovery-store';
import { parseRecoveryCode } from '../../lib/crypto/recovery';
import { isChatError } from '../../lib/errors';
import { makeUser, type TestUser } from '../helpers/client-harness';
import { startRelay, tempDir, type TestRelay } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];
afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay?.stop().catch(() => undefined);
});

it('keeps the recovery code 0600, sealed with the passphrase when the identity is', () => {
  const dir = tempDir('rec-');
  const first = loadOrCreateRecoveryCode(dir);
  expect(first.created).toBe(true);
  expect(parseRecoveryCode(first.code)).toHaveLength(20);
  expect(fs.statSync(path.join(dir, RECOVERY_FILE)).mode & 0o777).toBe(0o600);
  expect(loadOrCreateRecoveryCode(dir)).toEqual({ code: first.code, created: false });

  const sealedDir = tempDir('rec-sealed-');
  const sealed = loadOrCreateRecoveryCode(sealedDir, 'correct horse');
  const text = fs.readFileSync(path.join(sealedDir, RECOVERY_FILE), 'utf8');
  expect(text).not.toContain(sealed.code.replace(/-/g, '').slice(0, 8));
  expect(loadOrCreateRecoveryCode(sealedDir, 'correct horse').code).toBe(sealed.code);
  let err: unknown;
  try {
    loadOrCreateRecoveryCode(sealedDir, 'wrong');
  } catch (e) {
    err = e;
  }
  expect(isChatError(err, 'bad_passphrase')).toBe(true);
});

it('shows the recovery code once, after the first registration, and again on request', async () => {
  relay = await startRelay();
  const dir = tempDir('eve-');
  const { code } = loadOrCreateRecoveryCode(dir);
  const eve = await makeUser(relay.port, 'Eve', {
    dir,
    client: { recoveryCode: code, recoveryCodeNew: true },
  });
  users.push(eve);
  expect(eve.events['recovery-code']).toEqual([{ code }]);
  expect(eve.client.recoveryCode()).toBe(code);
  await eve.stop();
  users.pop();
  const again = await makeUser(relay.port, 'Eve', {
    dir,
    client: { recoveryCode: code, recoveryCodeNew: true },
  });
  users.push(again);
  expect(again.events['recovery-code']).toBeUndefined();
  expect(again.client.recoveryCode()).toBe(code);
});
