// Helpers for the IMAP end-to-end tests: a minimal raw IMAP client over TLS or plain TCP (for
// exact wire assertions: CONDSTORE/QRESYNC, malformed commands, line limits) and a sample message.

import net from "node:net";
import tls from "node:tls";
import type { TestServer } from "./helpers/server.js";

export const PASSWORD = "Correct-Horse-Battery-Staple-9";

export function sampleMessage(subject: string, body = "Hello from the test suite.\r\n"): string {
  return (
    "From: Bob Sender <bob@example.org>\r\n" +
    "To: alice@example.test\r\n" +
    `Subject: ${subject}\r\n` +
    "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n" +
    `Message-ID: <${subject.replace(/\W/g, "")}@example.org>\r\n` +
    "MIME-Version: 1.0\r\n" +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    "\r\n" +
    body
  );
}

export class RawImap {
  private buf = "";
  private waiters: Array<() => void> = [];
  private n = 0;
  closed = false;

  private constructor(private socket: net.Socket) {
    this.attach();
  }

  private attach(): void {
    this.socket.setEncoding("latin1");
    this.socket.on("data", (d: string) => {
      this.buf += d;
      this.wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on("error", () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static async connect(server: TestServer, o: { implicitTls?: boolean } = {}): Promise<RawImap> {
    const socket = o.implicitTls
      ? tls.connect({ host: "127.0.0.1", port: server.ports.imaps, ca: server.caCert, servername: "localhost" })
      : net.connect({ host: "127.0.0.1", port: server.ports.imap });
    await new Promise<void>((resolve, reject) => {
      socket.once(o.implicitTls ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
    const c = new RawImap(socket);
    await c.until((b) => b.includes("\r\n"));
    return c;
  }

  /** Waits until `pred(buffer)` holds (or the connection closes), with a timeout. */
  async until(pred: (b: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.buf)) {
      if (this.closed) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting; got: ${JSON.stringify(this.buf.slice(-500))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.buf;
  }

  /** Everything received so far, and clears it. */
  take(): string {
    const b = this.buf;
    this.buf = "";
    return b;
  }

  send(raw: string | Buffer): void {
    this.socket.write(raw);
  }

  /** Sends `TAG command` and returns everything up to and including the tagged response. */
  async cmd(command: string, timeoutMs = 5000): Promise<string> {
    const tag = `t${++this.n}`;
    this.send(`${tag} ${command}\r\n`);
    return this.tagged(tag, timeoutMs);
  }

  async tagged(tag: string, timeoutMs = 5000): Promise<string> {
    const re = new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`);
    await this.until((b) => re.test(b), timeoutMs);
    const m = re.exec(this.buf)!;
    const end = m.index + m[0].length;
    const out = this.buf.slice(0, end);
    this.buf = this.buf.slice(end);
    return out;
  }

  /** STARTTLS and the TLS handshake; `pipelined` is sent right after the command, in the same
   * write (a misbehaving client: the server must discard it, RFC 9051 §6.2.1). */
  async startTls(server: TestServer, pipelined = ""): Promise<void> {
    const tag = `t${++this.n}`;
    this.send(`${tag} STARTTLS\r\n${pipelined}`);
    const r = await this.tagged(tag);
    if (!/ OK /.test(r)) throw new Error(r);
    this.socket.removeAllListeners("data");
    this.socket.removeAllListeners("close");
    const secure = tls.connect({ socket: this.socket, ca: server.caCert, servername: "localhost" });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    this.socket = secure;
    this.attach();
  }

  async login(user: string, pass = PASSWORD): Promise<string> {
    return this.cmd(`LOGIN "${user}" "${pass}"`);
  }

  /** Stops reading from the socket (the server then meets backpressure), and resumes. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }
}
