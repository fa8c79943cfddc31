// One POP3 session (RFC 1939) over a Connection handed to us by the gate.
//
// The session reads one command line at a time through the connection's reader (capped at
// 255 octets including CRLF, RFC 2449 §4), parses it with the pure parser, checks in ONE place
// (dispatch) that the command exists, is allowed in the current state and has the right number
// of arguments, then runs its handler. Replies are awaited, so a client that stops reading slows
// only itself (backpressure).
//
// Invariants:
// - Nothing is deleted unless the client sends QUIT in TRANSACTION (RFC 1939 §6): EOF, a broken
//   connection, a timeout, an over-long line or a server shutdown end the session without UPDATE.
// - The maildrop lock taken when entering TRANSACTION is released on every exit path.
// - Password authentication (USER/PASS/AUTH) is refused unless conn.passwordAuthAllowed.

import type { Readable } from "node:stream";
import type { Connection, Line } from "../net/types.js";
import { InputError } from "../net/types.js";
import { POP3_MAX_COMMAND_LINE } from "../net/limits.js";
import type { Services } from "../services.js";
import type { Account, MessageSummary } from "../store/types.js";
import { StoreError } from "../store/types.js";
import type { AuthContext, AuthFailureReason } from "../auth/types.js";
import { audit } from "../log/audit.js";
import { looksLikeHttp, parseCommand } from "./parse.js";
import { Pop3Error, R } from "./errors.js";
import { DotStuffer, TopLimiter } from "./dotstuff.js";
import { enterTransaction, type State, type TransactionState } from "./state.js";
import { mailboxViews } from "../store/views.js";
import type { MaildropLocks } from "./lock.js";
import { COMMANDS } from "./commands/index.js";

/** Consecutive unknown, malformed or out-of-state commands tolerated before closing (threat
 * model §4: caps on bad commands). */
export const MAX_BAD_COMMANDS = 10;

/** Multi-line listings (LIST, UIDL) are written in pieces of about this size. */
const LISTING_CHUNK = 64 * 1024;

export class Session {
  state: State = { kind: "authorization", user: null };
  private ending = false;
  private badCommands = 0;
  /** True while a multi-line response is being streamed: a failure then cannot be answered
   * with -ERR (it would land inside the message); the connection is just closed. */
  private streaming = false;
  private readonly claimed = new Set<number>();

  constructor(
    readonly conn: Connection,
    readonly services: Services,
    private readonly locks: MaildropLocks,
  ) {}

  /** Runs the session to its end and closes the connection. */
  async run(): Promise<void> {
    const conn = this.conn;
    try {
      if (conn.shuttingDown) {
        await this.reply(R.shutdown);
        return;
      }
      // No timestamp in the greeting: APOP is not offered (RFC 1939 §7, it needs reversible passwords).
      await this.reply(R.greeting);
      while (!this.ending) {
        const line = await this.readLine(POP3_MAX_COMMAND_LINE);
        if (line === null) return; // EOF: no UPDATE (RFC 1939 §6)
        await this.dispatch(line);
        if (!this.ending && conn.shuttingDown) {
          await this.reply(R.shutdown);
          return;
        }
      }
    } catch (err) {
      await this.onError(err);
    } finally {
      this.releaseLock();
      if (!conn.closed) await conn.close().catch(() => undefined);
    }
  }

  private async onError(err: unknown): Promise<void> {
    const conn = this.conn;
    // The reader has already logged input.too_long / input.timeout.
    if (err instanceof InputError) {
      if (err.kind === "too-long") {
        // RFC 2449 §4: command lines are at most 255 octets; we answer and close.
        await this.tryReply(R.tooLong);
      } else if (err.kind === "timeout") {
        // RFC 1939 §3: the autologout timer ends the session without entering UPDATE.
        await this.tryReply(R.timeout);
      } else if (conn.shuttingDown) {
        // The gate rejects a pending read with "closed" when the server starts shutting down.
        await this.tryReply(R.shutdown);
      }
      return; // otherwise "eof" / "closed": the client is gone
    }
    if (conn.closed) return;
    audit(conn.log, "session.error", { protocol: "pop3", error: err instanceof Error ? err.message : String(err) }, "error");
    if (!this.streaming) await this.tryReply(R.internal);
  }

  /** Reads one line through the connection's reader (the one place input enters the session). */
  readLine(maxBytes: number): Promise<Line | null> {
    return this.conn.readLine(maxBytes);
  }

  /** The one place where "is this command allowed now" is decided. */
  private async dispatch(line: Line): Promise<void> {
    const parsed = parseCommand(line.bytes);
    if (!parsed.ok) return this.bad(parsed.response);
    const { command } = parsed;
    const def = COMMANDS.get(command.name);
    if (!def) {
      if (looksLikeHttp(command)) {
        await this.reply(R.http);
        this.ending = true;
        return;
      }
      return this.bad("-ERR unknown command");
    }
    if (!def.states.includes(this.state.kind)) {
      return this.bad(`-ERR ${def.name} not allowed in ${this.state.kind.toUpperCase()} state`);
    }
    if (command.args.length < def.args.min || command.args.length > def.args.max) {
      return this.bad(`-ERR syntax error: ${def.usage}`);
    }
    this.badCommands = 0;
    try {
      await def.run(this, this.state, command);
    } catch (err) {
      if (!(err instanceof Pop3Error)) throw err;
      await this.reply(err.response);
      if (err.close) this.ending = true;
    }
  }

  private async bad(response: string): Promise<void> {
    if (++this.badCommands > MAX_BAD_COMMANDS) {
      await this.reply(R.tooManyBad);
      this.ending = true;
      return;
    }
    await this.reply(response);
  }

  /** Ends the session after the current command. */
  end(): void {
    this.ending = true;
  }

  async reply(line: string): Promise<void> {
    await this.conn.write(line + "\r\n");
  }

  private async tryReply(line: string): Promise<void> {
    if (this.conn.closed) return;
    await this.reply(line).catch(() => undefined);
  }

  /** A multi-line response (RFC 1939 §3): the status line, the lines, and ".". The lines here are
   * generated by us (numbers, sizes, UIDLs) and never start with ".", so no stuffing is needed. */
  async replyLines(first: string, lines: Iterable<string>): Promise<void> {
    let buf = first + "\r\n";
    for (const l of lines) {
      buf += l + "\r\n";
      if (buf.length >= LISTING_CHUNK) {
        await this.conn.write(buf);
        buf = "";
      }
    }
    await this.conn.write(buf + ".\r\n");
  }

  /** RETR and TOP: opens the body, then streams it dot-stuffed after `first` (RFC 1939 §3),
   * never holding it whole. With `topLines`, only the header and that many body lines (§7).
   * The first chunk is read before "+OK" goes out, so a message expunged meanwhile by another
   * (IMAP) session gets a clean -ERR instead of a truncated response. */
  async sendMessage(meta: MessageSummary, first: string, topLines: number | null): Promise<void> {
    const gone = () => new Pop3Error("-ERR message was removed by another session");
    let body: Readable;
    try {
      body = await this.services.store.openBody(meta.id);
    } catch (err) {
      if (isGone(err)) throw gone();
      throw err;
    }
    try {
      const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
      let next: IteratorResult<Buffer | string>;
      try {
        next = await chunks.next();
      } catch (err) {
        if (isGone(err)) throw gone();
        throw err;
      }
      const stuffer = new DotStuffer();
      const limiter = topLines === null ? null : new TopLimiter(topLines);
      this.streaming = true;
      await this.conn.write(first + "\r\n");
      for (; !next.done; next = await chunks.next()) {
        let out = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
        if (limiter) out = limiter.push(out);
        if (out.length > 0) await this.conn.write(stuffer.push(out));
        if (limiter?.done) break; // TOP: stop reading the store as soon as we have enough
      }
      await this.conn.write(stuffer.end());
      this.streaming = false;
    } finally {
      body.destroy();
    }
  }

  authContext(): AuthContext {
    const { conn } = this;
    return {
      remoteAddress: conn.remoteAddress,
      protocol: "pop3",
      secure: conn.secure,
      passwordAuthAllowed: conn.passwordAuthAllowed,
      channelBinding: conn.channelBinding ?? null, // RFC 9266 tls-exporter, for SCRAM-SHA-256-PLUS
      connectionId: conn.id,
      signal: conn.signal,
    };
  }

  /** Turns an authentication failure into its reply (RFC 3206 §4 [AUTH], RFC 2449 §8.1 [SYS/TEMP]). */
  authFailure(reason: AuthFailureReason): Pop3Error {
    switch (reason) {
      case "invalid-credentials":
        return new Pop3Error(R.authFailed);
      case "banned":
        return new Pop3Error(R.authFailed, true); // the IP is now banned: close the connection
      case "throttled":
        return new Pop3Error(R.throttled);
      case "encryption-required":
        return new Pop3Error(R.needTls);
      case "aborted":
        return new Pop3Error("-ERR authentication cancelled");
      case "malformed":
        return new Pop3Error("-ERR [AUTH] malformed authentication exchange");
      case "unsupported":
        return new Pop3Error("-ERR unsupported SASL mechanism");
    }
  }

  /** After a successful authentication: lock the maildrop, snapshot INBOX, enter TRANSACTION
   * (RFC 1939 §4), and switch to the post-login timeout (RFC 1939 §3: at least 10 minutes). */
  async login(account: Account): Promise<void> {
    if (this.state.kind !== "authorization") throw new Error("login outside AUTHORIZATION");
    const release = this.locks.tryAcquire(account.id);
    // RFC 2449 §8.1.2: IN-USE when another session holds the maildrop; stay in AUTHORIZATION.
    if (!release) throw new Pop3Error(R.inUse);
    let tx: TransactionState;
    try {
      if (!this.claimed.has(account.id)) {
        if (!this.conn.claimAccount(account.id)) throw new Pop3Error(R.tooManySessions);
        this.claimed.add(account.id);
      }
      const { store } = this.services;
      const inbox = await store.getMailbox(account.id, "INBOX");
      if (!inbox) throw new Pop3Error("-ERR [SYS/PERM] the account has no INBOX");
      // The shared listing (store/views.ts): current as of now, re-read only when INBOX changed
      // in a way its events did not tell, and without the stored structures POP3 never reads.
      const { messages } = await mailboxViews(store).get(inbox.id);
      tx = enterTransaction({ account, inbox, messages, release });
    } catch (err) {
      release();
      throw err;
    }
    this.state = tx;
    this.conn.setPhase("authenticated", this.services.config.pop3.idle_timeout);
    await this.reply(`+OK maildrop has ${tx.liveCount} messages (${tx.liveSize} octets)`);
  }

  private releaseLock(): void {
    if (this.state.kind === "transaction" || this.state.kind === "update") this.state.release();
  }
}

/** The store no longer has the message (expunged by another session since the snapshot). */
function isGone(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === "not-found";
  return (err as NodeJS.ErrnoException | null)?.code === "ENOENT";
}
