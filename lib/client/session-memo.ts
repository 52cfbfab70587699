/**
 * Parsed ratchet sessions kept in memory (issue 9, Cost). Parsing a stored session re-derives
 * and checks the X25519 public half of every key it holds, a third of a message's CPU when it
 * was done on every load. The store stays the only source of truth: an entry is used only when
 * the text the store returns is exactly the text it was made from, so a rolled-back transaction,
 * a session archived or deleted, or a restored file can never make a stale session live again.
 */
import { parseSessionFromStorage, serializeSessionForStorage, type Session } from '../crypto/ratchet/session';

/**
 * Sessions remembered at most. One live session per conversation plus a few archived ones: a
 * thousand covers hundreds of conversations; an older entry is parsed again when it is needed.
 */
export const SESSION_MEMO_MAX = 1_000;

interface Entry {
  readonly text: string;
  readonly session: Session;
}

export class SessionMemo {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max = SESSION_MEMO_MAX) {}

  /** The session stored as `text`, parsed once. */
  parse(peer: string, sessionId: string, text: string): Session {
    const key = `${peer}\u0000${sessionId}`;
    const hit = this.entries.get(key);
    if (hit && hit.text === text) {
      // Most recently used last, so eviction takes the least recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.session;
    }
    const session = parseSessionFromStorage(text);
    this.remember(key, text, session);
    return session;
  }

  /** The text to store for `s`; remembered, so loading it back costs no parse. */
  serialize(peer: string, s: Session): string {
    const text = serializeSessionForStorage(s);
    this.remember(`${peer}\u0000${s.id}`, text, s);
    return text;
  }

  private remember(key: string, text: string, session: Session): void {
    this.entries.delete(key);
    this.entries.set(key, { text, session });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }
}
