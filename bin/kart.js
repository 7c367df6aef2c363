#!/usr/bin/env node
// The CLI runs its TypeScript sources directly: Node >= 22.19 strips types natively,
// so there is no build step between an edit and `kart`.
import '../src/cli/main.ts';
