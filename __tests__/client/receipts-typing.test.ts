/** Typing notices and delivered receipts on their own, with an injected clock. */
import { DeliveredReceipts, Typing, TYPING_TIMEOUT_MS } from '../../lib/client/receipts-typing';

it('an outgoing typing `on` goes at most every half timeout; an `off` only after an `on`', () => {
  let t = 1_000;
  const typing = new Typing(
    () => t,
    () => undefined,
  );
  expect(typing.shouldSend('eve', false)).toBe(false);
  expect(typing.shouldSend('eve', true)).toBe(true);
  t += TYPING_TIMEOUT_MS / 2 - 1;
  expect(typing.shouldSend('eve', true)).toBe(false);
  expect(typing.shouldSend('bob', true)).toBe(true);
  t += 1;
  expect(typing.shouldSend('eve', true)).toBe(true);
  expect(typing.shouldSend('eve', false)).toBe(true);
  expect(typing.shouldSend('eve', false)).toBe(false);
  typing.close();
});

it('an incoming `on` is told, and cleared once (a message from them ends it)', () => {
  const seen: [string, boolean][] = [];
  const typing = new Typing(
    () => 0,
    (peer, _name, on) => seen.push([peer, on]),
  );
  typing.received('eve', 'Eve', true);
  typing.clear('eve');
  typing.clear('eve');
  expect(seen).toEqual([
    ['eve', true],
    ['eve', false],
  ]);
  typing.close();
});

it('delivered receipts of one turn go as one per contact; one that fails is kept and tried again', async () => {
  const sent: [string, string[]][] = [];
  let failNext = true;
  const failures: string[] = [];
  const receipts = new DeliveredReceipts(
    (peer, ids) => {
      if (peer === 'bob' && failNext) {
        failNext = false;
        throw new Error('the disk is full');
      }
      sent.push([peer, ids]);
    },
    (peer) => failures.push(peer),
  );
  jest.useFakeTimers();
  try {
    receipts.add('eve', 'a');
    receipts.add('bob', 'x');
    receipts.add('eve', 'b');
    jest.runOnlyPendingTimers();
    expect(sent).toEqual([['eve', ['a', 'b']]]);
    expect(failures).toEqual(['bob']);
    jest.runOnlyPendingTimers();
    expect(sent).toEqual([
      ['eve', ['a', 'b']],
      ['bob', ['x']],
    ]);
  } finally {
    receipts.close();
    jest.useRealTimers();
  }
});
