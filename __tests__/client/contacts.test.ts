/**
 * Contacts, the one owner of trust, over a real SQLite store: what may become pending, what
 * `/accept` accepts, and verified.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createIdentity, type Identity, type PublicIdentity } from '../../lib/crypto/identity';
import { randomBytes } from '../../lib/crypto/primitives';
import { Contacts } from '../../lib/client/contacts';
import { openClientStore } from '../../lib/client/sqlite-store';
import type { ClientStore } from '../../lib/client/store';
import { isChatError } from '../../lib/errors';

let tmp: string;
let store: ClientStore;
let contacts: Contacts;

const pub = (i: Identity): PublicIdentity => ({
  signKey: i.signKey.publicKey,
  dhKey: i.dhKey.publicKey,
  idcert: i.idcert,
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-contacts-'));
  store = openClientStore(tmp);
  contacts = new Contacts(store, { name: 'Adam', identity: createIdentity() }, () => 1_700_000_000_000);
});

afterEach(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('pins a first identity once; the same identity is no change', () => {
  const eve = pub(createIdentity());
  expect(contacts.pinFirst('Eve', eve)).toBe('pinned');
  expect(contacts.pinFirst('Eve', eve)).toBe('unchanged');
  expect(contacts.recordChange('Eve', eve)).toBe(false);
  expect(contacts.get('eve')?.state).toBe('unverified');
});

it('an identity whose idcert does not verify never becomes pending', () => {
  contacts.pinFirst('Eve', pub(createIdentity()));
  const forged = { ...pub(createIdentity()), idcert: randomBytes(64) };
  expect(
    isChatError(
      thrown(() => contacts.recordChange('Eve', forged)),
      'bad_key',
    ),
  ).toBe(true);
  expect(contacts.get('Eve')?.state).toBe('unverified');
});

it('accept takes exactly the identity whose number was shown, and nothing else', () => {
  contacts.pinFirst('Eve', pub(createIdentity()));
  contacts.verify('Eve');
  expect(contacts.get('Eve')?.state).toBe('verified');
  expect(
    isChatError(
      thrown(() => contacts.accept('Eve')),
      'nothing_to_accept',
    ),
  ).toBe(true);

  const second = pub(createIdentity());
  expect(contacts.recordChange('Eve', second)).toBe(true);
  expect(
    isChatError(
      thrown(() => contacts.verify('Eve')),
      'identity_changed',
    ),
  ).toBe(true);
  // Not shown yet: refused.
  expect(
    isChatError(
      thrown(() => contacts.accept('Eve')),
      'identity_changed',
    ),
  ).toBe(true);
  const shown = contacts.safetyNumber('Eve');
  // Another identity slips in after the number was shown: refused, with the new number.
  contacts.recordChange('Eve', pub(createIdentity()));
  const err = thrown(() => contacts.accept('Eve', shown));
  expect(isChatError(err, 'identity_changed')).toBe(true);
  const now = contacts.safetyNumber('Eve');
  expect((err as Error).message).toContain(now);
  expect(contacts.get('Eve')?.state).toBe('changed');
  // The number shown last is accepted (grouping aside); verified is cleared.
  contacts.accept('Eve', now.replace(/\s/g, ''));
  expect(contacts.get('Eve')?.state).toBe('unverified');
  expect(contacts.get('Eve')?.pendingIdentity).toBeUndefined();
  expect(contacts.pinned('Eve')).not.toEqual(second);
});
