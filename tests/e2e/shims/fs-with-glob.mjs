// node:fs, plus a globSync for Node versions that lack one (used only by conformance's tier-check).
import fs from "node:fs";

export * from "node:fs";
export default fs;
export const globSync =
  fs.globSync ??
  (() => {
    throw new Error("fs.globSync needs Node 22");
  });
