// Wiring of the observability side of a running server, used by src/server.ts:
// - observe(): puts a tee between the server's logger and its destination, so every log line also
//   reaches the metrics registry (counts audit events) and, when [log.remote] is configured, the
//   syslog shipper (src/log/syslog.ts). Everything built by startServer logs through this logger.
// - startAdmin(): opens the http listeners (src/admin/http.ts) and connects the scrape-time gauges.
//
// Invariants: the original destination receives exactly the lines it received before, first and
// unchanged; a failing sink never affects logging (its error is swallowed); close() stops the
// shipper after giving it a short time to flush.

import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { pino, type DestinationStream } from "pino";
import { createLogger, type AuditLogger } from "../log/audit.js";
import { SyslogShipper } from "../log/syslog.js";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../config/load.js";
import type { Store } from "../store/types.js";
import type { BanList, ConnectionLimiter } from "../policy/types.js";
import { Metrics } from "./metrics.js";
import { AdminServer } from "./http.js";

export { Metrics } from "./metrics.js";
export { AdminServer } from "./http.js";

export type LineSink = (line: string) => void;

/** A logger like `log` (same level and bindings) whose lines go to `log`'s destination and then
 * to each sink. */
export function teeLogger(log: AuditLogger, sinks: readonly LineSink[]): AuditLogger {
  const dest = (log as unknown as Record<symbol, DestinationStream | undefined>)[pino.symbols.streamSym];
  if (!dest || typeof dest.write !== "function") throw new Error("logger has no destination stream to tee");
  const tee: DestinationStream = {
    write(line: string): void {
      dest.write(line);
      for (const sink of sinks) {
        try {
          sink(line);
        } catch {
          // A sink's failure must never break logging.
        }
      }
    },
  };
  const root = createLogger({ level: log.level, destination: tee });
  const base = root.bindings();
  const extra = Object.fromEntries(Object.entries(log.bindings()).filter(([k, v]) => base[k] !== v));
  return Object.keys(extra).length > 0 ? root.child(extra) : root;
}

export interface Observability {
  /** The logger everything in the server should use. */
  log: AuditLogger;
  metrics: Metrics;
  shipper: SyslogShipper | null;
  /** Stops the heartbeat, flushes the remote queue (up to `deadlineMs`), stops the metrics monitor. */
  close(deadlineMs?: number): Promise<void>;
}

export async function observe(o: { log: AuditLogger; config: Config; dataDir: string }): Promise<Observability> {
  const { config } = o;
  const metrics = new Metrics(config);
  let shipper: SyslogShipper | null = null;
  const remote = config.log.remote;
  if (remote) {
    const read = async (p: string | undefined): Promise<Buffer | undefined> => (p ? readFile(isAbsolute(p) ? p : resolve(o.dataDir, p)) : undefined);
    if ((remote.cert === undefined) !== (remote.key === undefined)) throw new ConfigError(["log.remote: cert and key go together (a client certificate needs its key)"]);
    const [ca, cert, key] = await Promise.all([read(remote.ca), read(remote.cert), read(remote.key)]);
    shipper = new SyslogShipper({ url: remote.url, ca, cert, key, hostname: config.server.hostname, queueSize: remote.queue_size, heartbeatMs: remote.heartbeat });
  }
  const s = shipper;
  const log = teeLogger(o.log, s ? [(l) => metrics.observe(l), (l) => s.write(l)] : [(l) => metrics.observe(l)]);
  if (s) {
    metrics.setGauges({ remoteLog: () => s.stats() });
    s.start(log);
  }
  return {
    log,
    metrics,
    shipper,
    async close(deadlineMs = 1_000): Promise<void> {
      await s?.close(deadlineMs);
      metrics.close();
    },
  };
}

export async function startAdmin(o: {
  config: Config;
  dataDir: string;
  log: AuditLogger;
  store: Store;
  metrics: Metrics;
  policy: { bans: BanList; limiter: ConnectionLimiter };
  mailPorts: () => Record<string, number>;
  servedProtocols: readonly string[];
}): Promise<AdminServer> {
  const admin = new AdminServer(o);
  o.metrics.setGauges({
    admitted: () => o.policy.limiter.active,
    bansActive: () => o.policy.bans.list().length,
    queueLength: async () => (await o.store.listQueue()).length,
    listenersUp: () => {
      const bound = { ...o.mailPorts(), ...admin.ports() };
      const up: Record<string, boolean> = {};
      for (const [name, l] of Object.entries(o.config.listeners)) {
        if (!l.enabled || (l.protocol !== "http" && !o.servedProtocols.includes(l.protocol))) continue;
        up[name] = bound[name] !== undefined;
      }
      return up;
    },
  });
  await admin.start();
  return admin;
}
