/**
 * Where fresh key material comes from. Every function in lib/crypto that needs randomness takes a
 * `RandomSource`, so tests can inject a deterministic one (DESIGN.md: no randomness a test cannot inject).
 */
import { randomBytes, type Bytes } from './primitives';

export type RandomSource = (length: number) => Bytes;

export const systemRandom: RandomSource = randomBytes;
