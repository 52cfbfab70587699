/**
 * The real binaries: a relay process and two line-mode clients (`--plain`) talking through
 * pipes, as a script or a 2016 user would drive them.
 */
import { makeUser } from '../helpers/client-harness';
import {
  type LineModeProcess,
  startLineMode,
  startRelayProcess,
  tempDir,
  waitFor,
} from '../helpers/relay-harness';

it('two line-mode clients chat through a relay process; /list shows both online', async () => {
  const dataDir = tempDir();
  const relay = await startRelayProcess(dataDir);
  const procs: LineModeProcess[] = [];
  const start = (name: string, extra: string[] = []) => {
    const p = startLineMode(relay.port, name, dataDir, extra);
    procs.push(p);
    return p;
  };
  try {
    // Unknown relay key in line mode: refused without --accept-new-server, with the fingerprint shown.
    const refused = start('Adam');
    expect(await refused.exit).toBe(1);
    expect(refused.out()).toContain(relay.fingerprint);
    expect(refused.out()).toMatch(/--accept-new-server/);

    const adam = start('Adam', ['--accept-new-server']);
    const eve = start('Eve', ['--server-fingerprint', relay.fingerprint]);
    await waitFor(
      () => adam.out().includes('* connected') && eve.out().includes('* connected'),
      15000,
      'both connected',
    );
    adam.child.stdin.write('Eve: hello from Adam\n');
    await waitFor(() => /\[\d\d:\d\d:\d\d\] Adam: hello from Adam/.test(eve.out()), 15000, 'Eve to see it');
    eve.child.stdin.write('/msg Adam hi back\n');
    await waitFor(() => /\[\d\d:\d\d:\d\d\] Eve: hi back/.test(adam.out()), 15000, 'Adam to see it');
    await waitFor(() => /\* eve read your message/i.test(adam.out()), 15000, 'the read receipt');
    adam.child.stdin.write('/list\n');
    await waitFor(
      () => /^ {2}Adam +online$/m.test(adam.out()) && /^ {2}Eve +online$/m.test(adam.out()),
      15000,
      '/list',
    );
    adam.child.stdin.write('/exit\n');
    eve.child.stdin.end();
    expect(await adam.exit).toBe(0);
    expect(await eve.exit).toBe(0);
  } catch (err) {
    for (const p of procs) process.stderr.write(`--- client output ---\n${p.out()}\n`);
    throw err;
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill();
    await relay.stop();
  }
}, 60000);

it('prints at start the messages stored but never shown by an earlier run', async () => {
  const dataDir = tempDir();
  const relay = await startRelayProcess(dataDir);
  const procs: LineModeProcess[] = [];
  try {
    const common = ['--server-fingerprint', relay.fingerprint];
    const eve = startLineMode(relay.port, 'Eve', dataDir, common);
    procs.push(eve);
    await waitFor(() => eve.out().includes('* connected'), 15000, 'Eve connected');
    eve.child.stdin.end('/exit\n');
    expect(await eve.exit).toBe(0);

    // Eve's store receives a message while no view shows it: a Client object stands in for the
    // moment between storing and printing (the line mode would have printed it at once).
    const adam = await makeUser(relay.port, 'Adam');
    adam.client.send('Eve', 'stored while you were away');
    await waitFor(() => adam.client.outboxSize() === 0, 10000, 'the relay to take it');
    const eveStore = await makeUser(relay.port, 'Eve', { dir: `${dataDir}/users/eve` });
    await waitFor(() => eveStore.messages.length === 1, 10000, 'Eve’s store to hold it');
    await eveStore.stop();
    await adam.stop();

    const again = startLineMode(relay.port, 'Eve', dataDir, common);
    procs.push(again);
    await waitFor(
      () => again.out().includes('Adam: stored while you were away'),
      15000,
      'the unshown message',
    );
    again.child.stdin.end('/exit\n');
    expect(await again.exit).toBe(0);
    expect(again.out().match(/stored while you were away/g)).toHaveLength(1);
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill();
    await relay.stop();
  }
}, 60000);
