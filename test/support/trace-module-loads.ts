// Preloaded with `node --import`: prints every module URL the program resolves to stderr, one
// `kart-test-loaded <url>` line each, so a test can see what a command really loads.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    process.stderr.write(`kart-test-loaded ${resolved.url}\n`);
    return resolved;
  },
});
