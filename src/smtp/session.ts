// One SMTP session on one Connection: the greeting, the command loop, and the single place where
// "is this command allowed now" is decided (503 5.5.1), errors become replies, bad commands are
// counted and timeouts, over-long lines and shutdown end the session.
//
// Invariants:
// - Commands run one at a time, in the order received (RFC 2920 pipelining needs nothing more:
//   replies go out in order).
// - Only SmtpError reaches the client as a refusal; any other error is logged and answered with a
//   temporary 451 4.3.0, and the transaction is dropped.
// - A spool file never outlives the session (the BDAT state's spool is discarded on every exit).
// - Nothing is read before the greeting is sent; a client that talks first is dropped.

import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import type { Connection, Line, SessionPhase } from "../net/types.js";
import { InputError } from "../net/types.js";
import { SMTP_COMMAND_TIMEOUT_MS, SMTP_DATA_BLOCK_TIMEOUT_MS, SMTP_MAX_AUTH_LINE, SMTP_MAX_COMMAND_LINE } from "../net/limits.js";
import type { Services } from "../services.js";
import type { Account } from "../store/types.js";
import { audit, type AuditEvent } from "../log/audit.js";
import { Replies, SmtpError, formatReply, reply, type Reply } from "./reply.js";
import { parseCommandLine } from "./parse.js";
import { sequenceText, withoutTransaction, type SmtpState } from "./state.js";
import { COMMANDS } from "./commands/index.js";
import type { SendLimiter } from "./sendlimit.js";
import type { GreetPassCache } from "./greetcache.js";
import type { DnsLookup } from "../mailauth/resolver.js";

/** What all sessions of one handler share. */
export interface SmtpShared {
  limiter: SendLimiter;
  /** The spool directory (created once). */
  spoolDir: () => Promise<string>;
  /** Pause before the greeting on MX listeners, to catch clients that talk first. */
  greetDelayMs: number;
  /** Addresses that waited for the greeting recently: not paused again. */
  greetPassed: GreetPassCache;
  /** DNS for inbound mail authentication (SPF/DKIM/DMARC, src/mailauth). */
  dnsLookup: DnsLookup;
}

const HTTP_REQUEST = /^(GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|TRACE|PATCH) \S+ HTTP\/\d(\.\d)?$/i;
const HTTP_HEADER = /^(Host|User-Agent|Accept|Accept-[A-Za-z]+|Content-Type|Content-Length|Connection|Cookie|Origin|Referer|Upgrade):/i;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export class Session {
  state: SmtpState = { kind: "greeting" };
  account: Account | null = null;
  ended = false;
  private badCommands = 0;
  private phase: { phase: SessionPhase; ms: number | undefined } | null = null;
  readonly hostname: string;
  readonly role: "mx" | "submission";

  constructor(
    readonly services: Services,
    readonly conn: Connection,
    readonly shared: SmtpShared,
  ) {
    this.hostname = services.config.server.hostname;
    this.role = conn.listener.smtpRole ?? "mx";
  }

  get config() {
    return this.services.config;
  }

  async send(r: Reply): Promise<void> {
    if (this.conn.closed) return;
    await this.conn.write(formatReply(r));
  }

  /** Sends a last reply and closes the connection. */
  async end(r: Reply | null): Promise<void> {
    this.ended = true;
    if (r) await this.send(r).catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }

  audit(event: AuditEvent, fields: Record<string, unknown> = {}, level: "info" | "warn" | "error" = "info"): void {
    // conn.log already carries the connection id, client IP and listener name.
    audit(this.conn.log, event, { protocol: "smtp", ...fields }, level);
  }

  /** Moves to a new state, discarding a BDAT spool that the new state no longer holds. */
  setState(next: SmtpState): void {
    const prev = this.state;
    if (prev.kind === "bdat" && !(next.kind === "bdat" && next.spool === prev.spool)) {
      void prev.spool.discard().catch(() => undefined);
    }
    this.state = next;
    this.applyPhase();
  }

  /** Timeouts: the short pre-auth timeout while idle and unauthenticated; RFC 5321 §4.5.3.2
   * timeouts once authenticated or, on MX, inside a mail transaction. */
  applyPhase(data = false): void {
    const inTx = this.state.kind === "mail" || this.state.kind === "rcpt" || this.state.kind === "bdat";
    const want: { phase: SessionPhase; ms: number | undefined } = data
      ? { phase: "authenticated", ms: SMTP_DATA_BLOCK_TIMEOUT_MS } // RFC 5321 §4.5.3.2.5
      : this.account || inTx
        ? { phase: "authenticated", ms: SMTP_COMMAND_TIMEOUT_MS } // RFC 5321 §4.5.3.2.2-4, 7
        : { phase: "preauth", ms: undefined };
    if (this.phase && this.phase.phase === want.phase && this.phase.ms === want.ms) return;
    this.phase = want;
    this.conn.setPhase(want.phase, want.ms);
  }

  newId(): string {
    return randomBytes(8).toString("hex").toUpperCase();
  }

  /** Our domains, lower-case. Read per use: domains can be added while the server runs. */
  async localDomains(): Promise<Set<string>> {
    return new Set((await this.services.store.listDomains()).map((d) => d.name.toLowerCase()));
  }

  async run(): Promise<void> {
    try {
      if (await this.greet()) await this.loop();
    } catch (e) {
      await this.onInputError(e);
    } finally {
      if (this.state.kind === "bdat") await this.state.spool.discard().catch(() => undefined);
      if (!this.conn.closed) await this.conn.close().catch(() => undefined);
    }
  }

  /** RFC 5321 §4.3.1: the 220 greeting, unless the client spoke first. Returns false when the
   * session ended instead. */
  private async greet(): Promise<boolean> {
    const address = this.conn.remoteAddress;
    const pause = this.role === "mx" && this.shared.greetDelayMs > 0 && !this.shared.greetPassed.has(address);
    if (pause) await sleep(this.shared.greetDelayMs, undefined, { signal: this.conn.signal }).catch(() => undefined);
    if (this.conn.closed) return false;
    if (this.conn.shuttingDown) {
      await this.end(Replies.shuttingDown(this.hostname));
      return false;
    }
    if (this.conn.buffered > 0) {
      // A pipelining-before-greeting client (spam bots do this; RFC 5321 §4.3.1 / RFC 2920 §3.1).
      this.audit("smtp.protocol.abuse", { reason: "early-talker", bytes: this.conn.buffered }, "warn");
      this.shared.greetPassed.fail(address);
      await this.end(reply(554, "5.5.0", `${this.hostname} Protocol error: sent data before the greeting`));
      return false;
    }
    if (pause) this.shared.greetPassed.pass(address); // waited for the greeting: not paused again (greetcache.ts)
    await this.send(reply(220, null, `${this.hostname} ESMTP`));
    this.setState({ kind: "connected" });
    return true;
  }

  private async loop(): Promise<void> {
    while (!this.ended && !this.conn.closed) {
      const line = await this.conn.readLine(SMTP_MAX_AUTH_LINE);
      if (line === null) return; // clean EOF
      if (this.conn.shuttingDown) {
        await this.end(Replies.shuttingDown(this.hostname));
        return;
      }
      await this.handleLine(line);
    }
  }

  private async handleLine(line: Line): Promise<void> {
    let text: string;
    try {
      text = utf8.decode(line.bytes);
    } catch {
      return this.refuse(new SmtpError(reply(500, "5.5.2", "Invalid UTF-8 in command")));
    }
    if (text.includes("\0") || text.includes("\r")) return this.refuse(new SmtpError(reply(500, "5.5.2", "Invalid characters in command")));
    if (HTTP_REQUEST.test(text) || HTTP_HEADER.test(text)) {
      this.audit("smtp.protocol.abuse", { reason: "http" }, "warn");
      return this.end(reply(554, "5.7.0", "This is an SMTP server, not an HTTP server"));
    }
    let cmd;
    let args: string;
    try {
      const parsed = parseCommandLine(text);
      cmd = COMMANDS.get(parsed.verb);
      args = parsed.args;
    } catch (e) {
      if (line.bytes.length > SMTP_MAX_COMMAND_LINE) return this.tooLong();
      return this.refuse(e);
    }
    // RFC 5321 §4.5.3.1.4: 512 octets per command line; AUTH lines may be longer (RFC 4954 §4).
    if (line.bytes.length > (cmd?.maxLine ?? SMTP_MAX_COMMAND_LINE)) return this.tooLong();
    if (!cmd) return this.refuse(new SmtpError(Replies.unknownCommand()));
    if (!cmd.states.includes(this.state.kind)) {
      return this.refuse(new SmtpError(Replies.badSequence(sequenceText(cmd.name, this.state.kind))));
    }
    try {
      await cmd.run(this, args, line);
    } catch (e) {
      if (e instanceof InputError) throw e;
      if (e instanceof SmtpError) return this.refuse(e);
      if (this.conn.closed) return this.end(null); // the client went away mid-command
      this.conn.log.error({ event: "session.error", err: e instanceof Error ? e.message : String(e), command: cmd.name });
      this.setState(withoutTransaction(this.state));
      await this.send(Replies.internal());
    }
  }

  private async tooLong(): Promise<void> {
    audit(this.conn.log, "input.too_long", { protocol: "smtp" }, "warn");
    await this.end(Replies.lineTooLong());
  }

  /** Sends a refusal and counts it toward smtp.max_bad_commands. */
  async refuse(e: unknown): Promise<void> {
    if (!(e instanceof SmtpError)) throw e;
    if (e.close) return this.end(e.reply);
    if (e.bad && ++this.badCommands >= this.config.smtp.max_bad_commands) {
      this.audit("smtp.protocol.abuse", { reason: "too-many-errors", count: this.badCommands }, "warn");
      await this.send(e.reply);
      return this.end(Replies.tooManyErrors(this.hostname));
    }
    await this.send(e.reply);
  }

  private async onInputError(e: unknown): Promise<void> {
    if (this.conn.closed) return;
    if (!(e instanceof InputError)) {
      this.conn.log.error({ event: "session.error", err: e instanceof Error ? e.message : String(e) });
      return this.end(Replies.internal());
    }
    switch (e.kind) {
      case "timeout":
        return this.end(Replies.timeout(this.hostname)); // RFC 5321 §4.5.3.2
      case "too-long":
        return this.tooLong();
      default:
        if (this.conn.shuttingDown) return this.end(Replies.shuttingDown(this.hostname));
        return this.end(null);
    }
  }
}

