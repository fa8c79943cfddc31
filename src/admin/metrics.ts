// The metrics registry behind the admin listener's GET /metrics (threat model §6).
//
// How the numbers are collected: every audit event is already one JSON log line with a stable
// `event` name, so the registry is a log sink (`observe(line)`), fed by the tee in src/admin/tap.ts
// that sits between the server's logger and its destination. Counting the audit stream means the
// metrics cannot disagree with the audit log and no protocol module needs a metrics hook. Gauges
// that are state rather than events (bans in force, queue length, admitted connections) are read
// from the live objects at scrape time through `gauges`.
//
// Invariants:
// - Label values come only from closed sets (AUDIT_EVENTS, the configured listener names and
//   protocols), never from client input, so a client cannot grow the series without bound.
// - observe() never throws: a line that is not JSON or not an audit event is ignored.
// - The exposition is Prometheus text format 0.0.4, written here by hand (no dependency).

import { readdir, readFile } from "node:fs/promises";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { AUDIT_EVENTS } from "../log/audit.js";
import type { Config } from "../config/schema.js";

/** The Content-Type of the text exposition format 0.0.4. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;

interface Sample {
  labels: Labels;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: Sample[];
}

/** Escapes a label value: backslash, double quote and line feed (exposition format 0.0.4). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escapes HELP text: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Renders metric families as the text exposition format 0.0.4. Pure. */
export function renderExposition(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels);
      const l = labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
      out.push(`${f.name}${l} ${formatValue(s.value)}`);
    }
  }
  return out.join("\n") + "\n";
}

/** State read at scrape time. Each may fail; a failed gauge is left out of the scrape. */
export interface GaugeSources {
  /** Connections admitted by the limiter (all listeners). */
  admitted?: () => number;
  bansActive?: () => number;
  queueLength?: () => Promise<number>;
  /** Listener name -> true when bound and serving. */
  listenersUp?: () => Record<string, boolean>;
  /** Remote audit shipping state, when configured. */
  remoteLog?: () => { queued: number; dropped: number; sent: number; connected: boolean };
}

const KNOWN_EVENTS: ReadonlySet<string> = new Set(AUDIT_EVENTS);

export class Metrics {
  private readonly events = new Map<string, number>();
  private readonly connTotal = new Map<string, number>();
  private readonly connActive = new Map<string, number>();
  private readonly auth = new Map<string, number>(); // "protocol\0result"
  private received = 0;
  private delivered = 0;
  private readonly listenerProtocol = new Map<string, string>();
  private readonly protocols: ReadonlySet<string>;
  private readonly loopDelay: IntervalHistogram;
  private gauges: GaugeSources = {};
  private readonly startedAt = Date.now() / 1000;

  constructor(config: Pick<Config, "listeners">) {
    for (const [name, l] of Object.entries(config.listeners)) this.listenerProtocol.set(name, l.protocol);
    this.protocols = new Set(["smtp", "imap", "pop3", "http"]);
    for (const p of this.protocols) {
      if (p === "http") continue;
      this.connTotal.set(p, 0);
      this.connActive.set(p, 0);
      this.auth.set(`${p}\0success`, 0);
      this.auth.set(`${p}\0failure`, 0);
    }
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.loopDelay.enable();
  }

  /** Sets (or extends) the scrape-time state sources. */
  setGauges(g: GaugeSources): void {
    this.gauges = { ...this.gauges, ...g };
  }

  /** Stops the event loop monitor. */
  close(): void {
    this.loopDelay.disable();
  }

  /** Feeds one serialized log line (a pino JSON line). Counts audit events; ignores the rest. */
  observe(line: string): void {
    if (!line.includes('"event":"')) return; // cheap pre-filter: most debug lines are not events
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const event = rec.event;
    if (typeof event !== "string" || !KNOWN_EVENTS.has(event)) return;
    this.events.set(event, (this.events.get(event) ?? 0) + 1);
    const proto = this.protocolOf(rec);
    switch (event) {
      case "conn.open":
        if (proto) {
          this.connTotal.set(proto, (this.connTotal.get(proto) ?? 0) + 1);
          this.connActive.set(proto, (this.connActive.get(proto) ?? 0) + 1);
        }
        break;
      case "conn.close":
        if (proto) this.connActive.set(proto, Math.max(0, (this.connActive.get(proto) ?? 0) - 1));
        break;
      case "auth.success":
      case "auth.failure":
        if (proto) {
          const k = `${proto}\0${event === "auth.success" ? "success" : "failure"}`;
          this.auth.set(k, (this.auth.get(k) ?? 0) + 1);
        }
        break;
      case "smtp.received":
        this.received += 1;
        break;
      case "queue.delivered":
        this.delivered += Array.isArray(rec.recipients) ? rec.recipients.length : 1;
        break;
      default:
        break;
    }
  }

  /** The protocol of an event: its `protocol` field if it is a known one, else its listener's. */
  private protocolOf(rec: Record<string, unknown>): string | null {
    if (typeof rec.protocol === "string" && this.protocols.has(rec.protocol)) return rec.protocol;
    if (typeof rec.listener === "string") return this.listenerProtocol.get(rec.listener) ?? null;
    return null;
  }

  /** Everything as metric families: event counters, then scrape-time gauges, then process metrics. */
  async collect(): Promise<MetricFamily[]> {
    const fam: MetricFamily[] = [];
    const split = (k: string): [string, string] => k.split("\0") as [string, string];
    fam.push({
      name: "portcullis_audit_events_total",
      help: "Audit events logged, by event name.",
      type: "counter",
      samples: [...this.events].sort(([a], [b]) => (a < b ? -1 : 1)).map(([event, value]) => ({ labels: { event }, value })),
    });
    fam.push({
      name: "portcullis_connections_total",
      help: "Client connections accepted past the gate, by protocol.",
      type: "counter",
      samples: [...this.connTotal].map(([protocol, value]) => ({ labels: { protocol }, value })),
    });
    fam.push({
      name: "portcullis_connections_active",
      help: "Client connections open now, by protocol.",
      type: "gauge",
      samples: [...this.connActive].map(([protocol, value]) => ({ labels: { protocol }, value })),
    });
    fam.push({
      name: "portcullis_auth_total",
      help: "Login attempts by protocol and result (success or failure).",
      type: "counter",
      samples: [...this.auth].map(([k, value]) => {
        const [protocol, result] = split(k);
        return { labels: { protocol, result }, value };
      }),
    });
    fam.push({ name: "portcullis_messages_received_total", help: "Messages accepted by SMTP.", type: "counter", samples: [{ labels: {}, value: this.received }] });
    fam.push({ name: "portcullis_messages_delivered_total", help: "Recipients delivered by the outbound queue.", type: "counter", samples: [{ labels: {}, value: this.delivered }] });

    const g = this.gauges;
    const gauge = (name: string, help: string, value: number | null): void => {
      if (value !== null) fam.push({ name, help, type: "gauge", samples: [{ labels: {}, value }] });
    };
    gauge("portcullis_connections_admitted", "Connections holding a limiter slot (all listeners).", attempt(g.admitted));
    gauge("portcullis_bans_active", "Bans in force.", attempt(g.bansActive));
    gauge("portcullis_queue_length", "Messages in the outbound queue.", g.queueLength ? await g.queueLength().catch(() => null) : null);
    if (g.listenersUp) {
      const up = g.listenersUp();
      fam.push({
        name: "portcullis_listener_up",
        help: "1 when the listener is bound and serving, 0 when it should be but is not.",
        type: "gauge",
        samples: Object.entries(up).map(([listener, ok]) => ({ labels: { listener, protocol: this.listenerProtocol.get(listener) ?? "unknown" }, value: ok ? 1 : 0 })),
      });
    }
    if (g.remoteLog) {
      const r = g.remoteLog();
      gauge("portcullis_log_remote_queued", "Audit events waiting for the remote collector.", r.queued);
      gauge("portcullis_log_remote_connected", "1 when connected to the remote log collector.", r.connected ? 1 : 0);
      fam.push({ name: "portcullis_log_remote_sent_total", help: "Audit events written to the remote collector.", type: "counter", samples: [{ labels: {}, value: r.sent }] });
      fam.push({ name: "portcullis_log_remote_dropped_total", help: "Audit events dropped because the remote queue was full.", type: "counter", samples: [{ labels: {}, value: r.dropped }] });
    }
    fam.push(...(await this.processFamilies()));
    return fam;
  }

  async render(): Promise<string> {
    return renderExposition(await this.collect());
  }

  /** Process metrics with the conventional Prometheus names (process_*, nodejs_*). */
  private async processFamilies(): Promise<MetricFamily[]> {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const one = (name: string, help: string, type: "counter" | "gauge", value: number): MetricFamily => ({ name, help, type, samples: [{ labels: {}, value }] });
    const fam: MetricFamily[] = [
      one("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", mem.rss),
      one("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", "counter", (cpu.user + cpu.system) / 1e6),
      one("process_start_time_seconds", "Start time of the server since the Unix epoch, in seconds.", "gauge", this.startedAt),
      one("nodejs_heap_size_total_bytes", "V8 heap size in bytes.", "gauge", mem.heapTotal),
      one("nodejs_heap_size_used_bytes", "V8 heap used in bytes.", "gauge", mem.heapUsed),
      one("nodejs_external_memory_bytes", "Memory used by C++ objects bound to JavaScript, in bytes.", "gauge", mem.external),
    ];
    const h = this.loopDelay;
    const s = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
    fam.push({
      name: "nodejs_eventloop_lag_seconds",
      help: "Event loop delay since the previous scrape: quantile 0.5, 0.99 and the maximum (quantile 1).",
      type: "gauge",
      samples: [
        { labels: { quantile: "0.5" }, value: s(h.percentile(50)) },
        { labels: { quantile: "0.99" }, value: s(h.percentile(99)) },
        { labels: { quantile: "1" }, value: s(h.max) },
      ],
    });
    h.reset();
    try {
      // One entry is the directory handle readdir itself holds while reading.
      const fds = (await readdir("/proc/self/fd")).length - 1;
      fam.push(one("process_open_fds", "Open file descriptors.", "gauge", fds));
      const limits = await readFile("/proc/self/limits", "utf8");
      const m = /^Max open files\s+(\d+)/m.exec(limits);
      if (m) fam.push(one("process_max_fds", "Maximum number of open file descriptors.", "gauge", Number(m[1])));
    } catch {
      // Not Linux: no /proc; the fd metrics are left out.
    }
    return fam;
  }
}

function attempt(f: (() => number) | undefined): number | null {
  if (!f) return null;
  try {
    return f();
  } catch {
    return null;
  }
}

/** Parses a text exposition (as written above) into "name{labels}" -> value. For tests and checks. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition sample line: ${JSON.stringify(line)}`);
    out.set(`${m[1]}${m[2] ?? ""}`, m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]));
  }
  return out;
}
