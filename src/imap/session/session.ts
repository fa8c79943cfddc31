// One IMAP session (RFC 9051, RFC 3501) over a Connection handed to us by the gate.
//
// The session pulls input only through the connection's reader: command lines (capped at
// IMAP_MAX_COMMAND_LINE) and the literals the resumable parser asks for. Each complete command
// goes through ONE dispatcher (dispatch) that checks the command is allowed in the current state,
// runs its handler (src/imap/handlers), announces queued mailbox updates where RFC 9051 §7.5.1
// allows, and writes the tagged completion. Every write is awaited (backpressure).
//
// Invariants:
// - Password authentication is refused unless conn.passwordAuthAllowed (threat model §1).
// - Client input never crashes the session: parse errors become BAD with a useful text; a
//   handler bug becomes "NO [SERVERBUG]" and is logged as session.error.
// - Nothing is uploaded before login (APPEND literals are refused unread), and a streamed APPEND
//   file is removed after its command whatever happened.
// - Mailbox names are UTF-8 inside; on the wire they are modified UTF-7 unless the client
//   enabled IMAP4rev2 or UTF8=ACCEPT (RFC 9051 §5.1, RFC 6855 §3).
// - A selected mailbox's store subscription is released on every exit path.

import { createWriteStream } from "node:fs";
import { mkdir, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Connection } from "../../net/types.js";
import { InputError } from "../../net/types.js";
import { IMAP_MAX_COMMAND_LINE } from "../../net/limits.js";
import type { Services } from "../../services.js";
import type { Account, Mailbox } from "../../store/types.js";
import type { AuthContext } from "../../auth/types.js";
import { audit } from "../../log/audit.js";
import { CommandParser, type ParsedCommand, type ParseResult } from "../parser.js";
import { mailboxFromWire, mailboxToWire } from "../encode.js";
import { ImapError, no } from "./errors.js";
import type { ParsedCache } from "./cache.js";
import type { MailboxViews } from "../../store/views.js";
import type { HeaderCache } from "./headers.js";
import type { SelectedMailbox } from "./selected.js";
import { HANDLERS, type SessionState } from "../handlers/index.js";

/** APPEND messages above this size are streamed to a file under <dataDir>/tmp/imap instead of
 * being held by the parser; the store takes the file over (rename) when it can. */
export const APPEND_FILE_THRESHOLD = 1024 * 1024;

/** Consecutive malformed or refused commands tolerated before "* BYE" (threat model §4). */
export const MAX_BAD_COMMANDS = 20;

export interface SharedState {
  cache: ParsedCache;
  /** Mailbox listings kept current from store events (SELECT, SEARCH, flag-only FETCH). */
  views: MailboxViews;
  /** Searchable header fields per message (SEARCH header and SENT* keys). */
  headers: HeaderCache;
}

export class ImapSession {
  state: SessionState = "notauth";
  account: Account | null = null;
  selected: SelectedMailbox | null = null;
  /** RFC 5161 ENABLE / RFC 7162 CONDSTORE enabling commands. */
  condstore = false;
  qresync = false;
  utf8 = false; // UTF8=ACCEPT or IMAP4rev2 enabled: mailbox names in UTF-8
  rev2 = false;
  /** UIDs saved by SEARCH RETURN (SAVE), "$" (RFC 5182). */
  savedUids: number[] = [];
  ending = false;
  private bad = 0;
  private readonly parser: CommandParser;
  /** Files an APPEND literal was streamed to, removed after the command (if the store did not
   * take them over). */
  private tempFiles: string[] = [];
  /** Serialises writes from the command loop and IDLE pushes. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly conn: Connection,
    readonly services: Services,
    readonly shared: SharedState,
  ) {
    this.parser = new CommandParser({ maxMessageSize: services.config.limits.max_message_size, literalPlus: true });
  }

  // -------------------------------------------------------------------------------------------
  // Output

  write(data: string | Buffer): Promise<void> {
    const p = this.writing.then(() => this.conn.write(data));
    this.writing = p.catch(() => undefined);
    return p;
  }

  untagged(text: string): Promise<void> {
    return this.write(`* ${text}\r\n`);
  }

  // -------------------------------------------------------------------------------------------
  // Capabilities

  capabilities(): string[] {
    const caps = ["IMAP4rev1", "IMAP4rev2"];
    const conn = this.conn;
    if (this.state === "notauth") {
      if (!conn.secure && conn.listener.tls === "starttls") caps.push("STARTTLS");
      if (!conn.passwordAuthAllowed) caps.push("LOGINDISABLED"); // RFC 9051 §6.2.3
      else {
        for (const m of this.services.auth.mechanisms(this.authContext())) caps.push(`AUTH=${m}`);
        caps.push("SASL-IR"); // RFC 4959
      }
    }
    caps.push(
      "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "SPECIAL-USE",
      "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "LITERAL+", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC",
      "QUOTA", "QUOTA=RES-STORAGE", "STATUS=SIZE", "BINARY", "UTF8=ACCEPT",
      `APPENDLIMIT=${this.services.config.limits.max_message_size}`,
    );
    return caps;
  }

  authContext(): AuthContext {
    const conn = this.conn;
    return {
      remoteAddress: conn.remoteAddress,
      protocol: "imap",
      secure: conn.secure,
      passwordAuthAllowed: conn.passwordAuthAllowed,
      channelBinding: conn.channelBinding ?? null, // RFC 9266 tls-exporter
      connectionId: conn.id,
      signal: conn.signal,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Names and mailboxes

  /** A mailbox name from the wire, in UTF-8 (RFC 9051 §5.1; RFC 3501 §5.1.3 for rev1). */
  nameIn(raw: string): string {
    let n = mailboxFromWire(raw, this.utf8);
    while (n.endsWith("/") && n.length > 1) n = n.slice(0, -1); // RFC 9051 §6.3.4 trailing separator
    return n;
  }

  /** A mailbox name for the wire (astring). */
  nameOut(name: string): string {
    return mailboxToWire(name, this.utf8);
  }

  get accountId(): number {
    if (!this.account) throw new Error("not authenticated");
    return this.account.id;
  }

  /** The mailbox, or NO [NONEXISTENT] (RFC 5530). */
  async mailbox(name: string): Promise<Mailbox> {
    const mb = await this.services.store.getMailbox(this.accountId, name);
    if (!mb) throw no("Mailbox does not exist", "NONEXISTENT");
    return mb;
  }

  // -------------------------------------------------------------------------------------------
  // State changes

  /** After a successful LOGIN/AUTHENTICATE. */
  async login(account: Account): Promise<void> {
    if (!this.conn.claimAccount(account.id)) {
      throw no("Too many sessions for this account", "LIMIT"); // RFC 5530 LIMIT
    }
    this.account = account;
    this.state = "auth";
    this.conn.setPhase("authenticated", this.services.config.imap.idle_timeout); // RFC 9051 §5.4
  }

  unselect(): void {
    this.savedUids = []; // RFC 5182 §2.1: "$" is reset when the selected mailbox changes
    this.selected?.close();
    this.selected = null;
    if (this.state === "selected") this.state = "auth";
  }

  /** Sends the updates queued for the selected mailbox (RFC 9051 §7.5.1 decides allowExpunge). */
  async flushUpdates(allowExpunge: boolean): Promise<void> {
    const sel = this.selected;
    if (!sel || !sel.hasPending) return;
    if (sel.overflow) {
      await this.untagged("BYE Too many changes to the mailbox; please reconnect");
      this.ending = true;
      return;
    }
    const lines = sel.flush({ allowExpunge, qresync: this.qresync, condstore: this.condstore });
    if (lines.length > 0) await this.write(lines.join(""));
    if (sel.deleted) {
      await this.untagged("BYE The selected mailbox was deleted");
      this.ending = true;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The command loop

  async run(): Promise<void> {
    const conn = this.conn;
    try {
      if (conn.shuttingDown) {
        await this.untagged("BYE Server shutting down");
        return;
      }
      await this.untagged(`OK [CAPABILITY ${this.capabilities().join(" ")}] Portcullis ready`);
      while (!this.ending) {
        const cmd = await this.readCommand();
        if (cmd === null) return;
        if (cmd === "skip") {
          await this.removeTempFiles();
          continue;
        }
        try {
          await this.dispatch(cmd);
        } finally {
          await this.removeTempFiles();
        }
        if (!this.ending && conn.shuttingDown) {
          await this.untagged("BYE Server shutting down");
          return;
        }
      }
    } catch (err) {
      await this.onError(err);
    } finally {
      this.unselect();
      await this.removeTempFiles();
      if (!conn.closed) await conn.close().catch(() => undefined);
    }
  }

  private async onError(err: unknown): Promise<void> {
    const conn = this.conn;
    if (err instanceof InputError) {
      if (err.kind === "too-long") await this.tryWrite("* BYE Command line too long\r\n");
      else if (err.kind === "timeout") await this.tryWrite("* BYE Autologout; idle for too long\r\n"); // RFC 9051 §5.4
      else if (conn.shuttingDown) await this.tryWrite("* BYE Server shutting down\r\n");
      return;
    }
    if (conn.closed) return;
    audit(conn.log, "session.error", { protocol: "imap", error: err instanceof Error ? err.message : String(err) }, "error");
    await this.tryWrite("* BYE Internal server error\r\n");
  }

  private async tryWrite(s: string): Promise<void> {
    if (this.conn.closed) return;
    await this.write(s).catch(() => undefined);
  }

  /** Reads one complete command (lines and literals). null at EOF, "skip" after a parse error
   * was answered. */
  private async readCommand(): Promise<ParsedCommand | null | "skip"> {
    const first = await this.conn.readLine(IMAP_MAX_COMMAND_LINE);
    if (first === null) return null;
    let r: ParseResult = this.parser.feedLine(first.bytes);
    const tag = () => /^([^\s+(){%*"\\\]]+) /.exec(first.bytes.toString("latin1"))?.[1] ?? "*";
    while (r.kind === "need-literal") {
      if (r.message && this.state === "notauth") {
        // Threat model §4: nobody uploads a message before logging in. A non-synchronising
        // literal is on its way anyway and cannot be skipped: answer and close.
        this.parser.reset();
        await this.write(`${tag()} BAD APPEND not allowed in this state: Log in first\r\n`);
        if (r.nonSync) {
          await this.untagged("BYE Cannot skip an unrequested literal");
          this.ending = true;
        } else await this.countBad();
        return "skip";
      }
      if (r.message && !r.nonSync && (await this.overQuota(r.size))) {
        // RFC 9208 §4.3: refuse before the client uploads a message that cannot be stored.
        this.parser.reset();
        await this.write(`${tag()} NO [OVERQUOTA] Mailbox quota exceeded\r\n`);
        return "skip";
      }
      if (!r.nonSync) await this.write("+ Ready for literal data\r\n"); // RFC 9051 §7.5
      if (r.message && r.size > APPEND_FILE_THRESHOLD) this.parser.feedLiteral(await this.streamToFile(r.size));
      else this.parser.feedLiteral(await this.conn.readBytes(r.size));
      const next = await this.conn.readLine(IMAP_MAX_COMMAND_LINE);
      if (next === null) return null;
      r = this.parser.feedLine(next.bytes);
    }
    if (r.kind === "error") {
      const code = r.code ? `[${r.code}] ` : "";
      await this.write(`${r.tag ?? "*"} ${r.status} ${code}${r.message}\r\n`);
      if (r.close) {
        await this.untagged("BYE Cannot continue after an oversized literal");
        this.ending = true;
      } else await this.countBad();
      return "skip";
    }
    return r;
  }

  /** Whether `size` more octets would exceed the logged-in account's quota. */
  private async overQuota(size: number): Promise<boolean> {
    if (!this.account) return false;
    const account = await this.services.store.getAccountById(this.account.id);
    if (account?.quotaBytes == null) return false;
    return (await this.services.store.quotaUsage(account.id)) + size > account.quotaBytes;
  }

  /** Streams an APPEND literal to a private temp file, never holding it whole. */
  private async streamToFile(size: number): Promise<{ path: string; size: number }> {
    const dir = join(this.services.dataDir, "tmp", "imap");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${Date.now().toString(36)}-${randomBytes(9).toString("base64url")}.eml`);
    this.tempFiles.push(path);
    const out = createWriteStream(path, { mode: 0o600, flags: "wx" });
    const done = new Promise<void>((resolve, reject) => {
      out.once("finish", resolve);
      out.once("error", reject);
    });
    try {
      await this.conn.readStream(size, async (chunk) => {
        if (!out.write(chunk)) await Promise.race([new Promise<void>((r) => out.once("drain", r)), done]);
      });
    } finally {
      out.end();
    }
    await done;
    return { path, size };
  }

  private async removeTempFiles(): Promise<void> {
    for (const f of this.tempFiles.splice(0)) await unlink(f).catch(() => undefined);
  }

  private async countBad(): Promise<void> {
    if (++this.bad > MAX_BAD_COMMANDS) {
      await this.untagged("BYE Too many invalid commands");
      this.ending = true;
    }
  }

  /** The one place where "is this command allowed now" is decided. */
  private async dispatch(cmd: ParsedCommand): Promise<void> {
    const h = HANDLERS[cmd.name];
    const label = cmd.uid ? `UID ${cmd.name}` : cmd.name;
    if (!h.states.includes(this.state)) {
      const why =
        this.state === "notauth" ? "Log in first" : h.states.includes("notauth") ? "Already authenticated" : this.state === "auth" ? "Select a mailbox first" : "Not allowed in the Selected state";
      await this.write(`${cmd.tag} BAD ${label} not allowed in this state: ${why}\r\n`);
      await this.countBad();
      return;
    }
    let status = "OK";
    let code: string | null = null;
    let text = `${label} completed`;
    let bye: string | null = null;
    try {
      const done = await h.run(this, cmd as never);
      if (done?.silent) return;
      if (done) {
        code = done.code ?? null;
        if (done.text) text = done.text;
      }
      this.bad = 0;
    } catch (err) {
      if (err instanceof ImapError) {
        status = err.status;
        code = err.code;
        text = err.text;
        bye = err.bye;
        if (err.status === "BAD") await this.countBad();
      } else if (err instanceof InputError) {
        throw err;
      } else {
        if (this.conn.closed) throw err;
        audit(this.conn.log, "session.error", { protocol: "imap", command: label, error: err instanceof Error ? err.message : String(err) }, "error");
        status = "NO";
        code = "SERVERBUG";
        text = `${label} failed: internal error`;
      }
    }
    if (!this.ending) {
      // RFC 9051 §7.5.1: no EXPUNGE while the client may rely on sequence numbers.
      const seqBound = !cmd.uid && (cmd.name === "FETCH" || cmd.name === "STORE" || cmd.name === "SEARCH");
      await this.flushUpdates(!seqBound);
    }
    if (bye) await this.untagged(`BYE ${bye}`);
    await this.write(`${cmd.tag} ${status} ${code ? `[${code}] ` : ""}${text}\r\n`);
    if (bye) this.ending = true;
  }
}
