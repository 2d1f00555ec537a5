#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (built by `npm run build`, or `prepare` on install).
require('../dist/src/cli/index.js').run();
