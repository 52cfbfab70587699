/**
 * Login (docs/protocol.md sections 5.3 and 7.1): checks the identity certificate, registers a
 * new name (at most `registrationsPerAddressPerHour` per address), logs in its holder, applies
 * the registration lock (a new identity takes over a name only with a recovery proof), replaces
 * an older connection of the same user, and sends `welcome` with the limits of this connection.
 */
import { constantTimeEqual, fromBase64 } from '../crypto/primitives';
import { verifyRecoveryProof } from '../crypto/recovery';
import type { WireErrorCode } from '../errors';
import { canonName, isValidName, NAME_RULE } from '../names';
import { verifySignature } from '../net/ed25519-verify';
import type { LoginPayload } from '../net/messages';
import type { KeyedBuckets } from './rate-limit';
import type { Channel, RelayContext } from './session';
import type { NewUser, UserRecord } from './store';

export type LoginOutcome =
  | {
      readonly ok: true;
      readonly user: UserRecord;
      readonly registered: boolean;
      readonly recovered: boolean;
    }
  | { readonly ok: false; readonly code: WireErrorCode; readonly message: string };

const refused = (code: WireErrorCode, message: string): LoginOutcome => ({ ok: false, code, message });

/** Decides who this connection is; stores a registration or an identity replacement. */
export async function authenticate(
  ctx: RelayContext,
  channel: Channel,
  login: LoginPayload,
  address: string,
  registrations: KeyedBuckets,
): Promise<LoginOutcome> {
  if (!isValidName(login.user)) return refused('bad_name', NAME_RULE);
  const signKey = fromBase64(login.signKey, 32);
  const idcert = fromBase64(login.idcert, 64);
  const canon = canonName(login.user);
  const store = ctx.store;
  const known = await store.lookup(canon);
  // Section 5.3: idcert must bind the Noise static key just authenticated to signKey
  // (libsodium: no KeyObject import per login, issue 12). The check is a function of those
  // three values alone, and the store holds only triples that passed it (a registration or a
  // recovery, below): a returning user presenting exactly its stored triple passed it already,
  // so its login costs no signature check (a sixth of the relay's CPU per login, issue 12).
  const returning = known !== undefined && sameIdentity(known, signKey, channel.remoteStatic, idcert);
  if (!returning && !verifySignature(signKey, 'chatsecure-idcert-v1', channel.remoteStatic, idcert)) {
    return refused('handshake_failed', 'the identity certificate does not match the session key');
  }
  const recovery = login.recovery !== undefined ? fromBase64(login.recovery, 32) : undefined;
  const user: NewUser = {
    name: login.user,
    canon,
    signKey,
    dhKey: channel.remoteStatic,
    idcert,
    ...(recovery ? { recovery } : {}),
  };
  // Defect 4: a new name costs one token of this address's registration bucket.
  if (!known && !registrations.take(address)) {
    return refused('rate_limited', 'too many new names from this address; try again later');
  }
  // A returning user's record is at hand: no second read of it to learn it is a login.
  const now = ctx.now();
  const result = returning ? 'existing' : await store.register(user, now);
  if (result === 'identity_taken')
    return refused('identity_taken', 'this identity already holds another name');
  let recovered = false;
  let changed = result !== 'existing';
  if (result === 'name_taken') {
    const holder = known ?? (await store.lookup(canon));
    const proofOk =
      login.recover !== undefined &&
      holder?.recovery !== undefined &&
      verifyRecoveryProof(
        holder.recovery,
        fromBase64(login.recover, 64),
        canon,
        signKey,
        channel.remoteStatic,
      );
    if (!proofOk) return refused('name_taken', `the name ${login.user} belongs to another identity`);
    const replaced = await store.replaceIdentity(
      { ...user, recovery: recovery ?? holder.recovery },
      ctx.now(),
    );
    if (replaced === 'identity_taken') {
      return refused('identity_taken', 'this identity already holds another name');
    }
    if (replaced !== 'ok') return refused('internal', 'the name could not be recovered');
    recovered = true;
  } else if (
    result === 'existing' &&
    recovery &&
    (known?.recovery === undefined || !constantTimeEqual(known.recovery, recovery))
  ) {
    await store.setRecovery(canon, recovery);
    changed = true;
  }
  // A login that changed nothing has its record at hand already, and a registration stored
  // exactly `user` with registeredAt and lastSeen `now` (__tests__/server/store-contract.ts holds
  // every store to that): one read fewer for each (issue 12: the user's row was read three
  // times per registration; lookups were 7-9 % of the relay's CPU while idle clients registered).
  const stored =
    !changed && known
      ? known
      : result === 'ok'
        ? { ...user, registeredAt: now, lastSeen: now }
        : await store.lookup(canon);
  if (!stored) return refused('internal', 'registration was not stored');
  return { ok: true, user: stored, registered: result === 'ok', recovered };
}

/** The stored identity is exactly this one: keys and certificate (lengths are not secret). */
function sameIdentity(
  known: UserRecord,
  signKey: Uint8Array,
  dhKey: Uint8Array,
  idcert: Uint8Array,
): boolean {
  return (
    constantTimeEqual(known.signKey, signKey) &&
    constantTimeEqual(known.dhKey, dhKey) &&
    constantTimeEqual(known.idcert, idcert)
  );
}

/** `welcome {queued, limits}` then, for a returning user short of one-time prekeys, `keys.low`. */
export async function welcome(
  ctx: RelayContext,
  channel: Channel,
  user: UserRecord,
  registered: boolean,
): Promise<number> {
  const queued = await ctx.store.countQueued(user.canon);
  channel.send({ t: 'welcome', queued, limits: ctx.wireLimits });
  // One-time prekeys handed out while the owner was away: ask for more at once (a new
  // registration publishes its first 100 right after welcome, so it is not asked).
  if (!registered) {
    const remaining = await ctx.store.countOpks(user.canon);
    if (remaining < ctx.limits.opkLowWater) channel.send({ t: 'keys.low', remaining });
  }
  return queued;
}
