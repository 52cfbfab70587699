/**
 * IdRing (issue 12): what the relay keeps per message in a ring instead of a Map must answer as
 * a Map would, in any order of adds and deletes, across its growth, wrap-around and shrink.
 */
import fc from 'fast-check';
import { IdRing } from '../../lib/server/id-ring';

describe('IdRing', () => {
  it('answers get, has, delete and size as a Map, and lists the ids in the order added', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom('add', 'delete', 'get', 'drain'), fc.integer({ min: 0, max: 120 })),
          {
            maxLength: 500,
          },
        ),
        (ops) => {
          const r = new IdRing<number>();
          const model = new Map<string, number>();
          let next = 0;
          for (const [op, n] of ops) {
            const id = `id${n}`;
            if (op === 'add') {
              if (model.has(id)) continue;
              r.add(id, next);
              model.set(id, next++);
            } else if (op === 'delete') {
              expect(r.delete(id)).toBe(model.delete(id));
            } else if (op === 'drain') {
              for (const k of [...model.keys()]) expect(r.delete(k)).toBe(model.delete(k));
            } else {
              expect(r.get(id)).toBe(model.get(id));
              expect(r.has(id)).toBe(model.has(id));
            }
            expect(r.size).toBe(model.size);
          }
          expect([...r.keys()]).toEqual([...model.keys()]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps its order when deletes come in order past many wrap-arounds', () => {
    const r = new IdRing<string>();
    for (let i = 0; i < 3; i++) r.add(`a${i}`, `v${i}`);
    for (let i = 3; i < 1000; i++) {
      r.add(`a${i}`, `v${i}`);
      expect(r.delete(`a${i - 3}`)).toBe(true);
    }
    expect([...r.keys()]).toEqual(['a997', 'a998', 'a999']);
    expect(r.get('a998')).toBe('v998');
    expect(r.has('a996')).toBe(false);
  });
});
