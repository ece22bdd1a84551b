// Preload with `node --import=<this file>`. The conformance `server` command has no option to send
// headers, so this adds `Authorization: Bearer $MCP_BEARER` to every fetch() to a loopback address:
// the protected server under test sees an authenticated client. Other hosts are left alone.
const token = process.env.MCP_BEARER;
const loopback = new Set(["127.0.0.1", "localhost", "[::1]"]);
const originalFetch = globalThis.fetch;

globalThis.fetch = (input, init = {}) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (!token || !loopback.has(url.hostname)) {
    return originalFetch(input, init);
  }
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set("authorization", `Bearer ${token}`);
  return originalFetch(input, { ...init, headers });
};
