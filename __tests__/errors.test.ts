/**
 * lib/errors.ts: an ordinary close (`connection_closed`) carries no stack trace, since every
 * connection makes one; every other code keeps its stack, and the process's stack limit is left
 * as it was.
 */
import { ChatError, isChatError } from '../lib/errors';

describe('ChatError stacks', () => {
  it('connection_closed has no stack frames; other codes have them; the limit is restored', () => {
    const limit = Error.stackTraceLimit;
    const closed = new ChatError('connection_closed', 'the connection closed');
    expect(isChatError(closed, 'connection_closed')).toBe(true);
    expect(closed.message).toBe('the connection closed');
    expect(closed.stack).toBe('ChatError: the connection closed');
    const fault = new ChatError('storage_failed', 'disk full');
    expect(fault.stack).toMatch(/^ChatError: disk full\n\s+at /);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('plain').stack).toMatch(/\n\s+at /);
  });
});
