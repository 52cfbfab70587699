/**
 * Group state (lib/client/groups/state.ts, docs/protocol.md section 10.2): changes apply only in
 * version order, by admins, and two admins' concurrent changes end in the same state on every
 * client whatever order they arrive in (fast-check over random interleavings).
 */
import fc from 'fast-check';
import {
  applyChange,
  changeHash,
  createGroup,
  FINAL_DEPTH,
  groupChangeToJSON,
  groupStateToJSON,
  joinGroup,
  MAX_GROUP_MEMBERS,
  membershipDiff,
  parseGroupChange,
  parseGroupStateMessage,
  proposeChange,
  stateMessageOf,
  type GroupChange,
  type GroupOp,
  type GroupState,
} from '../../lib/client/groups/state';
import { codeOf } from '../helpers/error-code';

const ID = '0123456789abcdef0123456789abcdef';

function must(state: GroupState, c: GroupChange, from = c.by): GroupState {
  const r = applyChange(state, c, from);
  expect(r.outcome).toBe('applied');
  return r.state;
}

/** Adam creates the group and makes Bea an admin; everyone starts from that. */
function start(): GroupState {
  const g = createGroup(ID, 'Team', 'Adam', ['Bea', 'Cy', 'Dee']);
  return must(g, proposeChange(g, 'adam', { t: 'admin', user: 'bea', on: true }));
}

const view = (s: GroupState) => ({ name: s.name, members: s.members, admins: s.admins, version: s.version });

describe('changes', () => {
  it('creates a group with its creator as the only admin, at version 1', () => {
    const g = createGroup(ID, 'Team', 'Adam', ['Bea', 'bea', 'Cy']);
    expect(view(g)).toEqual({ name: 'Team', members: ['adam', 'bea', 'cy'], admins: ['adam'], version: 1 });
    expect(codeOf(() => createGroup('nope', 'Team', 'Adam', []))).toBe('bad_message');
    expect(codeOf(() => createGroup(ID, 'a\u001b[2Jb', 'Adam', []))).toBe('bad_args');
  });

  it('add, remove, rename, admin and leave, each by the rules', () => {
    let g = start();
    g = must(g, proposeChange(g, 'bea', { t: 'add', users: ['Eve'] }));
    g = must(g, proposeChange(g, 'adam', { t: 'rename', name: 'Crew' }));
    g = must(g, proposeChange(g, 'adam', { t: 'remove', users: ['cy'] }));
    expect(view(g)).toEqual({
      name: 'Crew',
      members: ['adam', 'bea', 'dee', 'eve'],
      admins: ['adam', 'bea'],
      version: 5,
    });
    // Only admins change the group; the proposer is told at once.
    expect(codeOf(() => proposeChange(g, 'dee', { t: 'rename', name: 'Mine' }))).toBe('bad_state');
    // The last admin cannot step down, but may leave: the first member by name takes over.
    g = must(g, proposeChange(g, 'bea', { t: 'leave' }));
    expect(codeOf(() => proposeChange(g, 'adam', { t: 'admin', user: 'adam', on: false }))).toBe('bad_state');
    const before = g;
    g = must(g, proposeChange(g, 'adam', { t: 'leave' }));
    expect(g.admins).toEqual(['dee']);
    expect(membershipDiff(before, g)).toEqual({ added: [], removed: ['adam'] });
  });

  it('a change that does not follow the version is held until the gap fills', () => {
    const g = start();
    const c3 = proposeChange(g, 'adam', { t: 'rename', name: 'Three' });
    const after3 = must(g, c3);
    const c4 = proposeChange(after3, 'adam', { t: 'add', users: ['eve'] });
    const held = applyChange(g, c4, 'adam');
    expect(held.outcome).toBe('held');
    expect(view(held.state)).toEqual(view(g));
    const both = must(held.state, c3);
    expect(view(both)).toEqual(view(must(after3, c4)));
    expect(applyChange(both, c4, 'adam').outcome).toBe('duplicate');
  });

  it('refuses a change whose author is not its pairwise sender, or of another group', () => {
    const g = start();
    const c = proposeChange(g, 'adam', { t: 'remove', users: ['bea'] });
    expect(applyChange(g, c, 'Cy').outcome).toBe('refused');
    expect(applyChange(g, { ...c, group: 'f'.repeat(32) }, 'adam').outcome).toBe('refused');
  });

  it('a change by a non-admin or a former member is accepted in order but has no effect', () => {
    let g = start();
    const forged: GroupChange = {
      group: ID,
      v: g.version + 1,
      by: 'dee',
      op: { t: 'add', users: ['mallory'] },
    };
    g = must(g, forged);
    expect(g.members).not.toContain('mallory');
    expect(g.version).toBe(3);
  });

  it('refuses a group bigger than MAX_GROUP_MEMBERS', () => {
    const g = start();
    const many = Array.from({ length: MAX_GROUP_MEMBERS - 3 }, (_, i) => `u${i}`);
    expect(codeOf(() => proposeChange(g, 'adam', { t: 'add', users: many }))).toBe('bad_state');
  });

  it('folds changes older than FINAL_DEPTH into the base and refuses them as stale afterwards', () => {
    let g = start();
    const first = proposeChange(g, 'adam', { t: 'rename', name: 'n0' });
    for (let i = 0; i <= FINAL_DEPTH + 1; i++)
      g = must(g, proposeChange(g, 'adam', { t: 'rename', name: `n${i + 1}` }));
    expect(g.base.version).toBeGreaterThan(first.v);
    expect(g.log.length).toBeLessThanOrEqual(FINAL_DEPTH);
    expect(applyChange(g, { ...first, op: { t: 'rename', name: 'late' } }, 'adam').outcome).toBe('stale');
  });
});

describe('a new member', () => {
  it('folds the same state from the state message an admin sends, and only from an admin', () => {
    let g = start();
    g = must(g, proposeChange(g, 'bea', { t: 'add', users: ['eve'] }));
    const wire = JSON.parse(JSON.stringify(groupStateToJSON(stateMessageOf(g)))) as unknown;
    const eve = joinGroup(parseGroupStateMessage(wire), 'Bea', 'Eve');
    expect(view(eve)).toEqual(view(g));
    expect(codeOf(() => joinGroup(stateMessageOf(g), 'cy', 'eve'))).toBe('bad_state');
    expect(codeOf(() => joinGroup(stateMessageOf(g), 'adam', 'zed'))).toBe('bad_state');
    // It then follows the next change like everyone else.
    const next = proposeChange(g, 'adam', { t: 'rename', name: 'Later' });
    expect(view(must(eve, next))).toEqual(view(must(g, next)));
  });
});

describe('wire form', () => {
  it('round-trips every kind of change, and refuses malformed ones', () => {
    const g = start();
    const ops: GroupOp[] = [
      { t: 'add', users: ['Eve', 'Zed'] },
      { t: 'remove', users: ['cy'] },
      { t: 'leave' },
      { t: 'rename', name: 'New name' },
      { t: 'admin', user: 'Cy', on: true },
    ];
    for (const op of ops) {
      const c: GroupChange = { group: ID, v: g.version + 1, by: 'bea', op };
      const back = parseGroupChange(JSON.parse(JSON.stringify(groupChangeToJSON(c))));
      expect(changeHash(parseGroupChange(groupChangeToJSON(back)))).toBe(changeHash(back));
      if (back.op.t === 'add') expect(back.op.users).toEqual(['eve', 'zed']);
      if (back.op.t === 'admin') expect(back.op.user).toBe('cy');
    }
    const good = groupChangeToJSON({ group: ID, v: 3, by: 'bea', op: { t: 'leave' } });
    const bad = (patch: Record<string, unknown>) => codeOf(() => parseGroupChange({ ...good, ...patch }));
    expect(bad({ v: 1 })).toBe('bad_message');
    expect(bad({ v: 2.5 })).toBe('bad_message');
    expect(bad({ group: 'ABC' })).toBe('bad_message');
    expect(bad({ by: '../x' })).toBe('bad_message');
    expect(bad({ extra: 1 })).toBe('bad_message');
    expect(bad({ op: { t: 'leave', users: [] } })).toBe('bad_message');
    expect(bad({ op: { t: 'add', users: ['eve', 'EVE'] } })).toBe('bad_message');
    expect(bad({ op: { t: 'add', users: [] } })).toBe('bad_message');
    expect(bad({ op: { t: 'rename', name: 'x\u0007' } })).toBe('bad_message');
    expect(bad({ op: { t: 'explode' } })).toBe('bad_message');
    const state = groupStateToJSON(stateMessageOf(g)) as { base: Record<string, unknown> };
    expect(codeOf(() => parseGroupStateMessage({ ...state, base: { ...state.base, admins: ['zed'] } }))).toBe(
      'bad_message',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Convergence: two admins change the group at once, four clients receive in random orders.

const USERS = ['adam', 'bea', 'cy', 'dee', 'eve', 'finn'];
const opArb: fc.Arbitrary<GroupOp> = fc.oneof(
  fc.record({ t: fc.constant('add' as const), users: fc.subarray(USERS, { minLength: 1, maxLength: 2 }) }),
  fc.record({ t: fc.constant('remove' as const), users: fc.subarray(USERS, { minLength: 1, maxLength: 2 }) }),
  fc.record({ t: fc.constant('rename' as const), name: fc.constantFrom('Red', 'Blue', 'Green') }),
  fc.record({ t: fc.constant('admin' as const), user: fc.constantFrom(...USERS), on: fc.boolean() }),
  fc.constant({ t: 'leave' as const }),
);
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('change' as const), who: fc.constantFrom('adam', 'bea'), op: opArb }),
  fc.record({ kind: fc.constant('deliver' as const), to: fc.nat(3), pick: fc.nat() }),
);

it('every client ends in the same state, whatever the interleaving of two admins’ concurrent changes', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { minLength: 1, maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 200 }),
      (steps, tail) => {
        const names = ['adam', 'bea', 'cy', 'dee'];
        const replicas = names.map(() => start());
        const inbox: { c: GroupChange; from: string }[][] = names.map(() => []);
        const deliver = (to: number, pick: number) => {
          if (inbox[to].length === 0) return;
          const [m] = inbox[to].splice(pick % inbox[to].length, 1);
          const r = applyChange(replicas[to], m.c, m.from);
          expect(['applied', 'held', 'duplicate']).toContain(r.outcome);
          replicas[to] = r.state;
        };
        let made = 0;
        for (const s of steps) {
          if (s.kind === 'deliver') {
            deliver(s.to, s.pick);
            continue;
          }
          const i = names.indexOf(s.who);
          let c: GroupChange;
          try {
            c = proposeChange(replicas[i], s.who, s.op);
          } catch {
            continue; // not allowed where this admin stands now: a real client would say so
          }
          made++;
          replicas[i] = must(replicas[i], c);
          names.forEach((_, j) => j !== i && inbox[j].push({ c, from: s.who }));
        }
        // Everything still in flight arrives, in a random order.
        for (let k = 0; inbox.some((b) => b.length > 0); k++) {
          const pick = tail[k % Math.max(1, tail.length)] ?? 0;
          const waiting = names.map((_, j) => j).filter((j) => inbox[j].length > 0);
          deliver(waiting[pick % waiting.length], pick + k);
        }
        const views = replicas.map(view);
        for (const v of views) expect(v).toEqual(views[0]);
        for (const r of replicas) expect(r.pending).toEqual([]);
        expect(views[0].version).toBeGreaterThanOrEqual(2 + Math.min(made, 1));
      },
    ),
    { numRuns: 300 },
  );
});

it('two admins renaming at once: both clients keep the rename that sorts last, in either arrival order', () => {
  const g = start();
  const a = proposeChange(g, 'adam', { t: 'rename', name: 'From Adam' });
  const b = proposeChange(g, 'bea', { t: 'rename', name: 'From Bea' });
  const ab = must(must(g, a), b);
  const ba = must(must(g, b), a);
  expect(view(ab)).toEqual(view(ba));
  const last = changeHash(a) > changeHash(b) ? a : b;
  expect(ab.name).toBe(last.op.t === 'rename' ? last.op.name : undefined);
  expect(ab.version).toBe(g.version + 1);
});
