#!/usr/bin/env node
// The `lotus` command: a thin entry point; the subcommands live in lib/cli/.
import { main } from './cli/main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`lotus: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
