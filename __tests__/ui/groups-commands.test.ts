/** Issue 16: the group commands and the `#NAME: text` syntax, parsed (lib/ui/commands.ts). */
import { COMMAND_HELP, COMMAND_WORDS, helpText, parseCommand } from '../../lib/ui/commands';

test.each([
  ['/group create team Eve Bob', { action: 'group', op: 'create', group: 'team', users: ['Eve', 'Bob'] }],
  ['/group create #team Eve', { action: 'group', op: 'create', group: 'team', users: ['Eve'] }],
  ['/GROUP Add team Dan', { action: 'group', op: 'add', group: 'team', users: ['Dan'] }],
  ['/group remove team Dan Eve', { action: 'group', op: 'remove', group: 'team', users: ['Dan', 'Eve'] }],
  ['/group leave #team', { action: 'group', op: 'leave', group: 'team' }],
  ['/group members team', { action: 'group', op: 'members', group: 'team' }],
  ['/group rename team crew', { action: 'group', op: 'rename', group: 'team', name: 'crew' }],
  ['/group rename team #crew', { action: 'group', op: 'rename', group: 'team', name: 'crew' }],
  ['/groups', { action: 'groups' }],
  ['/group admin team Eve', { action: 'group', op: 'admin', group: 'team', user: 'Eve', on: true }],
  ['/group admin team Eve OFF', { action: 'group', op: 'admin', group: 'team', user: 'Eve', on: false }],
  ['#team: hello all', { action: 'send-group', group: 'team', body: 'hello all' }],
  ['#Ünïcode-名前: hi', { action: 'send-group', group: 'Ünïcode-名前', body: 'hi' }],
  ['#team:  two  spaces', { action: 'send-group', group: 'team', body: ' two  spaces' }],
  ['/msg #team hi  there', { action: 'send-group', group: 'team', body: 'hi  there' }],
  ['/history #team', { action: 'history', user: '#team' }],
  ['/close #team', { action: 'close', user: '#team' }],
  // Not a group line: '#' with a space, or a hashtag without the colon, is text.
  ['# team: hi', { action: 'say', body: '# team: hi' }],
  ['#team rocks', { action: 'say', body: '#team rocks' }],
  // The 2016 syntax is untouched.
  ['Eve: hello', { action: 'send', to: 'Eve', body: 'hello', prefixed: true }],
])('%s', (line, want) => {
  expect(parseCommand(line)).toEqual(want);
});

test.each([
  ['/group', '/group needs what to do: /group create NAME USER..., /group add NAME USER...'],
  [
    '/group frobnicate team',
    '/group frobnicate is not a group command; use one of /group create NAME USER...',
  ],
  ['/group create', 'say which group: /group create NAME USER...'],
  [
    '/group create team',
    "/group create needs its members after the group's name: /group create NAME USER...",
  ],
  ['/group add team', "/group add needs who to add after the group's name: /group add NAME USER..."],
  [
    '/group remove team',
    "/group remove needs who to remove after the group's name: /group remove NAME USER...",
  ],
  ['/group add team bad$name', '"bad$name" is not a valid name'],
  ['/group leave', 'say which group: /group leave NAME'],
  ['/group leave team now', "/group leave takes only the group's name: /group leave NAME"],
  ['/group members', 'say which group: /group members NAME'],
  ['/group rename team', "/group rename needs the new name after the group's name: /group rename NAME NEW"],
  ['/group rename team new crew', 'a group name is one word: /group rename NAME NEW'],
  ['/group rename team a:b', '"a:b" is not a valid group name: a group name is 1 to 64 characters'],
  ['/group create a#b Eve', '"a#b" is not a valid group name'],
  [`/group create ${'x'.repeat(65)} Eve`, 'is not a valid group name'],
  ['/group create #', '"#" is not a valid group name'],
  ['/group admin team', 'use /group admin NAME USER [off]'],
  ['/group admin team Eve maybe', 'use /group admin NAME USER [off]'],
  ['/group admin team bad$name', '"bad$name" is not a valid name'],
  ['#team:   ', 'nothing to send to #team'],
  ['/msg #team', '/msg needs some text after the group name'],
  ['/history #a:b', '"#a:b" is not a valid group name'],
])('%s is refused with a sentence', (line, start) => {
  const r = parseCommand(line);
  expect(r.action).toBe('invalid');
  expect(r.action === 'invalid' && r.message).toContain(start);
});

test('a control character cannot be part of a group name or a #NAME: address', () => {
  expect(parseCommand('/group create te\x1bam Eve').action).toBe('invalid');
  expect(parseCommand('#te\x07am: hi')).toEqual({ action: 'say', body: '#te\x07am: hi' });
});

test('the group commands are in /help and in the words Tab completes', () => {
  const help = helpText();
  for (const form of [
    '/group create NAME USER...',
    '/group add NAME USER...',
    '/group remove NAME USER...',
    '/group leave NAME',
    '/group members NAME',
    '/group rename NAME NEW',
    '/group admin NAME USER [off]',
    '#GROUP: text',
    '/groups',
  ])
    expect(help).toContain(form);
  expect(COMMAND_WORDS).toEqual(expect.arrayContaining(['/group', '/groups']));
  // Each group form in the help parses (with sample arguments) to a group command.
  for (const [form] of COMMAND_HELP.filter(([c]) => c.startsWith('/group '))) {
    const line = form
      .replace('NAME', 'team')
      .replace('NEW', 'crew')
      .replace('USER...', 'Eve Bob')
      .replace(' [off]', '');
    expect(parseCommand(line)).toMatchObject({ action: 'group' });
  }
});
