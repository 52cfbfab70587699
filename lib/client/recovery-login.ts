/**
 * The recovery key at login (issue 9, point 8): its public half goes with every login, the proof
 * that takes the name over with `--recover` until the relay has welcomed the new identity once,
 * and the code shown once after the first registration. Its dependencies are passed in.
 */
import type { EventEmitter } from 'node:events';
import type { Identity } from '../crypto/identity';
import { toBase64 } from '../crypto/primitives';
import { recoveryKeyPair, recoveryProof } from '../crypto/recovery';
import { ChatError } from '../errors';
import type { ClientStore } from './store';
import type { ClientEvents } from './types';

export interface RecoveryLoginDeps {
  /** The user's recovery code (lib/client/recovery-store.ts), if the client has one. */
  readonly code?: string;
  /** The code was made on this run: show it once after the first successful registration. */
  readonly isNew?: boolean;
  /** `--recover`: take the name over with a proof signed by the recovery key. */
  readonly recover?: boolean;
  readonly canon: string;
  readonly identity: Identity;
  readonly kv: ClientStore['kv'];
  readonly emit: EventEmitter<ClientEvents>['emit'];
}

export class RecoveryLogin {
  /** `--recover` until the relay has welcomed the new identity once. */
  private recovering: boolean;

  constructor(private readonly deps: RecoveryLoginDeps) {
    this.recovering = deps.recover ?? false;
  }

  /** `recovery` (the public recovery key) at every login, and `recover` (the proof) when asked. */
  fields(): { recovery?: string; recover?: string } {
    const code = this.deps.code;
    if (code === undefined) return {};
    const kp = recoveryKeyPair(code);
    const id = this.deps.identity;
    return {
      recovery: toBase64(kp.publicKey),
      ...(this.recovering
        ? {
            recover: toBase64(
              recoveryProof(kp.secretKey, this.deps.canon, id.signKey.publicKey, id.dhKey.publicKey),
            ),
          }
        : {}),
    };
  }

  /** The user's recovery code, grouped for display (CLIENT-API item 5). */
  code(): string {
    if (this.deps.code === undefined) {
      throw new ChatError('bad_state', 'this client was started without a recovery code');
    }
    return this.deps.code;
  }

  /** The relay welcomed us: no more `recover`; a new code is shown once. */
  welcomed(): void {
    this.recovering = false;
    const { code, isNew, kv } = this.deps;
    if (isNew && code && kv.get('recovery.shown') !== '1') {
      // Once, after the first successful registration: the view shows it for the user to write down.
      kv.set('recovery.shown', '1');
      this.deps.emit('recovery-code', { code });
    }
  }
}
