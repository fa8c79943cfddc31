// The one input reader of a connection: socket glue around the pure InputBuffer (framing.ts).
// It feeds received chunks to the buffer, answers one pending read at a time (a line, an exact
// byte count, or a stream of bytes), applies the timeouts, and pauses the socket when input piles
// up unread. It can be detached from one stream and attached to another (STARTTLS).
//
// Invariants:
// - At most one read is pending; reads are answered in order, from the buffer first.
// - Input backpressure: the socket is paused while more than `highWater` octets are buffered and
//   no pending read is waiting for more; a pending read that needs more always resumes it (its
//   own limit bounds the buffer then).
// - Timeouts reject the pending read with InputError("timeout"): the idle timeout counts from
//   the later of the read starting and the last byte received; the command-line deadline
//   (threat model §4, slow-drip clients) counts from the first byte of the line being read.
// - After the stream closes without a clean end, or close() is called, every read rejects with
//   InputError("closed").

import type { Duplex } from "node:stream";
import { InputBuffer } from "./framing.js";
import { InputError, type Line } from "./types.js";
import { INPUT_HIGH_WATER, LITERAL_MIN_BYTES_PER_SECOND } from "./limits.js";

export interface ReaderOptions {
  /** No byte received while a read waits this long: timeout. 0 disables. */
  idleTimeoutMs: number;
  /** A line not complete this long after its first byte: timeout. 0 disables. */
  lineTimeoutMs: number;
  highWater?: number;
  /** Called when a line overflows or a read times out, before the read rejects (for logging). */
  onInputError?: (err: InputError) => void;
}

type Pending =
  | { kind: "line"; max: number; resolve: (l: Line | null) => void; reject: (e: Error) => void; since: number }
  | { kind: "bytes"; n: number; got: number; parts: Buffer[]; resolve: (b: Buffer) => void; reject: (e: Error) => void; since: number }
  | {
      kind: "stream";
      n: number;
      remaining: number;
      onChunk: (c: Buffer) => void | Promise<void>;
      busy: boolean;
      resolve: () => void;
      reject: (e: Error) => void;
      since: number;
    };

export class Reader {
  private readonly buf = new InputBuffer();
  private stream: Duplex | null = null;
  private pending: Pending | null = null;
  private waiting = false; // the pending read needs more input
  private paused = false;
  private abrupt = false; // the stream closed without a clean end
  private failed: InputError | null = null;
  private received = 0;
  private lastByteAt = 0;
  private lineStartAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private idleMs: number;
  private lineMs: number;
  private readonly highWater: number;
  private readonly onInputError: ((err: InputError) => void) | undefined;

  private readonly onData = (chunk: Buffer): void => {
    const now = Date.now();
    this.received += chunk.length;
    this.lastByteAt = now;
    if (this.buf.buffered === 0 && !this.buf.isDiscarding) this.lineStartAt = now;
    this.buf.push(chunk);
    this.pump();
  };
  private readonly onEnd = (): void => {
    this.buf.end();
    this.pump();
  };
  private readonly onClose = (): void => {
    if (!this.buf.atEnd) this.abrupt = true;
    this.buf.end();
    this.pump();
  };
  private readonly onError = (): void => {
    // 'close' follows; the connection logs the error.
  };

  constructor(opts: ReaderOptions) {
    this.idleMs = opts.idleTimeoutMs;
    this.lineMs = opts.lineTimeoutMs;
    this.highWater = opts.highWater ?? INPUT_HIGH_WATER;
    this.onInputError = opts.onInputError;
  }

  /** Octets received and not yet consumed. */
  get buffered(): number {
    return this.buf.buffered;
  }

  /** Octets received through this reader so far (including any later discarded). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Rejects the pending read with InputError("closed") if it waits for a line, nothing of one
   * has arrived, and the client has been quiet for `quietMs` (used at shutdown, so a session
   * waiting for its next command can say goodbye, while one receiving data finishes). */
  interruptIdleLine(reason: string, quietMs: number): boolean {
    const p = this.pending;
    if (!p || p.kind !== "line" || !this.waiting || this.buf.buffered > 0) return false;
    if (Date.now() - Math.max(p.since, this.lastByteAt) < quietMs) return false;
    this.fail(new InputError("closed", reason));
    this.updateFlow();
    return true;
  }

  setTimeouts(idleTimeoutMs: number, lineTimeoutMs: number = this.lineMs): void {
    this.idleMs = idleTimeoutMs;
    this.lineMs = lineTimeoutMs;
    if (this.pending) this.armTimer(true);
  }

  /** Starts reading from `stream` (data it already buffered comes first). */
  attach(stream: Duplex): void {
    if (this.stream) throw new Error("reader already attached");
    this.stream = stream;
    this.paused = false;
    stream.on("data", this.onData);
    stream.on("end", this.onEnd);
    stream.on("close", this.onClose);
    stream.on("error", this.onError);
    if (stream.destroyed) {
      this.onClose();
      return;
    }
    stream.resume();
    this.updateFlow();
  }

  /** Stops reading from the current stream (paused, listeners removed, so bytes that arrive from
   * now on stay in the stream for whoever takes it over) and drops everything buffered. Returns
   * the number of octets dropped. */
  detach(): number {
    if (this.pending) throw new Error("cannot detach the reader while a read is pending");
    const s = this.stream;
    if (s) {
      s.pause();
      s.off("data", this.onData);
      s.off("end", this.onEnd);
      s.off("close", this.onClose);
      s.off("error", this.onError);
      this.stream = null;
    }
    return this.buf.discardAll();
  }

  /** Rejects the pending read and every later one with InputError("closed"). */
  close(reason = "connection closed"): void {
    if (!this.failed) this.failed = new InputError("closed", reason);
    this.clearTimer();
    const p = this.pending;
    this.pending = null;
    this.waiting = false;
    p?.reject(this.failed);
  }

  readLine(maxBytes: number): Promise<Line | null> {
    return new Promise((resolve, reject) => this.start({ kind: "line", max: maxBytes, resolve, reject, since: Date.now() }));
  }

  readBytes(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => this.start({ kind: "bytes", n, got: 0, parts: [], resolve, reject, since: Date.now() }));
  }

  readStream(n: number, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    return new Promise((resolve, reject) =>
      this.start({ kind: "stream", n, remaining: n, onChunk, busy: false, resolve, reject, since: Date.now() }),
    );
  }

  private start(p: Pending): void {
    if (this.failed) return p.reject(this.failed);
    if (this.pending) return p.reject(new Error("a read is already pending on this connection"));
    this.pending = p;
    this.pump();
  }

  private settle(): Pending {
    const p = this.pending!;
    this.pending = null;
    this.waiting = false;
    return p;
  }

  private fail(err: InputError): void {
    const p = this.settle();
    if (err.kind === "too-long" || err.kind === "timeout") this.onInputError?.(err);
    p.reject(err);
  }

  /** Answers the pending read from the buffer if it can, then adjusts flow and timers. */
  private pump(): void {
    const p = this.pending;
    this.waiting = false;
    if (p) {
      switch (p.kind) {
        case "line": {
          const r = this.buf.takeLine(p.max);
          if (r.kind === "line") {
            // Bytes left after the line belong to the next one; they arrived at the latest now.
            if (this.buf.buffered > 0) this.lineStartAt = this.lastByteAt;
            this.settle();
            p.resolve(r.line);
          } else if (r.kind === "too-long") {
            this.fail(new InputError("too-long", `line longer than ${p.max} octets`));
          } else if (r.kind === "eof") {
            if (this.abrupt) this.fail(new InputError("closed", "connection reset"));
            else {
              this.settle();
              p.resolve(null);
            }
          } else if (r.kind === "eof-mid-line") {
            this.fail(new InputError(this.abrupt ? "closed" : "eof", "end of input in the middle of a line"));
          } else this.waiting = true;
          break;
        }
        case "bytes": {
          while (p.got < p.n) {
            const c = this.buf.takeBytes(p.n - p.got);
            if (!c) break;
            p.parts.push(c);
            p.got += c.length;
          }
          if (p.got === p.n) {
            this.settle();
            p.resolve(p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.n));
          } else if (this.buf.atEnd) {
            this.fail(new InputError(this.abrupt ? "closed" : "eof", `end of input after ${p.got} of ${p.n} octets`));
          } else this.waiting = true;
          break;
        }
        case "stream": {
          if (p.busy) break;
          if (p.remaining === 0) {
            this.settle();
            p.resolve();
            break;
          }
          const c = this.buf.takeBytes(p.remaining);
          if (c) {
            p.remaining -= c.length;
            p.busy = true;
            let ret: void | Promise<void>;
            try {
              ret = p.onChunk(c);
            } catch (err) {
              this.settle();
              p.reject(err as Error);
              break;
            }
            Promise.resolve(ret).then(
              () => {
                p.busy = false;
                if (this.pending === p) this.pump();
              },
              (err: unknown) => {
                if (this.pending !== p) return;
                this.settle();
                p.reject(err instanceof Error ? err : new Error(String(err)));
                this.updateFlow();
              },
            );
          } else if (this.buf.atEnd) {
            this.fail(new InputError(this.abrupt ? "closed" : "eof", `end of input with ${p.remaining} octets to go`));
          } else this.waiting = true;
          break;
        }
      }
    }
    this.updateFlow();
    if (this.waiting) this.armTimer(false);
  }

  private updateFlow(): void {
    const s = this.stream;
    if (!s) return;
    const pause = !this.waiting && this.buf.buffered >= this.highWater;
    if (pause && !this.paused) {
      this.paused = true;
      s.pause();
    } else if (!pause && this.paused) {
      this.paused = false;
      s.resume();
    }
  }

  /** The time at which the pending read times out, and why; null when it cannot. */
  private deadline(): { at: number; why: string } | null {
    const p = this.pending;
    if (!p || !this.waiting) return null;
    let best: { at: number; why: string } | null = null;
    if (this.idleMs > 0) best = { at: Math.max(p.since, this.lastByteAt) + this.idleMs, why: "idle timeout" };
    if (p.kind === "line" && this.lineMs > 0 && this.buf.buffered > 0) {
      // From the line's first byte, or from the read if the server was busy until then.
      const at = Math.max(p.since, this.lineStartAt) + this.lineMs;
      if (!best || at < best.at) best = { at, why: "command line not completed in time" };
    }
    if ((p.kind === "bytes" || p.kind === "stream") && this.lineMs > 0) {
      // A literal is part of its command (RFC 9051 §4.3): dripping it byte by byte must not hold
      // the connection longer than a dripped line would, plus the time its size needs at a
      // modest minimum rate. Each byte resets the idle timer, so only this deadline catches it.
      const at = p.since + this.lineMs + Math.ceil((p.n * 1000) / LITERAL_MIN_BYTES_PER_SECOND);
      if (!best || at < best.at) best = { at, why: "literal not completed in time" };
    }
    return best;
  }

  /** Makes sure the timer fires no later than the current deadline. The timer is not re-armed
   * for every chunk: when it fires early it re-checks and re-arms. */
  private armTimer(force: boolean): void {
    const d = this.deadline();
    if (!d) return;
    if (this.timer && !force && this.timerAt <= d.at) return;
    this.clearTimer();
    this.timerAt = d.at;
    this.timer = setTimeout(this.onTimer, Math.max(0, d.at - Date.now()));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    const d = this.deadline();
    if (!d) return;
    if (Date.now() >= d.at) {
      this.fail(new InputError("timeout", d.why));
      this.updateFlow();
      return;
    }
    this.armTimer(true);
  };

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
