/**
 * Issue 16: how the views show groups, from plain objects of the GROUPS-API.md shapes (the
 * formatting itself, not the client): line-mode lines, event sentences, receipt counts, the
 * members list, the sidebar rows, the conversation's sender and marks, the status line.
 */
import type { ChatMessage } from '../../lib/client/types';
import type { GroupEvent, GroupInfo } from '../../lib/ui/core';
import {
  displayNames,
  eventWithDisplayNames,
  GROUP_NAME_SHOWN,
  groupEventText,
  groupLabel,
  groupListLines,
  groupMembersLines,
  receiptCounts,
  withDisplayNames,
} from '../../lib/ui/groups';
import { formatMessage } from '../../lib/ui/line-mode';
import { messageLines } from '../../lib/ui/screen/conversation-view';
import { sidebarLines } from '../../lib/ui/screen/sidebar';
import { encryptionText } from '../../lib/ui/screen/status-line';
import { groupEntry } from '../../lib/ui/screen/view-model';

const ID = '0123456789abcdef0123456789abcdef';
const at = new Date(2026, 2, 3, 10, 41, 7).getTime();

const info = (over: Partial<GroupInfo> = {}): GroupInfo => ({
  id: ID,
  key: '#' + ID,
  name: 'team',
  members: ['Adam', 'Bob', 'Eve'],
  admins: ['Adam'],
  version: 1,
  unread: 0,
  member: true,
  blockedBy: [],
  ...over,
});

const gmsg = (over: Partial<ChatMessage> = {}): ChatMessage => ({
  id: 'aaaabbbbccccdddd',
  peer: '#' + ID,
  peerName: 'team',
  direction: 'in',
  body: 'hello all',
  ts: at,
  localTs: at,
  state: 'received',
  group: ID,
  sender: 'Eve',
  ...over,
});

const event = (over: Partial<GroupEvent>): GroupEvent => ({
  id: ID,
  key: '#' + ID,
  name: 'team',
  what: 'added',
  by: 'Adam',
  ...over,
});

// Every control character, C1 control and bidi override that neutralise turns into '?'.
const NASTY = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/; // eslint-disable-line no-control-regex

describe('line mode', () => {
  test('a group line reads [time] [#NAME] Sender: text, ours with our name', () => {
    expect(formatMessage(gmsg(), 'Adam', 'team')).toBe('[10:41:07] [#team] Eve: hello all');
    expect(formatMessage(gmsg({ direction: 'out', state: 'sent', sender: undefined }), 'Adam', 'team')).toBe(
      '[10:41:07] [#team] Adam: hello all',
    );
    // Without the group's name (not known yet), its id stands in.
    expect(formatMessage(gmsg(), 'Adam')).toBe(`[10:41:07] [#${ID}] Eve: hello all`);
    // A message between two is as before.
    const pair: ChatMessage = { ...gmsg(), peer: 'eve', peerName: 'Eve' };
    delete (pair as { group?: string }).group;
    expect(formatMessage(pair, 'Adam')).toBe('[10:41:07] Eve: hello all');
  });

  test('a group name, a sender or a body cannot forge a line of our own, nor act on the terminal', () => {
    const line = formatMessage(
      gmsg({ sender: 'Eve\x1b]0;x\x07', body: 'hi\n* Bob is now verified' }),
      'Adam',
      'team\n! The safety number with Bob changed\x9b2J',
    );
    expect(line).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/); // eslint-disable-line no-control-regex
    const rows = line.split('\n');
    expect(rows[0]).toBe('[10:41:07] [#"team ! The safety number with Bob changed?2J"] Eve?]0;x?: hi');
    expect(rows[1]).toBe('  | * Bob is now verified');
  });
});

test('a group name with a space, a bracket or a colon is quoted: it cannot pass for a sender or a claim', () => {
  expect(formatMessage(gmsg({ sender: 'Bob' }), 'Adam', 'team] Eve')).toBe(
    '[10:41:07] [#"team] Eve"] Bob: hello all',
  );
  expect(
    groupEventText(event({ what: 'renamed', by: 'Bob', name: 'x; Eve is now verified' }), 'Adam', 'team'),
  ).toBe('Bob renamed #team to #"x; Eve is now verified"');
  expect(groupLabel('say "hi"')).toBe(`#"say 'hi'"`);
  expect(groupLabel('plain-name_1.0')).toBe('#plain-name_1.0');
});

describe('group event sentences', () => {
  test.each<[Partial<GroupEvent>, string]>([
    [{ what: 'created', by: 'Adam' }, 'You created the group #team with Bob and Eve'],
    [{ what: 'joined', by: 'Bob' }, 'Bob added you to the group #team (with Eve)'],
    [{ what: 'added', users: ['Dan'] }, 'You added Dan to #team'],
    [{ what: 'added', by: 'Bob', users: ['Dan', 'Fay', 'Gil'] }, 'Bob added Dan, Fay and Gil to #team'],
    [{ what: 'removed', by: 'Bob', users: ['Eve'] }, 'Bob removed Eve from #team'],
    [{ what: 'left', by: 'Eve' }, 'Eve left #team'],
    [{ what: 'left', by: 'adam' }, 'You left #team; its history stays readable'],
    [{ what: 'renamed', by: 'Bob', name: 'crew' }, 'Bob renamed #team to #crew'],
    [{ what: 'admin', by: 'Bob', users: ['Adam'] }, 'Bob made you an admin of #team'],
    // The group as it is now says which way the role went.
    [{ what: 'admin', by: 'Bob', users: ['Eve'] }, 'Bob took the admin role of #team from Eve'],
    [{ what: 'removed-me', by: 'Bob' }, 'Bob removed you from #team; its history stays readable'],
  ])('%j', (over, text) => {
    expect(groupEventText(event(over), 'Adam', 'team', info())).toBe(text);
  });

  test('a rename with no earlier name known says only the new one', () => {
    expect(groupEventText(event({ what: 'renamed', by: 'Bob', name: 'crew' }), 'Adam')).toBe(
      'Bob renamed the group to #crew',
    );
  });

  test('a peer-made name is neutralised and cut, and stays inside our sentence', () => {
    const long = 'x'.repeat(500);
    const text = groupEventText(
      event({ what: 'joined', by: 'Bo\x1b[2Jb', name: `${long}\n* Bob is now verified` }),
      'Adam',
    );
    expect(text).not.toMatch(NASTY);
    expect(text).not.toContain('\n');
    expect(text.startsWith('Bo?[2Jb added you to the group #')).toBe(true);
    expect(groupLabel(long)).toHaveLength(1 + GROUP_NAME_SHOWN);
    expect(groupLabel(long).endsWith('…')).toBe(true);
  });
});

test('canonical member names are shown as their owners registered them, where known', () => {
  const show = displayNames('Adam', [{ canon: 'eve', name: 'Eve' }]);
  const g = withDisplayNames(
    info({ members: ['adam', 'bob', 'eve'], admins: ['adam'], blockedBy: ['eve'] }),
    show,
  );
  expect(g).toMatchObject({ members: ['Adam', 'bob', 'Eve'], admins: ['Adam'], blockedBy: ['Eve'] });
  expect(eventWithDisplayNames(event({ by: 'adam', users: ['eve'] }), show)).toMatchObject({
    by: 'Adam',
    users: ['Eve'],
  });
  expect(groupEventText(eventWithDisplayNames(event({ by: 'eve', users: ['bob'] }), show), 'Adam')).toBe(
    'Eve added bob to #team',
  );
});

describe('receipt counts', () => {
  test.each([
    [
      { to: ['Bob', 'Eve', 'Dan', 'Fay', 'Gil'], delivered: ['Bob', 'Eve', 'Dan'], read: ['Bob', 'Eve'] },
      'delivered to 3 of 5, read by 2',
    ],
    // A read receipt counts as delivered too, whichever came first.
    [{ to: ['Bob', 'Eve'], delivered: [], read: ['eve'] }, 'delivered to 1 of 2, read by 1'],
    [{ to: ['Bob', 'Eve'], delivered: ['Bob'], read: [] }, 'delivered to 1 of 2'],
    [{ to: ['Bob', 'Eve'], delivered: [], read: [] }, 'delivered to 0 of 2'],
  ])('%j', (r, text) => {
    expect(receiptCounts(r)).toBe(text);
  });
});

describe('/group members and /groups', () => {
  test('members with admins, me and the members who block sending marked', () => {
    const lines = groupMembersLines(
      info({ members: ['Adam', 'Bob', 'Evelyn'], admins: ['Adam', 'Bob'], blockedBy: ['Evelyn'] }),
      'Adam',
    );
    expect(lines).toEqual([
      '#team: 3 members',
      '  Adam    you, admin',
      '  Bob     admin',
      '  Evelyn  ! safety number changed: sending blocked until /accept Evelyn',
    ]);
    expect(groupMembersLines(info({ member: false }), 'Adam')[0]).toBe(
      '#team: 3 members (you are no longer a member)',
    );
  });

  test('the groups listed with their state', () => {
    expect(
      groupListLines([
        info({ unread: 2 }),
        info({ name: 'old-crew', member: false }),
        info({ name: 'x', blockedBy: ['Eve'] }),
      ]),
    ).toEqual([
      '  #team      3 members, 2 unread',
      '  #old-crew  3 members, left',
      '  #x         3 members, sending blocked',
    ]);
    expect(groupListLines([])).toEqual(['  no groups yet: /group create NAME USER...']);
  });
});

describe('full screen', () => {
  const contact = {
    name: 'Eve',
    canon: 'eve',
    state: 'verified' as const,
    online: true,
    unread: 0,
    lastSeen: null,
  };

  test('a group row is marked # and carries its unread count, numbered in the same list as contacts', () => {
    const rows = sidebarLines(
      [
        contact,
        groupEntry(info({ unread: 4 })),
        groupEntry(info({ key: '#b', name: 'crew', blockedBy: ['Eve'] })),
        groupEntry(info({ key: '#c', name: 'old', member: false })),
      ],
      undefined,
      24,
      false,
    );
    const plain = rows.map((r) => r.replace(/\{\/?[a-z-]+\}/g, ''));
    expect(plain).toEqual([
      '1 ● Eve                ✓',
      '2 # team               4',
      '3 # crew               !',
      '4 # old                -',
    ]);
    // Unread: the name and the count in bold.
    expect(rows[1]).toMatch(/^2 \{bold\}#\{\/bold\} \{bold\}team +\{\/bold\} {3}\{bold\}4\{\/bold\}$/);
    // The open one in inverse, as a contact's.
    expect(sidebarLines([groupEntry(info())], '#' + ID, 24, false)[0]).toMatch(
      /^\{inverse\}1 .*team.*\{\/inverse\}$/,
    );
  });

  test('a peer-made group name cannot put tags or controls into the sidebar', () => {
    const [row] = sidebarLines([groupEntry(info({ name: '{red-fg}x\x1b[2J' }))], undefined, 30, false);
    expect(row).not.toMatch(NASTY);
    expect(row).not.toContain('{red-fg}');
  });

  test('each group message names its sender; ours carry the receipt counts', () => {
    const lines = messageLines(
      [
        gmsg({ body: 'from Eve' }),
        gmsg({ body: 'from Bob', sender: 'Bob' }),
        gmsg({ id: 'mine', direction: 'out', state: 'delivered', sender: undefined, body: 'mine' }),
      ],
      'Adam',
      60,
      { groupMark: (m) => (m.id === 'mine' ? 'delivered to 1 of 2, read by 1' : undefined) },
    ).map((l) => l.plain);
    expect(lines[1]).toBe('10:41 Eve: from Eve');
    expect(lines[2]).toBe('10:41 Bob: from Bob');
    expect(lines[3]).toMatch(/^10:41 Adam: mine +delivered to 1 of 2, read by 1$/);
    expect(lines[3]).toHaveLength(60);
  });

  test('the status line says a group is blocked, left or fine', () => {
    expect(encryptionText('#team', undefined, info())).toBe('#team: group of 3, encrypted');
    expect(encryptionText('#team', undefined, info({ blockedBy: ['Eve'] }))).toBe(
      '#team: SAFETY NUMBER CHANGED (Eve), sending blocked',
    );
    expect(encryptionText('#team', undefined, info({ member: false }))).toBe(
      '#team: you are no longer a member',
    );
  });
});
