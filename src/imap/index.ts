// The IMAP protocol handler given to the gate (src/net/server.ts): IMAP4rev2 (RFC 9051) and
// IMAP4rev1 (RFC 3501) with the extensions listed in session.capabilities(). Each connection
// runs one ImapSession; all sessions of one server share the parse-once cache, the mailbox
// listings and the searchable header records.
import type { ProtocolHandler, RefusalReason } from "../net/types.js";
import type { Services } from "../services.js";
import { ParsedCache } from "./session/cache.js";
import { ImapSession } from "./session/session.js";
import { mailboxViews } from "../store/views.js";
import { HeaderCache } from "./session/headers.js";

const REFUSALS: Record<RefusalReason, string> = {
  access: "* BYE [UNAVAILABLE] Access denied",
  banned: "* BYE [UNAVAILABLE] Access temporarily refused",
  "too-many-connections": "* BYE [UNAVAILABLE] Too many connections, try again later",
  rate: "* BYE [UNAVAILABLE] Too many new connections, slow down",
  shutdown: "* BYE [UNAVAILABLE] Server shutting down",
};

export function createImapHandler(services: Services): ProtocolHandler {
  const shared = { cache: new ParsedCache(services.store), views: mailboxViews(services.store), headers: new HeaderCache() };
  return {
    protocol: "imap",
    refusal: (reason) => `${REFUSALS[reason]}\r\n`,
    serve: (conn) => new ImapSession(conn, services, shared).run(),
  };
}
