import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../../lib/client/types';
import { messageLines, visibleWindow } from '../../lib/ui/screen/conversation-view';
import { actionForKey, KEY_BINDINGS, keyHelpRows } from '../../lib/ui/screen/keys';
import { computeLayout } from '../../lib/ui/screen/layout';
import { prettyLogLine, readLogForViewer } from '../../lib/ui/screen/log-viewer';
import { connectionText, shortFingerprint, statusText } from '../../lib/ui/screen/status-line';
import { displayWidth } from '../../lib/ui/width';

const day1 = new Date(2026, 2, 3, 10, 41).getTime();
const day2 = new Date(2026, 2, 4, 9, 5).getTime();
const msg = (over: Partial<ChatMessage>): ChatMessage => ({
  id: 'x',
  peer: 'eve',
  peerName: 'Eve',
  direction: 'in',
  body: 'hi',
  ts: day1,
  localTs: day1,
  state: 'shown',
  ...over,
});

describe('conversation view', () => {
  test('day separators, time, sender, state marks on our own messages only', () => {
    const lines = messageLines(
      [
        msg({ body: 'hello' }),
        msg({ direction: 'out', body: 'hi Eve', state: 'delivered' }),
        msg({ ts: day2, body: 'next day' }),
      ],
      'Adam',
      40,
    ).map((l) => l.plain);
    expect(lines[0]).toMatch(/^─+ Tue 3 Mar 2026 ─+$/);
    expect(lines[1]).toBe('10:41 Eve: hello');
    expect(lines[2]).toMatch(/^10:41 Adam: hi Eve +delivered$/);
    expect(lines[3]).toContain('Wed 4 Mar 2026');
    expect(lines[4]).toBe('09:05 Eve: next day');
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(40);
  });

  test('the window is pinned to the newest line and clamps its scroll', () => {
    const lines = Array.from({ length: 10 }, (_, i) => ({ plain: String(i), tagged: String(i) }));
    expect(visibleWindow(lines, 3, 0).lines.map((l) => l.plain)).toEqual(['7', '8', '9']);
    expect(visibleWindow(lines, 3, 2).lines.map((l) => l.plain)).toEqual(['5', '6', '7']);
    expect(visibleWindow(lines, 3, 99)).toMatchObject({ fromBottom: 7 });
  });
});

describe('status line', () => {
  test('connection states, with the reconnect countdown', () => {
    expect(connectionText({ state: 'online' }, 0)).toBe('online');
    expect(connectionText({ state: 'offline', retryAt: 4200, reason: 'x' }, 1000)).toBe(
      'offline, retry in 4s',
    );
    expect(connectionText({ state: 'connecting', attempt: 3 }, 0)).toBe('connecting (attempt 3)');
  });

  test('fits the width exactly and names the open conversation state', () => {
    const fp = 'SHA256:' + 'A'.repeat(43);
    expect(shortFingerprint(fp)).toBe('SHA256:AAAAAAAA…');
    const s = statusText(
      {
        hostPort: 'h:1',
        connection: { state: 'online' },
        fingerprint: fp,
        peer: 'Eve',
        contactState: 'changed',
        now: 0,
      },
      200,
    );
    expect(s).toContain('Eve: SAFETY NUMBER CHANGED');
    expect(displayWidth(s)).toBe(200);
    expect(
      displayWidth(
        statusText(
          {
            hostPort: 'h:1',
            connection: { state: 'online' },
            fingerprint: fp,
            peer: undefined,
            contactState: undefined,
            now: 0,
          },
          30,
        ),
      ),
    ).toBe(30);
  });
});

describe('layout', () => {
  test('the sidebar hides below 60 columns; everything fits down to 40×10', () => {
    const big = computeLayout(100, 30);
    expect(big.sidebar).toBeDefined();
    expect(big.status.top).toBe(29);
    const small = computeLayout(40, 10);
    expect(small.sidebar).toBeUndefined();
    expect(small.conversation.width).toBe(40);
    expect(small.status.top).toBe(9);
  });
});

describe('keys', () => {
  test('every binding reaches its action, and F1 lists it', () => {
    const help = keyHelpRows().map(([k]) => k);
    for (const b of KEY_BINDINGS) {
      for (const k of b.keys) expect(actionForKey(k)).toEqual(b.action);
      if (b.help) expect(help).toContain(b.label.startsWith('Alt+1') ? 'Alt+1..9' : b.label);
    }
  });
});

describe('log viewer', () => {
  test('pino lines are pretty; the file is read from its tail', () => {
    const line = JSON.stringify({
      level: 30,
      time: day1,
      pid: 1,
      hostname: 'h',
      name: 'Adam',
      msg: 'connected',
      attempt: 2,
    });
    expect(prettyLogLine(line)).toMatch(/^2026-03-03 10:41:00 INFO {2}connected attempt=2$/);
    expect(prettyLogLine('not json')).toBe('not json');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-log-'));
    try {
      const file = path.join(dir, 'a.log');
      fs.writeFileSync(file, Array.from({ length: 100 }, () => line).join('\n') + '\n');
      const text = readLogForViewer(file, 1000);
      expect(text).toContain('showing the last');
      expect(
        text
          .split('\n')
          .slice(1)
          .every((l) => l.includes('connected')),
      ).toBe(true);
      expect(readLogForViewer(path.join(dir, 'none.log'))).toContain('does not exist');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
