/** `parseCommand`: one test per command, and the 2016 `NAME: text` syntax (issue 11, "Structure"). */
import { COMMAND_HELP, COMMAND_WORDS, parseCommand } from '../../lib/ui/commands';

test.each([
  ['/help', { action: 'help' }],
  ['/?', { action: 'help' }],
  ['/list', { action: 'list' }],
  ['/who', { action: 'list' }],
  ['/exit', { action: 'exit' }],
  ['/quit', { action: 'exit' }],
  ['/contacts', { action: 'contacts' }],
  ['/verify Eve', { action: 'verify', user: 'Eve', confirm: false }],
  ['/verify Eve confirm', { action: 'verify', user: 'Eve', confirm: true }],
  ['/accept Eve', { action: 'accept', user: 'Eve' }],
  ['/history Eve', { action: 'history', user: 'Eve' }],
  ['/close', { action: 'close', user: undefined }],
  ['/close Eve', { action: 'close', user: 'Eve' }],
  ['/delete', { action: 'delete' }],
  ['/recovery', { action: 'recovery' }],
  ['/search late  bus', { action: 'search', text: 'late  bus' }],
  ['/msg Eve hi  there', { action: 'send', to: 'Eve', body: 'hi  there' }],
  ['Eve: hello', { action: 'send', to: 'Eve', body: 'hello', prefixed: true }],
  ['plain words', { action: 'say', body: 'plain words' }],
  ['//slash first', { action: 'say', body: '/slash first' }],
  ['   ', { action: 'empty' }],
])('%s', (line, want) => {
  expect(parseCommand(line)).toEqual(want);
});

test.each([
  ['/verify', '/verify needs a name'],
  ['/verify Eve maybe', 'use /verify NAME or /verify NAME confirm'],
  ['/accept', '/accept needs a name'],
  ['/history', '/history needs a name'],
  ['/msg Eve', '/msg needs some text after the name'],
  ['/search', '/search needs some text'],
  ['/close bad$name', '"bad$name" is not a valid name'],
  ['Eve:   ', 'nothing to send to Eve'],
  ['/bogus', 'unknown command /bogus; type /help'],
])('%s is refused with a sentence', (line, message) => {
  expect(parseCommand(line)).toEqual({ action: 'invalid', message });
});

test('every command word in the help parses to something other than "unknown command"', () => {
  for (const w of COMMAND_WORDS) {
    const r = parseCommand(`${w} Eve x`);
    expect(r.action === 'invalid' && r.message.startsWith('unknown command')).toBe(false);
  }
  expect(COMMAND_HELP.length).toBeGreaterThan(COMMAND_WORDS.length);
});
