// The gate: the one place where client connections come in, for every protocol. It binds the
// configured listeners, and for each accepted socket runs the admission pipeline before any
// protocol byte is sent:
//
//   PROXY header (proxy listeners, trusted sources only) -> access rules -> bans ->
//   connection limits -> implicit TLS handshake -> handler.serve(conn)
//
// Invariants:
// - Every refusal happens before the greeting, is logged (conn.refused / conn.proxy.refused),
//   and costs no TLS handshake: on plain and STARTTLS listeners the protocol's refusal line is
//   sent; on implicit-TLS listeners the socket is simply closed.
// - No byte of the client is read before the pipeline decides (sockets start paused), and none
//   is lost: bytes after a PROXY header go back to the socket for TLS or the reader.
// - A session that throws is logged (session.error) and its socket destroyed; the server goes on.
// - Listeners bind exclusively (threat model §5); "::" is IPv6-only so it never shadows IPv4.
// - stop() stops accepting, tells sessions (signal, shuttingDown), waits until the deadline,
//   then destroys what is left.

import { setMaxListeners } from "node:events";
import net, { type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { randomBytes } from "node:crypto";
import type { Config, ListenerConfig, Protocol } from "../config/schema.js";
import { audit, type AuditLogger } from "../log/audit.js";
import type { AccessPolicy, BanList, ConnectionLimiter } from "../policy/types.js";
import { PROXY_HEADER_TIMEOUT_MS, PROXY_V1_MAX, PROXY_V2_MAX } from "./limits.js";
import { parseProxyHeader, type ProxyEndpoint } from "./proxy.js";
import { TlsManager } from "./tls.js";
import { GateConnection, type ConnectionTimings } from "./connection.js";
import { isLoopbackAddress, NetworkSet, normalizeAddress } from "./address.js";
import { InputError, type ListenerInfo, type ProtocolHandler, type RefusalReason } from "./types.js";

export interface GateOptions {
  config: Config;
  dataDir: string;
  log: AuditLogger;
  policy: { access: AccessPolicy; bans: BanList; limiter: ConnectionLimiter };
  handlers: Partial<Record<Protocol, ProtocolHandler>>;
  /** Overrides for tests (the defaults come from limits.ts). */
  timings?: ConnectionTimings & { proxyHeaderTimeoutMs?: number; tlsWatchDebounceMs?: number };
}

interface BoundListener {
  info: ListenerInfo;
  config: ListenerConfig;
  handler: ProtocolHandler;
  servers: Server[];
}

const DEFAULT_ADDRESSES = ["0.0.0.0", "::"];

let connCounter = 0;
const processTag = randomBytes(3).toString("hex");

export class Gate {
  private readonly config: Config;
  private readonly dataDir: string;
  private readonly log: AuditLogger;
  private readonly policy: GateOptions["policy"];
  private readonly handlers: GateOptions["handlers"];
  private readonly timings: NonNullable<GateOptions["timings"]>;
  private readonly trustedProxies: NetworkSet;
  private readonly listeners: BoundListener[] = [];
  private readonly sessions = new Map<GateConnection, Promise<void>>();
  /** Sockets still in the admission pipeline (no Connection yet). */
  private readonly pending = new Set<Socket>();
  private readonly shutdownController = Gate.shutdownSignal();

  /** One shutdown signal for all connections: each adds a listener, thousands at a time, which
   * is not the leak Node's default limit of 10 listeners warns about. */
  private static shutdownSignal(): AbortController {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  }
  private tlsMgr: TlsManager | null = null;
  private started = false;
  private stopping: Promise<void> | null = null;

  constructor(o: GateOptions) {
    this.config = o.config;
    this.dataDir = o.dataDir;
    this.log = o.log;
    this.policy = o.policy;
    this.handlers = o.handlers;
    this.timings = o.timings ?? {};
    this.trustedProxies = new NetworkSet(o.config.proxy.trusted);
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("gate already started");
    this.started = true;
    const wanted: Array<[string, ListenerConfig, ProtocolHandler]> = [];
    for (const [name, l] of Object.entries(this.config.listeners)) {
      if (!l.enabled || l.protocol === "http") continue;
      const handler = this.handlers[l.protocol];
      if (!handler) {
        this.log.debug({ listener: name, protocol: l.protocol }, "no handler for this protocol: listener not opened");
        continue;
      }
      wanted.push([name, l, handler]);
    }
    if (wanted.some(([, l]) => l.tls !== "none")) {
      this.tlsMgr = await TlsManager.load({ config: this.config.tls, dataDir: this.dataDir, log: this.log });
      if (this.config.tls.watch) this.tlsMgr.watch(this.timings.tlsWatchDebounceMs);
    }
    try {
      for (const [name, l, handler] of wanted) await this.bind(name, l, handler);
    } catch (err) {
      await this.closeServers();
      this.tlsMgr?.close();
      throw err;
    }
  }

  /** Listener name -> the port bound (of its first address). */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.listeners) out[l.info.name] = l.info.port;
    return out;
  }

  /** Reloads the TLS certificates; on failure the old ones stay (tls.reload.failed is logged). */
  async reloadTls(): Promise<void> {
    await this.tlsMgr?.reload();
  }

  /** Connections currently being served. */
  get active(): number {
    return this.sessions.size;
  }

  /** Stops accepting, tells sessions, waits for them until `deadlineMs`, then destroys the rest.
   * Calling it again returns the same promise. */
  stop(deadlineMs: number): Promise<void> {
    this.stopping ??= this.shutdown(deadlineMs);
    return this.stopping;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.shutdownController.abort(new Error("server shutting down"));
    const closing = this.closeServers();
    for (const s of this.pending) s.destroy();
    const deadline = Date.now() + deadlineMs;
    // Sessions waiting for their next command are told at once (after a short quiet moment),
    // sessions in the middle of one get until the deadline.
    const quietMs = Math.min(1000, Math.max(0, deadlineMs / 4));
    const poke = (): void => {
      for (const c of this.sessions.keys()) c.interruptIfIdle(quietMs);
    };
    poke();
    const poker = setInterval(poke, Math.max(50, quietMs / 2));
    const all = Promise.all([...this.sessions.values()]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    clearInterval(poker);
    if (timedOut) {
      // Wait for the sockets, not the sessions: a session stuck on something else than its
      // connection must not hold the shutdown.
      const left = [...this.sessions.keys()];
      for (const c of left) c.destroy();
      await Promise.all(left.map((c) => c.finished));
    }
    await closing;
    this.tlsMgr?.close();
  }

  // --- listeners ----------------------------------------------------------------------------

  private async bind(name: string, l: ListenerConfig, handler: ProtocolHandler): Promise<void> {
    let addresses = l.addresses && l.addresses.length > 0 ? l.addresses : DEFAULT_ADDRESSES;
    if (!hostHasIpv6()) {
      const v6 = addresses.filter((a) => a.includes(":"));
      if (v6.length > 0) {
        this.log.info({ listener: name, skipped: v6 }, "no IPv6 on this host: IPv6 addresses skipped");
        addresses = addresses.filter((a) => !a.includes(":"));
      }
    }
    const loopbackOnly = addresses.length > 0 && addresses.every((a) => isLoopbackAddress(a) || a === "localhost");
    if (l.allow_insecure_auth && !loopbackOnly) {
      audit(this.log, "server.config.insecure", { listener: name, ignored: "allow_insecure_auth on a listener not bound to loopback only" }, "warn");
    }
    const info: ListenerInfo = {
      name,
      protocol: l.protocol as Protocol,
      smtpRole: l.protocol === "smtp" ? (l.smtp_role ?? "mx") : null,
      port: l.port,
      tls: l.tls,
      allowInsecureAuth: l.allow_insecure_auth && loopbackOnly,
    };
    const bound: BoundListener = { info, config: l, handler, servers: [] };
    this.listeners.push(bound);
    let port = l.port;
    for (const [i, host] of addresses.entries()) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
      server.on("connection", (s) => this.accept(bound, s));
      server.on("error", (err) => audit(this.log, "listener.error", { listener: name, host, error: err.message }, "error"));
      try {
        await listen(server, { host, port, exclusive: true, ipv6Only: host.includes(":") });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (host.includes(":") && (code === "EAFNOSUPPORT" || code === "EADDRNOTAVAIL")) {
          this.log.info({ listener: name, host, code }, "IPv6 address not available: skipped");
          continue;
        }
        audit(this.log, "listener.error", { listener: name, host, port, error: (err as Error).message }, "error");
        throw new Error(`listener ${name}: cannot listen on ${host}:${port}: ${(err as Error).message}`);
      }
      const addr = server.address() as net.AddressInfo;
      if (i === 0 || bound.servers.length === 0) {
        info.port = addr.port;
        // With port 0, the other addresses share the port the first one got.
        if (port === 0) port = addr.port;
      }
      bound.servers.push(server);
      audit(this.log, "listener.open", { listener: name, protocol: l.protocol, host, port: addr.port, tls: l.tls, proxy: l.proxy_protocol });
    }
    if (bound.servers.length === 0) throw new Error(`listener ${name}: no address could be bound`);
  }

  private async closeServers(): Promise<void> {
    await Promise.all(
      this.listeners.flatMap((l) => l.servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r())))),
    );
  }

  // --- the admission pipeline ---------------------------------------------------------------

  private accept(l: BoundListener, socket: Socket): void {
    socket.on("error", (err) => this.log.debug({ err: err.message, listener: l.info.name }, "socket error"));
    if (this.shutdownController.signal.aborted || !socket.remoteAddress) {
      // Shutting down, or the client already reset the connection (no peer address left).
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    this.pending.add(socket);
    const id = `${processTag}-${(++connCounter).toString(36)}`;
    this.admit(l, socket, id)
      .catch((err: unknown) => {
        audit(this.log, "session.error", { conn: id, listener: l.info.name, stage: "admission", error: (err as Error).message }, "error");
        socket.destroy();
      })
      .finally(() => this.pending.delete(socket));
  }

  private async admit(l: BoundListener, socket: Socket, id: string): Promise<void> {
    const peer = normalizeAddress(socket.remoteAddress);
    let remote: ProxyEndpoint = { address: peer, port: socket.remotePort ?? 0 };
    let headerBytes = 0;
    const base = { conn: id, listener: l.info.name };

    if (l.config.proxy_protocol) {
      if (!this.trustedProxies.has(peer)) {
        audit(this.log, "conn.proxy.refused", { ...base, ip: peer, reason: "source not in proxy.trusted" }, "warn");
        socket.destroy();
        return;
      }
      const r = await readProxyHeader(socket, this.timings.proxyHeaderTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS);
      if (r.kind !== "ok") {
        audit(this.log, "conn.proxy.refused", { ...base, ip: peer, reason: r.reason }, "warn");
        socket.destroy();
        return;
      }
      headerBytes = r.consumed;
      if (r.source) {
        remote = { address: normalizeAddress(r.source.address), port: r.source.port };
        audit(this.log, "conn.proxy", { ...base, ip: remote.address, port: remote.port, proxy: peer, version: r.version });
      } else {
        audit(this.log, "conn.proxy", { ...base, ip: peer, proxy: peer, version: r.version, local: true });
      }
    }
    if (socket.destroyed) return;
    const ip = remote.address;
    const fields = { ...base, ip, port: remote.port };

    const decision = this.policy.access.check(l.info.name, ip);
    if (!decision.allowed) return this.refuse(l, socket, "access", { ...fields, rule: decision.rule });
    const ban = this.policy.bans.find(ip);
    if (ban) return this.refuse(l, socket, "banned", { ...fields, ban: ban.subject, until: ban.expiresAt?.toISOString() ?? null });
    const admission = this.policy.limiter.admit(ip);
    if (!admission.ok) return this.refuse(l, socket, admission.reason, fields);

    const conn = new GateConnection({
      id,
      listener: l.info,
      socket,
      remoteAddress: ip,
      remotePort: remote.port,
      headerBytes,
      log: this.log.child({ conn: id, ip, listener: l.info.name }),
      limits: this.config.limits,
      tls: this.tlsMgr,
      limiter: this.policy.limiter,
      release: admission.release,
      shutdown: this.shutdownController.signal,
      ...this.timings,
    });
    this.pending.delete(socket);
    const session = this.run(l, conn);
    this.sessions.set(conn, session);
    void session.finally(() => this.sessions.delete(conn));
  }

  private async run(l: BoundListener, conn: GateConnection): Promise<void> {
    audit(conn.log, "conn.open", { port: conn.remotePort, local: `${conn.localAddress}:${conn.localPort}`, protocol: l.info.protocol, tls: l.info.tls });
    try {
      if (await conn.open()) {
        await l.handler.serve(conn);
        await conn.close();
      }
    } catch (err) {
      if (err instanceof InputError) {
        // The client went away or broke a limit (already logged by the reader): not a server error.
        conn.log.debug({ kind: err.kind, reason: err.message }, "session ended on an input error");
      } else {
        audit(conn.log, "session.error", { error: (err as Error).message, stack: (err as Error).stack }, "error");
      }
      conn.destroy();
    }
    await conn.finished;
  }

  private refuse(l: BoundListener, socket: Socket, reason: RefusalReason, fields: Record<string, unknown>): void {
    audit(this.log, "conn.refused", { ...fields, reason }, "warn");
    if (l.info.tls === "implicit") {
      // No handshake for a refused client: close at once.
      socket.destroy();
      return;
    }
    // Drop whatever the client sends meanwhile, so closing does not reset the connection before
    // it reads the refusal.
    socket.resume();
    socket.end(l.handler.refusal(reason));
    setTimeout(() => socket.destroy(), 5000).unref();
  }
}

function listen(server: Server, o: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(o, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function hostHasIpv6(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.family === "IPv6"));
}

type HeaderRead =
  | { kind: "ok"; consumed: number; version: 1 | 2; source: ProxyEndpoint | null }
  | { kind: "refused"; reason: string };

/** Reads a PROXY header from a paused socket; the bytes after it are put back (unshift). */
function readProxyHeader(socket: Socket, timeoutMs: number): Promise<HeaderRead> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (r: HeaderRead): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.pause();
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.kind === "need-more") {
        if (buf.length > Math.max(PROXY_V1_MAX, PROXY_V2_MAX)) finish({ kind: "refused", reason: "PROXY header too long" });
        return;
      }
      if (r.kind === "invalid") return finish({ kind: "refused", reason: `invalid PROXY header: ${r.reason}` });
      const rest = buf.subarray(r.consumed);
      finish({ kind: "ok", consumed: r.consumed, version: r.version, source: r.source });
      if (rest.length > 0) socket.unshift(rest);
    };
    const onEnd = (): void => finish({ kind: "refused", reason: "connection closed before the PROXY header" });
    const timer = setTimeout(() => finish({ kind: "refused", reason: "no PROXY header in time" }), timeoutMs);
    timer.unref();
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.resume();
  });
}
