// The gate's implementation of `Connection` (types.ts): one accepted client, its reader, its
// output with backpressure, STARTTLS, timeouts per session phase, account slots and the end of
// the connection.
//
// Invariants:
// - All input goes through the one Reader; STARTTLS drops everything it buffered before the
//   handshake (RFC 3207 §4.2, RFC 2595 §3.1), so pipelined commands are never run under TLS.
// - Output never queues more than OUTPUT_HIGH_WATER (plus the write in hand) without the writer
//   waiting; a client that reads nothing for OUTPUT_STALL_TIMEOUT_MS is disconnected.
// - The limiter slot and account slots are released exactly once, when the socket closes, and
//   conn.close is logged once, with duration and byte counts.
// - `signal` aborts when the connection closes or the server starts shutting down. At shutdown a
//   session waiting for its next command line (nothing received for a moment) has that read
//   rejected with InputError("closed"), with `shuttingDown` true, so it can say goodbye.

import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Config } from "../config/schema.js";
import { audit, type AuditLogger } from "../log/audit.js";
import type { ConnectionLimiter } from "../policy/types.js";
import { OUTPUT_HIGH_WATER, OUTPUT_STALL_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from "./limits.js";
import { Reader } from "./reader.js";
import { serverHandshake, tlsExporter, tlsInfo, type TlsManager } from "./tls.js";
import { isLoopbackAddress } from "./address.js";
import { InputError, type Connection, type Line, type ListenerInfo, type SessionPhase, type TlsInfo } from "./types.js";

export interface ConnectionTimings {
  /** Default OUTPUT_STALL_TIMEOUT_MS. */
  outputStallTimeoutMs?: number;
  /** Default TLS_HANDSHAKE_TIMEOUT_MS. */
  handshakeTimeoutMs?: number;
  /** How long close() waits for output to flush and the client to hang up. Default 10 s. */
  closeTimeoutMs?: number;
}

export interface ConnectionOptions extends ConnectionTimings {
  id: string;
  listener: ListenerInfo;
  socket: Socket;
  remoteAddress: string;
  remotePort: number;
  /** Octets of a PROXY header already read from the socket (counted in bytesIn). */
  headerBytes?: number;
  log: AuditLogger;
  limits: Config["limits"];
  tls: TlsManager | null;
  limiter: ConnectionLimiter;
  /** Releases the connection's limiter slot. */
  release: () => void;
  /** The server's shutdown signal. */
  shutdown: AbortSignal;
}

export class GateConnection implements Connection {
  readonly id: string;
  readonly listener: ListenerInfo;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly log: AuditLogger;
  readonly openedAt = Date.now();
  /** Resolves once the socket has closed and everything was released. */
  readonly finished: Promise<void>;

  private readonly raw: Socket;
  private stream: Socket | TLSSocket;
  private tlsSocket: TLSSocket | null = null;
  private tlsState: TlsInfo | null = null;
  private readonly reader: Reader;
  private readonly controller = new AbortController();
  private readonly limits: Config["limits"];
  private readonly tlsMgr: TlsManager | null;
  private readonly limiter: ConnectionLimiter;
  private releaseSlot: (() => void) | null;
  private readonly accountReleases: Array<() => void> = [];
  private readonly shutdown: AbortSignal;
  private readonly stallMs: number;
  private readonly handshakeMs: number;
  private readonly closeMs: number;
  private readonly headerBytes: number;
  private isClosed = false;
  private ending = false;
  private bytesOut = 0;
  private drainWait: Promise<void> | null = null;
  private resolveFinished!: () => void;
  private readonly onShutdown = (): void => this.controller.abort(new Error("server shutting down"));

  constructor(o: ConnectionOptions) {
    this.id = o.id;
    this.listener = o.listener;
    this.remoteAddress = o.remoteAddress;
    this.remotePort = o.remotePort;
    this.localAddress = o.socket.localAddress ?? "";
    this.localPort = o.socket.localPort ?? 0;
    this.log = o.log;
    this.raw = o.socket;
    this.stream = o.socket;
    this.limits = o.limits;
    this.tlsMgr = o.tls;
    this.limiter = o.limiter;
    this.releaseSlot = o.release;
    this.shutdown = o.shutdown;
    this.stallMs = o.outputStallTimeoutMs ?? OUTPUT_STALL_TIMEOUT_MS;
    this.handshakeMs = o.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS;
    this.closeMs = o.closeTimeoutMs ?? 10_000;
    this.headerBytes = o.headerBytes ?? 0;
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.reader = new Reader({
      idleTimeoutMs: this.limits.preauth_timeout,
      lineTimeoutMs: this.limits.command_line_timeout,
      onInputError: (err) =>
        audit(this.log, err.kind === "too-long" ? "input.too_long" : "input.timeout", { reason: err.message }, "warn"),
    });
    this.raw.on("close", this.finalize);
    // A client that hung up during admission: its 'close' has already been emitted.
    if (this.raw.closed) queueMicrotask(this.finalize);
    if (this.shutdown.aborted) this.onShutdown();
    else this.shutdown.addEventListener("abort", this.onShutdown, { once: true });
  }

  // --- state -------------------------------------------------------------------------------

  get secure(): boolean {
    return this.tlsSocket !== null;
  }
  get tls(): TlsInfo | null {
    return this.tlsState;
  }
  get passwordAuthAllowed(): boolean {
    // Threat model §1: TLS, or an explicitly insecure listener reached over loopback.
    return this.secure || (this.listener.allowInsecureAuth && isLoopbackAddress(this.localAddress));
  }
  get closed(): boolean {
    return this.isClosed;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get shuttingDown(): boolean {
    return this.shutdown.aborted;
  }
  get buffered(): number {
    return this.reader.buffered;
  }
  /** Octets queued for the client and not yet handed to the kernel (for tests and metrics). */
  get outputBuffered(): number {
    return this.stream.writableLength;
  }

  readonly channelBinding = (): Buffer | null => (this.tlsSocket ? tlsExporter(this.tlsSocket) : null);

  // --- opening ------------------------------------------------------------------------------

  /** Runs the implicit TLS handshake when the listener asks for it (RFC 8314 §3.3), then starts
   * reading. False when the handshake failed (logged; the socket is destroyed). */
  async open(): Promise<boolean> {
    if (this.listener.tls === "implicit") {
      if (!this.tlsMgr) throw new Error(`listener ${this.listener.name}: implicit TLS without certificates`);
      try {
        this.adoptTls(await serverHandshake(this.raw, this.tlsMgr, this.handshakeMs));
      } catch (err) {
        audit(this.log, "tls.failed", { mode: "implicit", error: (err as Error).message }, "warn");
        this.destroy();
        return false;
      }
      audit(this.log, "tls.established", { mode: "implicit", ...this.tlsState });
    }
    this.reader.attach(this.stream);
    return true;
  }

  private adoptTls(t: TLSSocket): void {
    t.on("error", (err) => this.log.debug({ err: err.message }, "tls socket error"));
    t.on("close", this.finalize);
    this.tlsSocket = t;
    this.stream = t;
    this.tlsState = tlsInfo(t);
  }

  // --- input --------------------------------------------------------------------------------

  readLine(maxBytes: number): Promise<Line | null> {
    return this.reader.readLine(maxBytes);
  }
  readBytes(n: number): Promise<Buffer> {
    return this.reader.readBytes(n);
  }
  readStream(n: number, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    return this.reader.readStream(n, onChunk);
  }

  setPhase(phase: SessionPhase, idleTimeoutMs?: number): void {
    const idle = phase === "preauth" ? this.limits.preauth_timeout : (idleTimeoutMs ?? this.limits.preauth_timeout);
    this.reader.setTimeouts(idle, this.limits.command_line_timeout);
  }

  /** Shutdown helper: see the module comment. */
  interruptIfIdle(quietMs: number): boolean {
    return this.reader.interruptIdleLine("server shutting down", quietMs);
  }

  // --- output -------------------------------------------------------------------------------

  async write(data: string | Buffer): Promise<void> {
    if (this.isClosed || this.ending || this.stream.destroyed) throw new InputError("closed", "connection closed");
    const n = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    this.bytesOut += n;
    this.stream.write(data);
    if (this.stream.writableLength > OUTPUT_HIGH_WATER) await this.waitDrain();
  }

  /** Waits until the output queue drains; destroys the connection when it makes no progress
   * for the stall timeout (a client that does not read). */
  private waitDrain(): Promise<void> {
    this.drainWait ??= new Promise<void>((resolve, reject) => {
      const s = this.stream;
      let last = s.writableLength;
      const check = (): void => {
        if (s.writableLength < last) {
          last = s.writableLength;
          timer = setTimeout(check, this.stallMs);
          return;
        }
        cleanup();
        audit(this.log, "limit.hit", { limit: "output-stall", pending: s.writableLength, timeoutMs: this.stallMs }, "warn");
        this.destroy();
        reject(new InputError("timeout", "client stopped reading"));
      };
      let timer = setTimeout(check, this.stallMs);
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(new InputError("closed", "connection closed"));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        s.off("drain", onDrain);
        s.off("close", onClose);
        this.drainWait = null;
      };
      s.on("drain", onDrain);
      s.on("close", onClose);
    });
    return this.drainWait;
  }

  // --- STARTTLS -----------------------------------------------------------------------------

  async startTls(): Promise<{ discarded: number }> {
    if (this.secure) throw new Error("TLS is already active");
    if (!this.tlsMgr || this.listener.tls === "none") throw new Error(`listener ${this.listener.name} has no TLS`);
    if (this.isClosed || this.ending) throw new InputError("closed", "connection closed");
    // RFC 3207 §4.2 / RFC 2595 §3.1: stop reading at once and drop what the client pipelined
    // after the command; from here on, bytes stay in the socket for the TLS layer.
    const discarded = this.reader.detach();
    if (discarded > 0) audit(this.log, "tls.starttls.discarded", { bytes: discarded }, "warn");
    // The "go ahead" reply must be out before TLS takes the socket over.
    if (this.raw.writableLength > 0) await this.waitDrain();
    try {
      this.adoptTls(await serverHandshake(this.raw, this.tlsMgr, this.handshakeMs));
    } catch (err) {
      audit(this.log, "tls.failed", { mode: "starttls", error: (err as Error).message }, "warn");
      this.destroy();
      this.reader.close("TLS handshake failed");
      throw new InputError("closed", `TLS handshake failed: ${(err as Error).message}`);
    }
    audit(this.log, "tls.established", { mode: "starttls", ...this.tlsState });
    this.reader.attach(this.stream);
    return { discarded };
  }

  // --- accounts -----------------------------------------------------------------------------

  claimAccount(accountId: number): boolean {
    const release = this.limiter.claimAccount(accountId);
    if (!release) {
      audit(this.log, "limit.hit", { limit: "max_sessions_per_account", accountId }, "warn");
      return false;
    }
    if (this.isClosed) release();
    else this.accountReleases.push(release);
    return true;
  }

  // --- closing ------------------------------------------------------------------------------

  /** Flushes what was written, then closes; destroys after `closeTimeoutMs` at the latest. */
  async close(): Promise<void> {
    if (this.isClosed) return this.finished;
    this.reader.close("connection closed by the server");
    if (!this.ending) {
      this.ending = true;
      this.reader.detach();
      // Keep draining (and dropping) input so unread data does not turn our close into a reset
      // that could destroy the last reply before the client reads it.
      this.stream.resume();
      this.stream.end();
    }
    const timer = setTimeout(() => this.destroy(), this.closeMs);
    timer.unref();
    await this.finished;
    clearTimeout(timer);
  }

  /** Closes at once, dropping unsent output. */
  destroy(): void {
    this.reader.close("connection destroyed");
    this.stream.destroy();
    this.raw.destroy();
    if (this.raw.closed) queueMicrotask(this.finalize);
  }

  private readonly finalize = (): void => {
    if (this.isClosed) return;
    this.isClosed = true;
    this.reader.close();
    if (!this.raw.destroyed) this.raw.destroy();
    if (this.tlsSocket && !this.tlsSocket.destroyed) this.tlsSocket.destroy();
    this.shutdown.removeEventListener("abort", this.onShutdown);
    this.controller.abort(new Error("connection closed"));
    const release = this.releaseSlot;
    this.releaseSlot = null;
    release?.();
    for (const r of this.accountReleases.splice(0)) r();
    audit(this.log, "conn.close", {
      durationMs: Date.now() - this.openedAt,
      bytesIn: this.headerBytes + this.reader.bytesReceived,
      bytesOut: this.bytesOut,
      tls: this.tlsState?.version ?? null,
    });
    this.resolveFinished();
  };
}
