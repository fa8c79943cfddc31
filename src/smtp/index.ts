// The SMTP protocol handler the gate runs for every SMTP connection (MX on 25, submission on 587
// and 465): `createSmtpHandler(services)`. State shared by all sessions of one server (send-limit
// windows, the spool directory) lives in the handler, not in module globals.
//
// Layout: parse.ts, relay.ts, headers.ts, trace.ts, reply.ts are pure; state.ts is the session
// state union; session.ts the loop and the one "allowed now?" check; commands/ one file per
// command; spool.ts streams a message to disk; deliver.ts ends a transaction; resolve.ts maps
// addresses to accounts; sendlimit.ts keeps the submission send limits.
//
// RFCs and how much of each is implemented:
// - RFC 5321 SMTP: all commands but TURN/SEND/SOML/SAML; EXPN disabled (§3.5.2), VRFY 252 (§3.5.3);
//   source routes parsed and refused in recipients, ignored in senders; Postmaster without a domain.
// - RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2920 PIPELINING, RFC 3030 CHUNKING (BDAT; BINARYMIME is
//   not offered), RFC 2034/3463 enhanced status codes, RFC 6531 SMTPUTF8 (addresses; UTF8SMTP in
//   Received:), RFC 3207 STARTTLS, RFC 4954 AUTH (mechanisms from the auth service), RFC 3848
//   "with" keywords. Not offered: DSN (RFC 3461), DELIVERBY, ETRN, REQUIRETLS, MT-PRIORITY.

import type { ProtocolHandler, RefusalReason } from "../net/types.js";
import type { Services } from "../services.js";
import { Session, type SmtpShared } from "./session.js";
import { SendLimiter } from "./sendlimit.js";
import { GreetPassCache } from "./greetcache.js";
import { spoolDir } from "./spool.js";
import { formatReply, reply } from "./reply.js";
import { dnsLookupFromConfig, type DnsLookup } from "../mailauth/resolver.js";

export interface SmtpHandlerOptions {
  /** Pause before the greeting on MX listeners to catch clients that talk first (default 200 ms). */
  greetDelayMs?: number;
  /** Clock for the send limits (tests). */
  now?: () => number;
  /** DNS for inbound SPF/DKIM/DMARC checks; default: from the configuration (tests inject a zone). */
  dnsLookup?: DnsLookup;
}

export function createSmtpHandler(services: Services, opts: SmtpHandlerOptions = {}): ProtocolHandler {
  let dir: Promise<string> | null = null;
  const shared: SmtpShared = {
    limiter: new SendLimiter({
      messagesPerHour: services.config.smtp.max_messages_per_hour,
      recipientsPerDay: services.config.smtp.max_recipients_per_day,
      now: opts.now,
    }),
    spoolDir: () => {
      dir ??= spoolDir(services.dataDir).catch((e: unknown) => {
        dir = null;
        throw e;
      });
      return dir;
    },
    greetDelayMs: opts.greetDelayMs ?? 200,
    greetPassed: new GreetPassCache(),
    dnsLookup: opts.dnsLookup ?? dnsLookupFromConfig(services.config),
  };
  const host = services.config.server.hostname;
  return {
    protocol: "smtp",
    refusal(reason: RefusalReason): string {
      // RFC 5321 §3.1: a server may answer the connection with 554 instead of 220.
      switch (reason) {
        case "shutdown":
          return formatReply(reply(421, "4.3.2", `${host} Service shutting down`));
        case "too-many-connections":
        case "rate":
          return formatReply(reply(421, "4.7.0", `${host} Too many connections, try again later`));
        default:
          return formatReply(reply(554, "5.7.1", `${host} Access denied`));
      }
    },
    async serve(conn) {
      await new Session(services, conn, shared).run();
    },
  };
}
