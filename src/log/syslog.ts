// Remote audit shipping (threat model §6: "an attacker deletes local logs"): audit events, as
// RFC 5424 syslog messages, over TCP (RFC 6587) or TLS (RFC 5425) to a collector, with a periodic
// `log.heartbeat` event so the collector can alert when the server goes silent.
//
// Invariants:
// - write() never blocks and never throws: it formats and enqueues. The queue is bounded; when it
//   is full the OLDEST message is dropped and counted (the newest events are the ones an operator
//   investigating an incident needs, and memory stays bounded while the collector is away).
// - Only audit events (log lines with an `event` field) are shipped; diagnostics are not.
// - Reconnection uses exponential backoff with jitter; a failure is logged once per outage, not
//   once per attempt.
// - TLS verifies the collector's certificate (against `ca` or the system CAs) and its name.
// - Messages written to a socket that then breaks may be lost: TCP syslog has no acknowledgement.
//
// formatSyslog and frameOctetCounting are pure.

import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { audit, type AuditLogger } from "./audit.js";

/** Facility 13, "log audit" (RFC 5424 §6.2.1 table 1). */
const FACILITY_LOG_AUDIT = 13;

/** pino level label -> RFC 5424 §6.2.1 severity. */
const SEVERITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** Messages larger than this (framed) are dropped rather than sent; receivers must accept
 * 2048 octets and SHOULD accept 8192 (RFC 5425 §4.3.1); real collectors accept far more. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const BOM = "\uFEFF";

export interface RemoteTarget {
  transport: "tcp" | "tls";
  host: string;
  port: number;
}

/** Parses "tls://host:port" / "tcp://host:port" ("[v6]:port" for IPv6). Default port: 6514 for TLS
 * (RFC 5425 §4.1), 514 for TCP. */
export function parseRemoteUrl(url: string): RemoteTarget {
  const m = /^(tcp|tls):\/\/(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?\/?$/.exec(url);
  if (!m) throw new Error(`log.remote.url: expected "tls://host:port" or "tcp://host:port", got ${JSON.stringify(url)}`);
  const transport = m[1] as "tcp" | "tls";
  const port = m[4] ? Number(m[4]) : transport === "tls" ? 6514 : 514;
  if (port < 1 || port > 65535) throw new Error(`log.remote.url: port out of range in ${JSON.stringify(url)}`);
  return { transport, host: m[2] ?? m[3]!, port };
}

/** A header field: printable US-ASCII (33..126) only, at most `max` characters, "-" if empty
 * (RFC 5424 §6.2: HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32). */
function headerField(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean === "" ? "-" : clean;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** One RFC 5424 message for one pino JSON line, or null when the line is not an audit event. */
export function formatSyslog(line: string, o: { hostname: string; appName: string; procId: string; now: () => Date }): Buffer | null {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof rec.event !== "string") return null;
  const severity = SEVERITY[typeof rec.level === "string" ? rec.level : "info"] ?? 6;
  const pri = FACILITY_LOG_AUDIT * 8 + severity; // RFC 5424 §6.2.1 PRI = facility * 8 + severity
  // RFC 5424 §6.2.3: TIMESTAMP is an RFC 3339 time with at most 6 fraction digits.
  const ts = typeof rec.time === "string" && TIMESTAMP.test(rec.time) ? rec.time : o.now().toISOString();
  const header = [
    `<${pri}>1`, // RFC 5424 §6.2.2 VERSION 1
    ts,
    headerField(o.hostname, 255),
    headerField(o.appName, 48),
    headerField(o.procId, 128),
    headerField(rec.event, 32), // MSGID: the audit event name
    "-", // RFC 5424 §6.3 no STRUCTURED-DATA: the event is the JSON MSG
  ].join(" ");
  // RFC 5424 §6.4: a UTF-8 MSG starts with the BOM. The JSON line is the message, unchanged.
  return Buffer.from(`${header} ${BOM}${line.replace(/\r?\n$/, "")}`, "utf8");
}

/** RFC 6587 §3.4.1 octet-counting framing (also RFC 5425 §4.3): "MSG-LEN SP SYSLOG-MSG". */
export function frameOctetCounting(msg: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${msg.length} `, "ascii"), msg]);
}

export interface SyslogShipperOptions {
  url: string;
  /** PEM CA certificate(s) for a TLS collector; default: the system CAs. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM) for collectors that authenticate senders (RFC 5425 §4.2). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The HOSTNAME field: the server's host name. */
  hostname: string;
  appName?: string;
  queueSize: number;
  heartbeatMs: number;
  /** Reconnect backoff; doubled after each failure up to maxMs. */
  backoff?: { initialMs: number; maxMs: number };
  connectTimeoutMs?: number;
  now?: () => Date;
}

export interface ShipperStats {
  queued: number;
  dropped: number;
  sent: number;
  connected: boolean;
}

export class SyslogShipper {
  private readonly target: RemoteTarget;
  private readonly queue: Buffer[] = [];
  private head = 0; // index of the oldest queued message; the array is compacted now and then
  private dropped = 0;
  private sent = 0;
  private socket: Socket | null = null;
  private connected = false;
  private waitingDrain = false;
  private failures = 0;
  private outageLogged = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private log: AuditLogger | null = null;
  private seq = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly o: SyslogShipperOptions) {
    this.target = parseRemoteUrl(o.url);
  }

  /** Starts connecting and the heartbeat. `log` is the server's logger: heartbeats and connection
   * trouble are logged through it (the heartbeat, an audit event, comes back here to be shipped). */
  start(log: AuditLogger): void {
    this.log = log;
    this.connect();
    this.heartbeat();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(100, this.o.heartbeatMs));
    this.heartbeatTimer.unref();
  }

  /** Logs one `log.heartbeat` event now (start() schedules them every heartbeatMs). */
  heartbeat(): void {
    if (this.closed || !this.log) return;
    this.seq += 1;
    audit(this.log, "log.heartbeat", { seq: this.seq, ...this.stats() });
  }

  /** Takes one serialized log line. Never blocks; ships it if it is an audit event. */
  write(line: string): void {
    if (this.closed || !line.includes('"event":')) return; // cheap pre-filter before JSON.parse
    const msg = formatSyslog(line, { hostname: this.o.hostname, appName: this.o.appName ?? "portcullis", procId: String(process.pid), now: this.o.now ?? (() => new Date()) });
    if (!msg) return;
    const framed = frameOctetCounting(msg);
    if (framed.length > MAX_MESSAGE_BYTES) {
      this.dropped += 1;
      return;
    }
    this.queue.push(framed);
    while (this.queue.length - this.head > this.o.queueSize) {
      this.head += 1; // drop the oldest
      this.dropped += 1;
    }
    this.compact();
    this.pump();
  }

  stats(): ShipperStats {
    return { queued: this.queue.length - this.head, dropped: this.dropped, sent: this.sent, connected: this.connected };
  }

  /** Stops: waits up to `deadlineMs` for the queue to reach the collector, then closes. */
  async close(deadlineMs = 1_000): Promise<void> {
    if (this.closed) return;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.connected && this.stats().queued > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, deadlineMs);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.idleWaiters.add(done);
      });
    }
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const s = this.socket;
    this.socket = null;
    this.connected = false;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          s.destroy();
          resolve();
        }, 500);
        s.end(() => {
          clearTimeout(t);
          s.destroy();
          resolve();
        });
      });
    }
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private connect(): void {
    if (this.closed) return;
    const { transport, host, port } = this.target;
    const timeoutMs = this.o.connectTimeoutMs ?? 10_000;
    const socket =
      transport === "tls"
        ? tlsConnect({
            host,
            port,
            // RFC 5425 §5.2: the server (collector) is authenticated by its certificate and name.
            servername: isIP(host) ? undefined : host,
            ca: this.o.ca,
            cert: this.o.cert, // RFC 5425 §4.2: mutual authentication when the collector asks for it
            key: this.o.key,
            minVersion: "TLSv1.2",
            rejectUnauthorized: true,
          })
        : netConnect({ host, port });
    this.socket = socket;
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)));
    socket.setNoDelay(true);
    socket.once(transport === "tls" ? "secureConnect" : "connect", () => {
      if (this.socket !== socket) return;
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      this.connected = true;
      this.failures = 0;
      if (this.outageLogged) this.log?.info({ collector: `${host}:${port}` }, "remote log collector reachable again");
      this.outageLogged = false;
      this.pump();
    });
    socket.on("drain", () => {
      this.waitingDrain = false;
      this.pump();
    });
    socket.resume(); // the collector sends nothing we use (RFC 5425/6587 are one-way)
    socket.on("error", (err: Error) => {
      if (!this.outageLogged && !this.closed) {
        this.outageLogged = true;
        this.log?.warn({ collector: `${host}:${port}`, err: err.message }, "remote log collector unreachable; queueing audit events");
      }
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.connected = false;
      this.waitingDrain = false;
      if (!this.outageLogged && !this.closed) {
        this.outageLogged = true;
        this.log?.warn({ collector: `${host}:${port}` }, "remote log collector connection closed; queueing audit events");
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const { initialMs, maxMs } = this.o.backoff ?? { initialMs: 1_000, maxMs: 60_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures, 20));
    this.failures += 1;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4)); // ±20 % jitter
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private pump(): void {
    const s = this.socket;
    if (!s || !this.connected || this.waitingDrain) return;
    while (this.head < this.queue.length) {
      const buf = this.queue[this.head]!;
      this.head += 1;
      this.sent += 1;
      if (!s.write(buf)) {
        this.waitingDrain = true; // backpressure: the rest waits in our bounded queue
        break;
      }
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      if (!this.waitingDrain) for (const w of [...this.idleWaiters]) (this.idleWaiters.delete(w), w());
    } else this.compact();
  }
}
