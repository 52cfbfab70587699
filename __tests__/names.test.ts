import { canonName, isValidName } from '../lib/names';

describe('canonName', () => {
  test('lowercases exactly the ASCII capitals, with or without the no-capital shortcut', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-';
    for (let i = 0; i < alphabet.length; i++) {
      const name = alphabet.slice(i, i + 32);
      expect(isValidName(name)).toBe(true);
      expect(canonName(name)).toBe(name.toLowerCase());
    }
    expect(canonName('Alice')).toBe('alice');
    expect(canonName('MIXED.case_Name-9')).toBe('mixed.case_name-9');
  });

  test('a name without a capital is returned as it is', () => {
    for (const name of ['alice', 'bob.smith', 'x_1-2', '9']) expect(canonName(name)).toBe(name);
  });
});
