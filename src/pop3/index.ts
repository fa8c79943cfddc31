// The POP3 protocol handler given to the gate (src/net/server.ts): RFC 1939 with CAPA
// (RFC 2449), STLS (RFC 2595) and AUTH (RFC 5034). Each connection runs one Session; all
// sessions over the same store share one maildrop lock table (lock.ts).

import type { ProtocolHandler, RefusalReason } from "../net/types.js";
import type { Services } from "../services.js";
import { locksFor } from "./lock.js";
import { Session } from "./session.js";

const REFUSALS: Record<RefusalReason, string> = {
  access: "-ERR [SYS/PERM] access denied",
  banned: "-ERR [SYS/TEMP] access temporarily refused",
  "too-many-connections": "-ERR [SYS/TEMP] too many connections, try again later",
  rate: "-ERR [SYS/TEMP] too many new connections, slow down",
  shutdown: "-ERR [SYS/TEMP] server shutting down",
};

export function createPop3Handler(services: Services): ProtocolHandler {
  const locks = locksFor(services.store);
  return {
    protocol: "pop3",
    refusal: (reason) => `${REFUSALS[reason]}\r\n`,
    serve: (conn) => new Session(conn, services, locks).run(),
  };
}
