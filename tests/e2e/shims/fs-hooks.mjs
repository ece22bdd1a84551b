// ESM resolve hook (registered by fs-globsync-shim.mjs): "fs" -> fs-with-glob.mjs.
const withGlob = new URL("./fs-with-glob.mjs", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "fs" && context.parentURL !== withGlob) {
    return { url: withGlob, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
