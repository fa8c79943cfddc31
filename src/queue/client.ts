// The outbound SMTP client: our own, over node:net/node:tls (outbound connections do not pass the
// gate). One SmtpClient is one connection to one next hop; the runner sends several messages over
// it (RSET between them).
//
// Invariants:
// - Everything read is bounded: reply lines and multi-line replies by reply.ts, and every wait for
//   a reply by a timeout (RFC 5321 §4.5.3.2), so a hostile or stuck server costs us a bounded
//   amount of memory and time.
// - After STARTTLS nothing read before the handshake is used (RFC 3207 §4.2: the plain-text buffer
//   is discarded) and EHLO is sent again; a failed handshake is an error, never a silent fallback to
//   plain text on the same connection.
// - Errors carry the reply that caused them and whether they are temporary (4xx, network) or
//   permanent (5xx, or a local refusal such as SIZE or SMTPUTF8 not offered).

import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { Readable } from "node:stream";
import { LineSplitter, ReplyParser, parseEhlo, replyText, isPositive, type Reply } from "./reply.js";
import { dotStuff, initialStuffState, terminator } from "./dotstuff.js";

/** RFC 5321 §4.5.3.2 timeouts, in milliseconds. */
export interface Timeouts {
  connect: number;
  greeting: number; // §4.5.3.2.1: 5 minutes
  command: number; // MAIL, RCPT, EHLO, ... §4.5.3.2.2-3: 5 minutes
  dataInit: number; // §4.5.3.2.4: 2 minutes
  dataBlock: number; // §4.5.3.2.5: 3 minutes without progress while sending
  dataEnd: number; // §4.5.3.2.6: 10 minutes
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  connect: 30_000,
  greeting: 300_000,
  command: 300_000,
  dataInit: 120_000,
  dataBlock: 180_000,
  dataEnd: 600_000,
};

/** A failure talking to a next hop. `reply` is the server's, or one we made up for a local refusal. */
export class SmtpClientError extends Error {
  constructor(
    message: string,
    readonly temporary: boolean,
    readonly reply: Reply | null = null,
  ) {
    super(message);
    this.name = "SmtpClientError";
  }
}

export interface ConnectOptions {
  /** Address (or name) to connect to. */
  host: string;
  port: number;
  /** The next hop's name: SNI and, when verifying, the name the certificate must carry. */
  servername?: string;
  /** TLS from the first byte (smtps:// smarthost, RFC 8314). Verified. */
  implicitTls?: boolean;
  /** Extra trusted CA certificates (PEM) for verified TLS. */
  ca?: string | string[];
  timeouts?: Partial<Timeouts>;
}

export interface TlsInfo {
  version: string;
  cipher: string;
  /** The certificate chain was valid for the servername. */
  authorized: boolean;
}

export interface Envelope {
  from: string; // "" for the null sender
  to: string[];
  size: number;
  /** The message has 8-bit content (BODY=8BITMIME, RFC 6152). */
  eightBit: boolean;
  /** The envelope or headers need SMTPUTF8 (RFC 6531). */
  smtputf8: boolean;
}

export interface TransactionResult {
  /** One reply per recipient of the envelope, in order: its RCPT reply if refused, else the final reply. */
  recipients: Array<{ address: string; reply: Reply; delivered: boolean }>;
  /** The reply to the end of data, if the data was sent. */
  final: Reply | null;
}

/** Reply lines read ahead of the commands waiting for them: at most ~2000 x 2 KB per connection. */
const MAX_QUEUED_LINES = 2000;

const made = (code: number, enhanced: string, text: string): Reply => ({ code, enhanced, lines: [`${enhanced} ${text}`] });

const ip6 = (h: string): string => (h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h);
const isIp = (h: string): boolean => /^[\d.]+$/.test(h) || h.includes(":");

export class SmtpClient {
  private sock: Socket | TLSSocket;
  private readonly splitter = new LineSplitter();
  private readonly parser = new ReplyParser();
  private readonly replies: Reply[] = [];
  private waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private queuedLines = 0;
  /** Set while STARTTLS is in flight: after its reply, nothing more is read in plain text. */
  private stopAfterReply = false;
  private paused = false;
  private readonly t: Timeouts;
  greeting: Reply | null = null;
  extensions = new Map<string, string>();
  tls: TlsInfo | null = null;
  /** Whether EHLO worked (false: HELO fallback, no extensions). */
  esmtp = false;

  private constructor(
    sock: Socket | TLSSocket,
    private readonly o: ConnectOptions,
  ) {
    this.sock = sock;
    this.t = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    this.attach(sock);
  }

  get remoteAddress(): string {
    return this.sock.remoteAddress ?? this.o.host;
  }

  /** Connects and reads the greeting (RFC 5321 §3.1). A non-220 greeting is an error. */
  static async connect(o: ConnectOptions): Promise<SmtpClient> {
    const t = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    const host = ip6(o.host);
    const servername = o.servername ?? host;
    const sock = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s = o.implicitTls
        ? tlsConnect({ host, port: o.port, servername: isIp(servername) ? undefined : servername, ca: o.ca, rejectUnauthorized: true, minVersion: "TLSv1.2" })
        : netConnect({ host, port: o.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpClientError(`connect to ${o.host}:${o.port}: timed out`, true));
      }, t.connect);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        reject(new SmtpClientError(`connect to ${o.host}:${o.port}: ${e.message}`, true));
      };
      s.once("error", fail);
      s.once(o.implicitTls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        s.off("error", fail);
        resolve(s);
      });
    });
    const c = new SmtpClient(sock, o);
    if (o.implicitTls) c.tls = tlsInfo(sock as TLSSocket);
    try {
      const g = await c.read(t.greeting);
      c.greeting = g;
      // RFC 5321 §3.1: 554 (or any non-220) means "no service here"; try another host.
      if (g.code !== 220) throw new SmtpClientError(`greeting: ${replyText(g)}`, true, g);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private attach(s: Socket | TLSSocket): void {
    s.on("data", (chunk: Buffer) => this.onData(chunk));
    s.on("error", (e: Error) => this.fail(new SmtpClientError(`connection error: ${e.message}`, true)));
    s.on("close", () => this.fail(new SmtpClientError("connection closed by the server", true)));
  }

  private onData(chunk: Buffer): void {
    if (this.failure || this.paused) return;
    try {
      for (const line of this.splitter.push(chunk)) {
        const r = this.parser.push(line);
        if (!r) continue;
        if (this.stopAfterReply) {
          // RFC 3207 §4.2: whatever follows the STARTTLS reply in plain text is discarded.
          this.paused = true;
          this.splitter.clear();
        }
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = null;
          w.resolve(r);
          if (this.paused) return;
        } else {
          this.replies.push(r);
          this.queuedLines += r.lines.length;
          if (this.paused) return;
          // Replies read ahead (pipelining, or a server talking out of turn) are bounded too.
          if (this.queuedLines > MAX_QUEUED_LINES) throw new SmtpClientError("too many replies read ahead", true);
        }
      }
    } catch (e) {
      this.fail(e instanceof SmtpClientError ? e : new SmtpClientError(`protocol error: ${(e as Error).message}`, true));
      this.sock.destroy();
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(e);
    }
  }

  /** The next reply, within `timeoutMs`. */
  private read(timeoutMs: number): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued) {
      this.queuedLines -= queued.lines.length;
      return Promise.resolve(queued);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        const e = new SmtpClientError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for a reply`, true);
        this.fail(e);
        this.sock.destroy();
        reject(e);
      }, timeoutMs);
      this.waiter = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  private async write(data: string | Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.sock.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        const e = new SmtpClientError("timed out sending data", true);
        this.fail(e);
        this.sock.destroy();
        reject(e);
      }, this.t.dataBlock);
      const onDrain = (): void => (cleanup(), resolve());
      const onClose = (): void => (cleanup(), reject(this.failure ?? new SmtpClientError("connection closed", true)));
      const cleanup = (): void => {
        clearTimeout(timer);
        this.sock.off("drain", onDrain);
        this.sock.off("close", onClose);
      };
      this.sock.once("drain", onDrain);
      this.sock.once("close", onClose);
    });
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, timeoutMs = this.t.command): Promise<Reply> {
    await this.write(`${line}\r\n`);
    return this.read(timeoutMs);
  }

  /** EHLO, falling back to HELO when EHLO is refused (RFC 5321 §3.2). */
  async hello(name: string): Promise<void> {
    const r = await this.command(`EHLO ${name}`);
    if (r.code === 250) {
      this.esmtp = true;
      this.extensions = parseEhlo(r);
      return;
    }
    if (r.code >= 500 && r.code < 600) {
      const h = await this.command(`HELO ${name}`);
      if (h.code === 250) {
        this.esmtp = false;
        this.extensions = new Map();
        return;
      }
      throw new SmtpClientError(`HELO: ${replyText(h)}`, h.code < 500, h);
    }
    throw new SmtpClientError(`EHLO: ${replyText(r)}`, r.code < 500, r);
  }

  has(ext: string): boolean {
    return this.extensions.has(ext.toUpperCase());
  }

  /** STARTTLS (RFC 3207) then EHLO again. `verify`: refuse a certificate not valid for `servername`. */
  async startTls(o: { verify: boolean; servername: string; localName: string }): Promise<void> {
    this.stopAfterReply = true;
    const r = await this.command("STARTTLS");
    this.stopAfterReply = false;
    if (r.code !== 220) {
      this.paused = false;
      throw new SmtpClientError(`STARTTLS: ${replyText(r)}`, r.code < 500, r);
    }
    const plain = this.sock;
    if (this.failure || plain.destroyed) throw new SmtpClientError("TLS handshake failed: connection closed after STARTTLS", true);
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    plain.removeAllListeners("error");
    plain.on("error", () => undefined);
    this.splitter.clear(); // RFC 3207 §4.2: nothing read before TLS may be used after it
    this.replies.length = 0;
    this.queuedLines = 0;
    const name = ip6(o.servername);
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({
        socket: plain,
        servername: isIp(name) ? undefined : name,
        rejectUnauthorized: o.verify,
        ca: this.o.ca,
        minVersion: "TLSv1.2",
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpClientError("TLS handshake timed out", true));
      }, this.t.command);
      s.once("error", (e) => {
        clearTimeout(timer);
        reject(new SmtpClientError(`TLS handshake failed: ${e.message}`, true));
      });
      s.once("secureConnect", () => {
        clearTimeout(timer);
        s.removeAllListeners("error");
        resolve(s);
      });
    }).catch((e: Error) => {
      this.fail(e);
      plain.destroy();
      throw e;
    });
    this.sock = secure;
    this.paused = false;
    this.attach(secure);
    this.tls = tlsInfo(secure);
    await this.hello(o.localName); // RFC 3207 §4.2: forget what we knew, ask again
  }

  /** AUTH PLAIN (RFC 4616) with the initial response; only over TLS. */
  async authPlain(user: string, password: string): Promise<void> {
    if (!this.tls) throw new SmtpClientError("refusing to send a password without TLS", true);
    const token = Buffer.from(`\0${user}\0${password}`, "utf8").toString("base64");
    const r = await this.command(`AUTH PLAIN ${token}`);
    if (r.code !== 235) throw new SmtpClientError(`AUTH: ${replyText(r)}`, r.code < 500, r);
  }

  /** One mail transaction: MAIL, RCPTs (pipelined when offered, RFC 2920), DATA. */
  async send(env: Envelope, body: () => Promise<Readable>): Promise<TransactionResult> {
    const params: string[] = [];
    const size = this.extensions.get("SIZE");
    if (size !== undefined) {
      const limit = Number(size);
      // RFC 1870 §6.1: a message larger than the server's fixed limit will never be accepted there.
      if (Number.isFinite(limit) && limit > 0 && env.size > limit) {
        const r = made(552, "5.3.4", `message size ${env.size} exceeds the fixed limit ${limit} of the destination`);
        return { recipients: env.to.map((address) => ({ address, reply: r, delivered: false })), final: null };
      }
      params.push(`SIZE=${env.size}`); // RFC 1870 §6
    }
    if (env.eightBit) {
      // RFC 6152 §3: 8-bit data only to a server that offers 8BITMIME.
      if (!this.has("8BITMIME")) {
        const r = made(554, "5.6.3", "the destination does not accept 8-bit data (no 8BITMIME)");
        return { recipients: env.to.map((address) => ({ address, reply: r, delivered: false })), final: null };
      }
      params.push("BODY=8BITMIME");
    }
    if (env.smtputf8) {
      // RFC 6531 §3.2: without SMTPUTF8 at the destination, the message cannot be sent as is.
      if (!this.has("SMTPUTF8")) {
        const r = made(553, "5.6.7", "the destination does not support SMTPUTF8");
        return { recipients: env.to.map((address) => ({ address, reply: r, delivered: false })), final: null };
      }
      params.push("SMTPUTF8");
    }
    const mail = `MAIL FROM:<${env.from}>${params.map((p) => " " + p).join("")}`;
    const rcpts = env.to.map((a) => `RCPT TO:<${a}>`);
    let mailReply: Reply;
    const rcptReplies: Reply[] = [];
    if (this.has("PIPELINING")) {
      // RFC 2920 §3.1: MAIL and RCPTs in one group; replies come back in order.
      await this.write([mail, ...rcpts].map((l) => l + "\r\n").join(""));
      mailReply = await this.read(this.t.command);
      for (let i = 0; i < rcpts.length; i++) rcptReplies.push(await this.read(this.t.command));
    } else {
      mailReply = await this.command(mail);
      if (isPositive(mailReply)) for (const r of rcpts) rcptReplies.push(await this.command(r));
    }
    if (!isPositive(mailReply)) {
      return { recipients: env.to.map((address) => ({ address, reply: mailReply, delivered: false })), final: null };
    }
    const accepted = rcptReplies.map((r) => r.code === 250 || r.code === 251);
    if (!accepted.some(Boolean)) {
      return { recipients: env.to.map((address, i) => ({ address, reply: rcptReplies[i]!, delivered: false })), final: null };
    }
    const dataReply = await this.command("DATA", this.t.dataInit);
    if (dataReply.code !== 354) {
      return {
        recipients: env.to.map((address, i) => ({ address, reply: accepted[i] ? dataReply : rcptReplies[i]!, delivered: false })),
        final: null,
      };
    }
    const st = initialStuffState();
    const stream = await body();
    try {
      for await (const chunk of stream) await this.write(dotStuff(chunk as Buffer, st));
    } catch (e) {
      // We cannot end DATA cleanly without sending a truncated message: drop the connection.
      this.close();
      throw e instanceof SmtpClientError ? e : new SmtpClientError(`reading the queued message: ${(e as Error).message}`, true);
    }
    await this.write(terminator(st));
    const final = await this.read(this.t.dataEnd);
    const ok = final.code === 250;
    return {
      recipients: env.to.map((address, i) => ({ address, reply: accepted[i] ? final : rcptReplies[i]!, delivered: accepted[i]! && ok })),
      final,
    };
  }

  async reset(): Promise<void> {
    const r = await this.command("RSET");
    if (r.code !== 250) throw new SmtpClientError(`RSET: ${replyText(r)}`, true, r);
  }

  /** QUIT politely (bounded wait), then close. */
  async quit(): Promise<void> {
    try {
      if (!this.failure) await this.command("QUIT", 5_000);
    } catch {
      // the server may just close
    }
    this.close();
  }

  close(): void {
    this.fail(new SmtpClientError("connection closed", true));
    this.sock.destroy();
  }
}

function tlsInfo(s: TLSSocket): TlsInfo {
  return { version: s.getProtocol() ?? "unknown", cipher: s.getCipher()?.name ?? "unknown", authorized: s.authorized };
}
