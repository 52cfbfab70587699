/**
 * `send.multi` (docs/protocol.md section 10.5): one envelope, a group message the relay cannot
 * read, for up to MAX_MULTI_RECIPIENTS users. Each copy is checked, queued, answered and acked
 * per recipient exactly as a `send` (section 7), with the same per-recipient limits: a recipient
 * that is unknown, whose identity changed or whose queue is full gets its own refusal, and the
 * other copies go on. Answers come in the order of `to`, each naming its recipient in `user`.
 *
 * A request takes one request token per 10 recipients beyond the first (a group of 100 costs 10),
 * so a connection cannot make the relay store a hundred times its request rate.
 */
import { constantTimeEqual, fromBase64, toBase64 } from '../crypto/primitives';
import { canonName } from '../names';
import { checkedBytes } from '../net/codec';
import type { ClientMessage, MultiRecipient, RelayMessage } from '../net/messages';
import type { HandlerDeps } from './handlers';
import type { Session } from './session';
import type { EnqueueResult, UserRecord } from './store';

type SendMulti = Extract<ClientMessage, { t: 'send.multi' }>;

/** Recipients covered by one request token. */
export const RECIPIENTS_PER_TOKEN = 10;

/** A copy refused before anything was stored: its answer, ready to send. */
type Refusal = Extract<RelayMessage, { t: 'error' }>;

interface Copy {
  readonly canon: string;
  readonly target: UserRecord;
  readonly stored: Promise<EnqueueResult>;
}

function refusal(msg: SendMulti, user: string, code: Refusal['code'], message: string): Refusal {
  return { t: 'error', rid: msg.rid, id: msg.id, user, code, message };
}

/** Looks a recipient up and checks its identity and its address share; stores nothing. */
async function check(
  d: HandlerDeps,
  s: Session,
  msg: SendMulti,
  r: MultiRecipient,
): Promise<Refusal | UserRecord> {
  const canon = canonName(r.user);
  const target = d.ctx.sessions.get(canon)?.user ?? (await d.ctx.store.lookup(canon));
  if (!target) return refusal(msg, r.user, 'unknown_user', `no user is called ${r.user}`);
  if (r.for !== undefined && !constantTimeEqual(fromBase64(r.for, 32), target.signKey)) {
    return {
      ...refusal(msg, target.name, 'identity_changed', `${target.name} has a new identity`),
      identity: {
        user: target.name,
        signKey: toBase64(target.signKey),
        dhKey: toBase64(target.dhKey),
        idcert: toBase64(target.idcert),
      },
    };
  }
  if (d.shares.count(canon, s.address) >= d.ctx.limits.queuePerAddress) {
    return refusal(
      msg,
      target.name,
      'queue_full',
      `${target.name} has too many messages waiting from this address`,
    );
  }
  return target;
}

export async function sendMulti(d: HandlerDeps, s: Session, msg: SendMulti): Promise<void> {
  const { ctx } = d;
  for (let extra = Math.floor((msg.to.length - 1) / RECIPIENTS_PER_TOKEN); extra > 0; extra--) {
    if (!s.requests.take()) {
      d.refuse(s, msg.rid, 'rate_limited', `more than ${ctx.limits.requestsPerSecond} requests a second`);
      return;
    }
  }
  const checked = await Promise.all(msg.to.map((r) => check(d, s, msg, r)));
  const ts = ctx.now();
  const young = ts - s.user.registeredAt < ctx.limits.newIdentityMs;
  const caps = {
    perRecipient: ctx.limits.queuePerRecipient,
    perSender: young ? ctx.limits.queuePerNewSender : ctx.limits.queuePerSender,
  };
  const env = checkedBytes(msg.env);
  // Enqueued in the order of `to`; the store commits in call order (store.ts).
  const copies: (Copy | Refusal)[] = checked.map((c) => {
    if ('t' in c) return c;
    const canon = c.canon;
    return {
      canon,
      target: c,
      stored: ctx.store.enqueue({ id: msg.id, to: canon, from: s.user.name, env, ts }, caps),
    };
  });
  const all = Promise.all(copies.map((c) => ('t' in c ? undefined : c.stored)));
  d.afterWrite(s, msg, all, (results) => {
    copies.forEach((c, i) => {
      if ('t' in c) s.channel.send(c);
      else answer(d, s, msg, c, results[i] as EnqueueResult, ts);
    });
  });
}

/** What `send` does once its write commits, for one copy. */
function answer(d: HandlerDeps, s: Session, msg: SendMulti, c: Copy, r: EnqueueResult, ts: number): void {
  const name = c.target.name;
  if (r === 'queue_full') {
    s.channel.send(refusal(msg, name, 'queue_full', `${name} has too many messages waiting`));
    return;
  }
  if (r === 'ok') {
    d.shares.add(c.canon, msg.id, s.address);
    d.ctx.observer?.count('stored');
  }
  const recipient = d.ctx.sessions.get(c.canon);
  s.channel.send({
    t: 'sent',
    rid: msg.rid,
    id: msg.id,
    status: recipient ? 'delivered' : 'queued',
    user: name,
  });
  if (!recipient) return;
  if (r === 'ok')
    d.delivery.deliverNew(c.canon, { t: 'deliver', id: msg.id, from: s.user.name, env: msg.env, ts });
  else d.delivery.pumpLater(recipient);
}
