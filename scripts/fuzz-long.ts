/**
 * The long fuzz run (`npm run fuzz`): the same targets as test/faults/fuzz.test.ts, FUZZ_RUNS inputs
 * each (default 20000), seeded by FUZZ_SEED (default: the clock, printed so a failure can be replayed).
 * Exits 1 on the first input that breaks the contract (parses or raises a KartError), printing it.
 */
import fc from 'fast-check';
import { checkOne, parserTargets } from '../test/faults/parser-targets.ts';

const runs = Number(process.env.FUZZ_RUNS ?? 20_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
if (!Number.isSafeInteger(runs) || runs < 1) {
  console.error(`FUZZ_RUNS must be a positive whole number, not ${process.env.FUZZ_RUNS}`);
  process.exit(2);
}
console.log(`fuzz: ${runs} inputs per parser, seed ${seed} (replay with FUZZ_SEED=${seed})`);

let failed = false;
for (const target of await parserTargets()) {
  const started = performance.now();
  const result = await fc.check(
    fc.asyncProperty(target.arbitrary, (input) => checkOne(target, input)),
    { numRuns: runs, seed },
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.failed) {
    failed = true;
    console.error(
      `FAIL ${target.name} after ${result.numRuns} inputs (${seconds} s), path ${result.counterexamplePath}`,
    );
    console.error(
      result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance),
    );
  } else {
    console.log(`ok   ${target.name}: ${result.numRuns} inputs in ${seconds} s`);
  }
}
process.exit(failed ? 1 : 0);
