// Preload with `node --import=<this file>`. The reference "everything" server listens on every
// interface (`app.listen(PORT)`); a test's upstream must be reachable on loopback only, so a
// listen() given a port and no host binds 127.0.0.1.
import net from "node:net";

const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listen(...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (args.length === 1 || typeof args[1] === "function") {
      args.splice(1, 0, "127.0.0.1");
    }
  }
  return originalListen.apply(this, args);
};
