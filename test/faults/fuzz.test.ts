import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KartError, type KartErrorCode } from '../../src/errors.ts';
import { checkOne, parserTargets } from './parser-targets.ts';

/**
 * Every parser that reads outside data, fuzzed: each input parses or raises a KartError; anything else
 * fails with the input printed (and fast-check's seed and path, to replay it). The run is short so
 * `npm test` stays fast; `npm run fuzz` (scripts/fuzz-long.ts) runs the same targets FUZZ_RUNS long.
 */
const RUNS = 150;
const targets = await parserTargets();

describe('parser fuzz: each input parses or raises a KartError', () => {
  for (const target of targets) {
    it(target.name, async () => {
      await fc.assert(
        fc.asyncProperty(target.arbitrary, (input) => checkOne(target, input)),
        { numRuns: RUNS },
      );
    });
  }
});

describe('the fuzz check itself', () => {
  it('fails on a parser that throws something other than a KartError, printing the input', async () => {
    const broken = {
      name: 'broken',
      arbitrary: fc.constant('x'),
      run: (input: string) => {
        throw new TypeError(`cannot read ${input}`);
      },
      show: (input: string) => JSON.stringify(input),
    };
    await expect(checkOne(broken, 'x')).rejects.toThrow(
      /^broken: not a KartError for input "x"\nTypeError: cannot read x/,
    );
  });

  it('accepts a KartError with a code, and refuses one whose code is not SCREAMING_SNAKE', async () => {
    const target = (code: string) => ({
      name: 'coded',
      arbitrary: fc.constant(''),
      run: () => {
        throw new KartError(code as KartErrorCode, 'bad input');
      },
      show: () => '""',
    });
    await expect(checkOne(target('SOME_CODE'), '')).resolves.toBeUndefined();
    await expect(checkOne(target('lower'), '')).rejects.toThrow(/^coded: not a KartError for input ""/);
  });

  it('covers every parser the issue names', () => {
    const names = targets.map((t) => t.name).join('\n');
    for (const what of [
      'parseReference',
      'ImageManifestSchema',
      'ImageIndexSchema',
      'parseKernelMetadata',
      'parseKernelConfig',
      'parseFlavorFile',
      'readTar',
      'parseWwwAuthenticate',
    ]) {
      expect(names).toContain(what);
    }
  });
});
