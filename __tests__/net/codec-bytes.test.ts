/**
 * lib/net/codec.ts byte helpers: `inOneBuffer` keeps per-connection keys as views of one buffer
 * (issue 12); each view must hold exactly its part's bytes, and none may alias the inputs.
 */
import fc from 'fast-check';
import { inOneBuffer } from '../../lib/net/codec';

it('gives each part back as its own bytes, all views of one new buffer', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 6 }), (parts) => {
      const views = inOneBuffer(parts);
      expect(views.map((v) => Array.from(v))).toEqual(parts.map((p) => Array.from(p)));
      expect(new Set(views.map((v) => v.buffer)).size).toBeLessThanOrEqual(1);
      // A copy: changing an input afterwards does not change its view.
      parts.forEach((p, i) => {
        if (p.length === 0) return;
        p[0] ^= 0xff;
        expect(views[i][0]).not.toBe(p[0]);
      });
    }),
  );
});
