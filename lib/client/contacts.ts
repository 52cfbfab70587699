/**
 * Contacts: the one owner of trust (DESIGN.md, "each piece of state has one owner"). Pinning a
 * first identity, recording a changed one as pending (only once its idcert verifies, issue 9
 * point 3), verified, the safety number and what `/accept` accepts (exactly the identity whose
 * number was shown, point 2) are decided here and nowhere else; the end-to-end layer and the
 * Client ask, and never write a contact themselves. Storage is a ContactStore (store.ts).
 */
import {
  type Identity,
  identitiesEqual,
  type PublicIdentity,
  verifyPublicIdentity,
} from '../crypto/identity';
import { formatSafetyNumber, safetyNumber } from '../crypto/safety-number';
import { ChatError } from '../errors';
import { canonName } from '../names';
import type { Contact, ContactStore, Identity as StoredIdentity, PinResult } from './store';

export function toStoredIdentity(name: string, pub: PublicIdentity): StoredIdentity {
  return { name, canon: canonName(name), signKey: pub.signKey, dhKey: pub.dhKey, idcert: pub.idcert };
}

export function contactIdentity(c: Pick<Contact, 'signKey' | 'dhKey' | 'idcert'>): PublicIdentity {
  return { signKey: c.signKey, dhKey: c.dhKey, idcert: c.idcert };
}

/** Safety numbers compare digits only: the grouping the user saw does not matter. */
const digits = (n: string): string => n.replace(/\s/g, '');

export class Contacts {
  /** The safety number last shown for a contact's pending identity (what `/accept` accepts). */
  private readonly shown = new Map<string, string>();

  constructor(
    private readonly store: ContactStore,
    private readonly ours: { readonly name: string; readonly identity: Identity },
    private readonly now: () => number,
  ) {}

  get(peer: string): Contact | undefined {
    return this.store.getContact(canonName(peer));
  }

  all(): Contact[] {
    return this.store.contacts();
  }

  /** The pinned identity, or undefined for a name never seen. */
  pinned(peer: string): PublicIdentity | undefined {
    const c = this.get(peer);
    return c ? contactIdentity(c) : undefined;
  }

  /** Pins a first-seen identity (TOFU); never replaces a different one. */
  pinFirst(name: string, identity: PublicIdentity): PinResult {
    return this.store.pinContact(toStoredIdentity(name, identity), this.now());
  }

  /**
   * Another identity for a pinned contact: verified first (a bad idcert throws `bad_key` and
   * nothing changes), then recorded as pending; sending is blocked until `accept`. Returns
   * false when it is the pinned identity after all (nothing to record).
   */
  recordChange(name: string, identity: PublicIdentity): boolean {
    const c = this.get(name);
    if (c && identitiesEqual(contactIdentity(c), identity)) return false;
    verifyPublicIdentity(identity);
    this.store.markChanged(canonName(name), toStoredIdentity(name, identity));
    return true;
  }

  orThrow(peer: string): Contact {
    const c = this.get(peer);
    if (!c) throw new ChatError('unknown_user', `you have no keys for ${peer} yet: exchange a message first`);
    return c;
  }

  /**
   * The 60-digit safety number with `peer`, as 12 groups of 5 (section 3); while a change is
   * pending, the new identity's, remembered as the one shown.
   */
  safetyNumber(peer: string): string {
    const c = this.orThrow(peer);
    const them = c.state === 'changed' && c.pendingIdentity ? c.pendingIdentity : c;
    const ours = {
      name: this.ours.name,
      identity: { signKey: this.ours.identity.signKey.publicKey, dhKey: this.ours.identity.dhKey.publicKey },
    };
    const n = formatSafetyNumber(safetyNumber(ours, { name: c.name, identity: contactIdentity(them) }));
    if (c.state === 'changed') this.shown.set(c.canon, n);
    return n;
  }

  /** Marks `peer` verified (after comparing the safety number out of band). */
  verify(peer: string): Contact {
    const c = this.orThrow(peer);
    if (c.state === 'changed') {
      throw new ChatError('identity_changed', `accept ${c.name}'s new identity first (/accept ${c.name})`);
    }
    this.store.setVerified(c.canon, true);
    return c;
  }

  /**
   * Pins the pending identity if it is exactly the one whose number was shown (`shownNumber`, or
   * the one last shown here); clears verified. Throws `nothing_to_accept` with no change waiting,
   * `identity_changed` (with the new number) when it changed since. Call it in the transaction
   * that retires the old identity's sessions.
   */
  accept(peer: string, shownNumber?: string): Contact {
    const c = this.orThrow(peer);
    if (c.state !== 'changed') {
      throw new ChatError('nothing_to_accept', `No safety-number change to accept for ${c.name}`);
    }
    const shown = shownNumber ?? this.shown.get(c.canon);
    const current = this.safetyNumber(c.canon);
    if (shown === undefined) {
      throw new ChatError(
        'identity_changed',
        `compare the new safety number with ${c.name} first: /verify ${c.name}`,
      );
    }
    if (digits(shown) !== digits(current)) {
      throw new ChatError(
        'identity_changed',
        `the safety number with ${c.name} changed again since it was shown; the new one is ${current}: compare it before accepting`,
      );
    }
    this.store.acceptChange(c.canon, this.now());
    this.shown.delete(c.canon);
    return c;
  }
}
