// A small, neutral line client over node:net / node:tls, used by the benchmarks and by the
// reliability tests against Portcullis and its peers (Postfix, Dovecot) alike, so that neither
// side is measured with its own client. It sends exactly the bytes asked for and reads CRLF (or
// bare LF) terminated lines; it never interprets a protocol beyond the helpers at the bottom.
//
// Invariants: a read never waits forever (every read has a deadline); the input buffer is capped
// (a server that streams without line ends cannot exhaust the client); once the socket ends every
// pending and later read resolves to null instead of throwing.

import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { performance } from "node:perf_hooks";

export interface WireOptions {
  host?: string;
  port: number;
  /** Implicit TLS from the first byte. `ca` unset means "do not verify" (benchmark peers). */
  tls?: { ca?: string; servername?: string } | boolean;
  /** Source address (e.g. 127.0.0.2 to look like another client). */
  localAddress?: string;
  /** Deadline for the TCP (and TLS) connection. */
  connectTimeoutMs?: number;
}

const MAX_BUFFER = 4 * 1024 * 1024;

export class Wire {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  ended = false;
  /** Total bytes received. */
  received = 0;

  private constructor(public sock: Socket | TLSSocket) {
    this.attach(sock);
  }

  static connect(o: WireOptions): Promise<Wire> {
    const host = o.host ?? "127.0.0.1";
    return new Promise((resolve, reject) => {
      let sock: Socket | TLSSocket;
      if (o.tls) {
        const t = typeof o.tls === "object" ? o.tls : {};
        // TLS over a TCP socket of our own, so that the source address can be chosen.
        sock = tlsConnect({
          socket: netConnect({ host, port: o.port, localAddress: o.localAddress }),
          ca: t.ca,
          rejectUnauthorized: t.ca !== undefined,
          servername: t.servername ?? "localhost",
        });
      } else {
        sock = netConnect({ host, port: o.port, localAddress: o.localAddress });
      }
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${host}:${o.port} timed out`));
      }, o.connectTimeoutMs ?? 15_000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      sock.once("error", fail);
      sock.once(o.tls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        sock.off("error", fail);
        resolve(new Wire(sock));
      });
    });
  }

  private attach(sock: Socket | TLSSocket): void {
    sock.on("data", (d: Buffer) => {
      this.received += d.length;
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      if (this.buf.length > MAX_BUFFER) this.buf = this.buf.subarray(this.buf.length - MAX_BUFFER);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    sock.on("end", end);
    sock.on("close", end);
    sock.on("error", end);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private wait(deadline: number): Promise<boolean> {
    const left = deadline - performance.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve(false);
      }, left);
      this.waiter = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }

  write(data: string | Buffer): void {
    if (!this.sock.destroyed) this.sock.write(data);
  }

  /** Writes and waits until the kernel has taken the bytes (for slow-drip writers). */
  writeAsync(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve();
      this.sock.write(data, () => resolve());
    });
  }

  /** The next line without its line end; null when the connection ended or the deadline passed. */
  async readLine(timeoutMs = 15_000): Promise<string | null> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf(10);
      if (i >= 0) {
        const line = this.buf.subarray(0, i > 0 && this.buf[i - 1] === 13 ? i - 1 : i).toString("latin1");
        this.buf = this.buf.subarray(i + 1);
        return line;
      }
      if (this.ended) return null;
      if (!(await this.wait(deadline))) return null;
    }
  }

  /** Reads lines until `done(line)` is true; returns them all (the last is the one that matched),
   * or null on close/deadline. */
  async readUntil(done: (line: string) => boolean, timeoutMs = 15_000): Promise<string[] | null> {
    const deadline = performance.now() + timeoutMs;
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine(deadline - performance.now());
      if (line === null) return null;
      lines.push(line);
      if (done(line)) return lines;
    }
  }

  /** Resolves true once the server has closed the connection (within the deadline). Input read
   * meanwhile is discarded. */
  async waitClosed(timeoutMs = 15_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.ended) {
      this.buf = Buffer.alloc(0);
      if (!(await this.wait(deadline))) return this.ended;
    }
    return true;
  }

  /** Everything buffered so far as text (for assertions on what a hostile client got back). */
  drain(): string {
    const s = this.buf.toString("latin1");
    this.buf = Buffer.alloc(0);
    return s;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Percentile (0..100) of a list of numbers, nearest-rank; NaN for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

// ---- Protocol helpers (just enough for benchmarks and tests) ----

/** Reads one whole SMTP reply (multi-line included); returns its code (0 on close/timeout). */
export async function smtpReply(w: Wire, timeoutMs = 30_000): Promise<{ code: number; text: string }> {
  const lines = await w.readUntil((l) => /^\d{3}(?!-)/.test(l), timeoutMs);
  if (!lines) return { code: 0, text: "" };
  return { code: Number(lines[lines.length - 1]!.slice(0, 3)), text: lines.join("\n") };
}

/** One SMTP transaction on an open session (after EHLO); resolves the final reply to DATA. */
export async function smtpSend(w: Wire, from: string, to: string, body: string): Promise<{ code: number; text: string }> {
  // RFC 5321 §4.1.1.4: the body is dot-stuffed; our bodies never start a line with ".".
  w.write(`MAIL FROM:<${from}>\r\n`);
  let r = await smtpReply(w);
  if (r.code !== 250) return r;
  w.write(`RCPT TO:<${to}>\r\n`);
  r = await smtpReply(w);
  if (r.code !== 250) return r;
  w.write("DATA\r\n");
  r = await smtpReply(w);
  if (r.code !== 354) return r;
  w.write(body.endsWith("\r\n") ? `${body}.\r\n` : `${body}\r\n.\r\n`);
  return smtpReply(w, 60_000);
}

/** A message of about `size` bytes with a unique Message-ID and Subject. */
export function makeMessage(o: { from: string; to: string; id: string; size?: number }): string {
  const head = [`From: <${o.from}>`, `To: <${o.to}>`, `Subject: bench ${o.id}`, `Message-ID: <${o.id}@bench.example.test>`, `Date: ${new Date().toUTCString()}`, "", ""].join("\r\n");
  const target = o.size ?? 1024;
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  let body = "";
  while (head.length + body.length < target) body += line;
  return head + body;
}

/** Reads a POP3 single-line response. */
export async function pop3Line(w: Wire, timeoutMs = 30_000): Promise<string> {
  return (await w.readLine(timeoutMs)) ?? "";
}

/** POP3 USER/PASS login on a connection whose greeting was read; true on +OK. */
export async function pop3Login(w: Wire, user: string, pass: string, timeoutMs = 30_000): Promise<boolean> {
  w.write(`USER ${user}\r\n`);
  if (!(await pop3Line(w, timeoutMs)).startsWith("+OK")) return false;
  w.write(`PASS ${pass}\r\n`);
  return (await pop3Line(w, timeoutMs)).startsWith("+OK");
}

/** Sends one tagged IMAP command and reads up to its tagged completion. Literals in the response
 * are read as lines (good enough for FLAGS/ENVELOPE-sized data). */
export async function imapCommand(w: Wire, tag: string, command: string, timeoutMs = 60_000): Promise<{ ok: boolean; status: string; lines: string[] }> {
  w.write(`${tag} ${command}\r\n`);
  const lines = await w.readUntil((l) => l.startsWith(`${tag} `), timeoutMs);
  if (!lines) return { ok: false, status: "(closed)", lines: [] };
  const status = lines[lines.length - 1]!;
  return { ok: status.startsWith(`${tag} OK`), status, lines };
}

/** IMAP LOGIN with quoted strings (our test passwords have no quote or backslash). */
export function imapLogin(w: Wire, user: string, pass: string): Promise<{ ok: boolean; status: string; lines: string[] }> {
  return imapCommand(w, "L", `LOGIN "${user}" "${pass}"`);
}
