/**
 * The passphrase prompt for a sealed identity, usable before a `ChatCore` exists (the identity
 * must be opened to build one). It opens the terminal, asks in a masked dialog, and restores
 * the terminal before it resolves. The passphrase is returned, never logged or drawn.
 */
import { Dialogs } from './dialogs';
import { openTerminal, type TerminalStreams } from './terminal';

export interface PassphraseDialogOptions extends TerminalStreams {
  /** Whose identity, for the text. */
  readonly user: string;
  /** A new identity: ask twice and require the same answer. */
  readonly confirm?: boolean;
  /** A sentence shown before the question (why it is asked again). */
  readonly note?: string;
}

/** Resolves with the passphrase, or undefined if the user pressed Escape. */
export async function askPassphraseDialog(opts: PassphraseDialogOptions): Promise<string | undefined> {
  const terminal = openTerminal(opts);
  const { screen } = terminal;
  const dialogs = new Dialogs(screen, () => draw());
  function draw(): void {
    dialogs.render();
    screen.render();
    if (dialogs.cursor) {
      screen.program.cup(dialogs.cursor.y, dialogs.cursor.x);
      screen.program.showCursor();
    }
  }
  screen.on('keypress', (ch: string | undefined, key: { full?: string; name?: string }) =>
    dialogs.key({ ch, full: key.full ?? key.name ?? '' }),
  );
  terminal.onPaste((text) => dialogs.paste(text));
  screen.on('resize', draw);
  try {
    let note = opts.note === undefined ? '' : `${opts.note} `;
    for (;;) {
      const first = await dialogs.prompt(
        'Passphrase',
        `${note}${opts.confirm ? 'Choose a passphrase to seal' : 'Type the passphrase of'} the identity of ${opts.user}. Esc cancels.`,
        true,
      );
      if (first === undefined || !opts.confirm) return first;
      const again = await dialogs.prompt('Passphrase', `Type the same passphrase again. Esc cancels.`, true);
      if (again === undefined) return undefined;
      if (again === first) return first;
      note = 'The two did not match. ';
    }
  } finally {
    terminal.restore();
  }
}
