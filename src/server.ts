// Wires a running Portcullis: the store, the security policy, the authentication engine, the gate
// (listeners) and the protocol handlers. Used by `portcullis serve` and by the end-to-end test
// harness (test/helpers/server.ts), so tests run exactly what operators run.
//
// Invariants:
// - Everything is built from the arguments: no module-level state, so several servers can run in
//   one process (tests).
// - stop() stops accepting, lets sessions finish or aborts them by the deadline, then closes the
//   store; it is idempotent.
// - Bans added by another process (`portcullis ban add`) are picked up within 5 s.

import { openStore } from "./store/index.js";
import { createPolicy } from "./policy/index.js";
import { createAuthService } from "./auth/index.js";
import { Gate } from "./net/server.js";
import { audit, type AuditLogger } from "./log/audit.js";
import type { Config, Protocol } from "./config/schema.js";
import type { Services } from "./services.js";
import type { ProtocolHandler } from "./net/types.js";
import { QueueRunner, wakingStore } from "./queue/runner.js";
import { observe, startAdmin, type AdminServer, type Metrics } from "./admin/index.js";

export type Policy = Awaited<ReturnType<typeof createPolicy>>;

export interface RunningServer {
  readonly services: Services;
  readonly gate: Gate;
  readonly policy: Policy;
  /** The outbound queue runner (src/queue); wake() after enqueueing to skip the poll interval. */
  readonly queue: QueueRunner;
  /** The admin (http) listeners: health, metrics, autoconfiguration, MTA-STS (src/admin). */
  readonly admin: AdminServer;
  /** Counters of audit events and scrape-time gauges behind GET /metrics. */
  readonly metrics: Metrics;
  /** Listener name -> bound port (mail and admin listeners). */
  ports(): Record<string, number>;
  /** Stops accepting, waits up to `deadlineMs` for sessions, aborts the rest, closes the store. */
  stop(deadlineMs: number): Promise<void>;
}

export const BAN_REFRESH_MS = 5_000;

/** Loads a protocol module's handler factory; a module that does not exist yet is skipped (the
 * protocols are written in separate issues), any other failure is an error. */
async function optionalHandler(
  name: string,
  load: () => Promise<(s: Services) => ProtocolHandler>,
  services: Services,
  log: AuditLogger,
): Promise<ProtocolHandler | null> {
  let factory: (s: Services) => ProtocolHandler;
  try {
    factory = await load();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { url?: string };
    const missing = err.code === "ERR_MODULE_NOT_FOUND" && new RegExp(`[/\\\\]${name}[/\\\\]index\\.(js|ts)\\b`).test(`${err.url ?? ""} ${err.message}`);
    if (!missing) throw e;
    log.warn({ protocol: name }, `${name}: protocol module not available; its listeners stay closed`);
    return null;
  }
  return factory(services);
}

export async function startServer(o: { config: Config; dataDir: string; log: AuditLogger }): Promise<RunningServer> {
  const { config, dataDir } = o;
  // Every log line also feeds the metrics and, if configured, the remote syslog shipper.
  const obs = await observe({ log: o.log, config, dataDir });
  const log = obs.log;
  const store = await openStore(dataDir, { log }).catch(async (e: unknown) => {
    await obs.close(0);
    throw e;
  });
  let gate: Gate | null = null;
  let admin: AdminServer | null = null;
  try {
    const policy = await createPolicy({ config, store, log });
    const auth = createAuthService({ config, store, log, throttle: policy.throttle });
    // The queue runner is woken by every enqueue (SMTP submission, DSNs) through this store view.
    const queue = new QueueRunner({ config, dataDir, store, log });
    const services: Services = { config, dataDir, store: wakingStore(store, () => queue.wake()), auth, log };

    const handlers: Partial<Record<Protocol, ProtocolHandler>> = {};
    const smtp = await optionalHandler("smtp", async () => (await import("./smtp/index.js")).createSmtpHandler, services, log);
    if (smtp) handlers.smtp = smtp;
    const pop3 = await optionalHandler("pop3", async () => (await import("./pop3/index.js")).createPop3Handler, services, log);
    if (pop3) handlers.pop3 = pop3;
    const imap = await optionalHandler("imap", async () => (await import("./imap/index.js")).createImapHandler, services, log);
    if (imap) handlers.imap = imap;

    gate = new Gate({ config, dataDir, log, policy: { access: policy.access, bans: policy.bans, limiter: policy.limiter }, handlers });
    await gate.start();
    const g = gate;
    admin = await startAdmin({ config, dataDir, log, store, metrics: obs.metrics, policy, mailPorts: () => g.ports(), servedProtocols: Object.keys(handlers) });
    const a = admin;
    queue.start();

    const refresh = setInterval(() => {
      policy.bans.refresh().catch((e: unknown) => log.error({ err: e }, "ban list refresh failed"));
    }, BAN_REFRESH_MS);
    refresh.unref();

    const unserved = Object.entries(config.listeners)
      .filter(([, l]) => l.enabled && l.protocol !== "http" && !handlers[l.protocol])
      .map(([name]) => name);
    if (unserved.length > 0) log.warn({ listeners: unserved }, `not implemented yet, not opened: ${unserved.join(", ")}`);
    audit(log, "server.start", { hostname: config.server.hostname, dataDir, ports: { ...g.ports(), ...a.ports() }, protocols: Object.keys(handlers) });

    let stopping: Promise<void> | null = null;
    return {
      services,
      gate: g,
      policy,
      queue,
      admin: a,
      metrics: obs.metrics,
      ports: () => ({ ...g.ports(), ...a.ports() }),
      stop(deadlineMs: number): Promise<void> {
        stopping ??= (async () => {
          clearInterval(refresh);
          try {
            await Promise.all([g.stop(deadlineMs), queue.stop(deadlineMs), a.stop()]);
          } finally {
            await store.close();
            audit(log, "server.stop", {});
            await obs.close();
          }
        })();
        return stopping;
      },
    };
  } catch (e) {
    if (gate) await gate.stop(0).catch(() => undefined);
    if (admin) await admin.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    await obs.close(0).catch(() => undefined);
    throw e;
  }
}
