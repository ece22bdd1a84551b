// Preload with `node --import=<this file>`. The conformance CLI imports `globSync` from "fs", an API
// Node 22 added, and only its tier-check command calls it. On Node 20 the import alone stops the
// CLI from loading, so these loader hooks resolve the bare "fs" specifier to fs-with-glob.mjs.
import { register } from "node:module";

register("./fs-hooks.mjs", import.meta.url);
