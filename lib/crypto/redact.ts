/**
 * Keeps secrets out of logs: an object that holds key material gets a hidden `toJSON` and a hidden
 * Node inspect hook that print only a summary (as vodozemac's Debug printers leave secrets out).
 * pino and console.log both go through one of the two.
 */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export function redactWith<T extends object>(obj: T, summary: () => unknown): T {
  Object.defineProperty(obj, 'toJSON', { value: summary, enumerable: false });
  Object.defineProperty(obj, INSPECT, { value: summary, enumerable: false });
  return obj;
}
