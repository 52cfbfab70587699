/** The RelayStore contract (store-contract.ts) against the SQLite store: handles on one file. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openRelayStore } from '../../lib/server/sqlite-store';
import { storeContract } from './store-contract';

let tmp = '';

storeContract('SQLite', {
  async setup() {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-store-contract-'));
  },
  async open() {
    return openRelayStore(path.join(tmp, 'server'));
  },
  async teardown() {
    fs.rmSync(tmp, { recursive: true, force: true });
  },
});
