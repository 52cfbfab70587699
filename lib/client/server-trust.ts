/**
 * Whether to trust the relay's key (docs/protocol.md 6 and 6.1): a relay authority's certificate,
 * else the pin in known_servers, `--accept-new-server` or `--server-fingerprint`; an unknown key
 * waits for the user's answer (`pending`). Its dependencies are passed in; no reference to `Client`.
 */
import type { Logger } from 'pino';
import { fingerprint } from '../crypto/primitives';
import type { RelayCertificate } from '../crypto/relay-cert';
import { ChatError } from '../errors';
import {
  changedKeyMessage,
  checkRelayAuthority,
  decideServerTrust,
  type KnownServers,
} from './known-servers';

export interface ServerTrustDeps {
  readonly hostPort: string;
  /** The user's name, shown in the changed-key message. */
  readonly user: string;
  readonly knownServers: KnownServers;
  readonly knownServersFile: string;
  readonly trustAuthorities?: readonly string[];
  readonly acceptNewServer?: boolean;
  readonly serverFingerprint?: string;
  readonly log: Logger;
  readonly now: () => number;
}

export class ServerTrust {
  /** The relay's fingerprint as last seen (trusted or not). */
  seen: string | undefined;
  /** An unknown key waiting for the user's answer. */
  pending: { fingerprint: string; publicKey: Uint8Array } | undefined;

  constructor(private readonly deps: ServerTrustDeps) {}

  /** The `verifyServer` of the handshake: accepts the relay's key, or throws why not. */
  verify(publicKey: Uint8Array, cert?: RelayCertificate): void {
    const fp = fingerprint(publicKey);
    this.seen = fp;
    // Docs/protocol.md 6.1: where a relay authority is trusted, its certificate decides (or throws).
    const certified = checkRelayAuthority({
      knownServers: this.deps.knownServers,
      hostPort: this.deps.hostPort,
      trustAuthorities: this.deps.trustAuthorities,
      relayKey: publicKey,
      cert,
      nowMs: this.deps.now(),
    });
    if (certified) {
      this.deps.log.info({ fingerprint: fp, relayId: certified.relayId }, 'relay certificate accepted');
      return;
    }
    const check = this.deps.knownServers.check(this.deps.hostPort, publicKey);
    const decision = decideServerTrust({
      check,
      acceptNew: this.deps.acceptNewServer ?? false,
      pinnedFingerprint: this.deps.serverFingerprint,
      offered: fp,
    });
    switch (decision.action) {
      case 'accept':
        return;
      case 'remember':
        this.deps.knownServers.remember(this.deps.hostPort, publicKey);
        this.deps.log.info({ fingerprint: fp }, 'relay key remembered');
        return;
      case 'ask':
        this.pending = { fingerprint: fp, publicKey };
        throw new ChatError(
          'server_key_unknown',
          `the relay at ${this.deps.hostPort} is not known yet (${fp})`,
        );
      case 'refuse': {
        const message =
          check.status === 'changed'
            ? changedKeyMessage(this.deps.hostPort, this.deps.knownServersFile, check.pinned, check.offered, {
                line: check.line,
                user: this.deps.user,
              })
            : (decision.reason ?? 'the relay key is refused');
        throw new ChatError('server_key_changed', message);
      }
    }
  }

  /**
   * The user's answer about the pending key: remembered in known_servers on yes. False when no
   * key was waiting.
   */
  answer(accept: boolean): boolean {
    const t = this.pending;
    this.pending = undefined;
    if (!t) return false;
    if (accept) {
      this.deps.knownServers.remember(this.deps.hostPort, t.publicKey);
      this.deps.log.info({ fingerprint: t.fingerprint }, 'relay key accepted and remembered');
    }
    return true;
  }
}
