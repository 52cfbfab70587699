/**
 * What the client's parts that read and write the store share (inbox, sender): the store and
 * the end-to-end layer, the one owner of contact trust, a log, a clock, the client's transaction
 * and its events. Each part adds what only it needs.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Contacts } from './contacts';
import type { EndToEnd } from './e2e';
import type { ClientStore } from './store';
import type { ClientEvents } from './types';

export interface StoreParts {
  readonly store: ClientStore;
  readonly e2e: EndToEnd;
  readonly contacts: Contacts;
  readonly log: Logger;
  readonly now: () => number;
  /** The client's transaction (it re-reads what it keeps in memory after a rollback). */
  readonly tx: <T>(fn: () => T) => T;
  readonly emit: EventEmitter<ClientEvents>['emit'];
}
