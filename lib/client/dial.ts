/** A TCP connection to the relay, given up after 10 s without an answer. */
import * as net from 'node:net';
import { ChatError } from '../errors';

export function dialRelay(host: string, port: number, hostPort: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: host, port: port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ChatError('connection_closed', 'the relay did not answer'));
    }, 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ChatError('connection_closed', `cannot reach the relay at ${hostPort} (${err.code ?? 'error'})`),
      );
    });
  });
}
