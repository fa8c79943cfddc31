// The admin HTTP listener: health, Prometheus metrics, client autoconfiguration and the MTA-STS
// policy (threat model §1 last row, §6). node:http only, no framework.
//
// It is not client mail input, so it does not pass through the gate; instead:
// - it binds loopback by default, and refuses a non-loopback address unless admin.allow_public
//   is set (which `insecureSettings` reports at start-up);
// - routes are a fixed table matched on the exact path: nothing maps a URL to a file, so there is
//   no traversal to get wrong;
// - only GET/HEAD (and POST for autodiscover) are allowed; request headers are capped
//   (maxHeaderSize, headers count), bodies are capped and refused where none is expected, and
//   node's headersTimeout/requestTimeout bound slow clients;
// - connections are capped; every response says nosniff and no-store.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../config/load.js";
import type { Store } from "../store/types.js";
import { audit, type AuditLogger } from "../log/audit.js";
import { TlsManager } from "../net/tls.js";
import { EXPOSITION_CONTENT_TYPE, type Metrics } from "./metrics.js";
import {
  appleProfile,
  autodiscoverRequestAddress,
  autodiscoverResponse,
  mtaStsPolicy,
  parseMailAddress,
  thunderbirdConfig,
  type ClientEndpoints,
} from "./autoconfig.js";

/** Request header block limit (bytes); over it node answers 431. */
export const MAX_HEADER_BYTES = 8 * 1024;
export const MAX_HEADERS_COUNT = 64;
/** Largest request body accepted (autodiscover POST). */
export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_CONNECTIONS = 64;
/** How long a health check waits for the store. */
const STORE_PROBE_MS = 2_000;

export type ListenerStatus = "up" | "down" | "not-implemented";

export interface AdminOptions {
  config: Config;
  dataDir: string;
  log: AuditLogger;
  store: Store;
  metrics: Metrics;
  /** Bound ports of the mail listeners (the gate's ports()). */
  mailPorts: () => Record<string, number>;
  /** Protocols that have a handler (listeners of other protocols stay closed on purpose). */
  servedProtocols: readonly string[];
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase();
  if (a === "::1") return true;
  const v4 = a.startsWith("::ffff:") ? a.slice(7) : a;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

interface Bound {
  name: string;
  server: Server;
  port: number;
}

export class AdminServer {
  private readonly bound: Bound[] = [];
  private tls: TlsManager | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly o: AdminOptions) {}

  /** The http listeners to open: name, addresses (loopback when not configured). Throws when one
   * would be bound to a non-loopback address without admin.allow_public. */
  static plan(config: Config): Array<{ name: string; port: number; addresses: string[]; tls: boolean }> {
    const out: Array<{ name: string; port: number; addresses: string[]; tls: boolean }> = [];
    for (const [name, l] of Object.entries(config.listeners)) {
      if (!l.enabled || l.protocol !== "http") continue;
      const addresses = l.addresses && l.addresses.length > 0 ? l.addresses : ["127.0.0.1"];
      const open = addresses.filter((a) => !isLoopback(a));
      if (open.length > 0 && !config.admin.allow_public) {
        throw new ConfigError([
          `listener ${name}: refusing to bind the admin (http) listener to ${open.join(", ")}: not a loopback address. ` +
            `Health, metrics and autoconfiguration are meant for a local reverse proxy; set admin.allow_public = true to expose them.`,
        ]);
      }
      out.push({ name, port: l.port, addresses, tls: l.tls === "implicit" });
    }
    return out;
  }

  async start(): Promise<void> {
    const plan = AdminServer.plan(this.o.config);
    try {
      for (const p of plan) {
        for (const address of p.addresses) {
          const server = p.tls ? await this.httpsServer() : createHttpServer(this.serverOptions());
          this.harden(server);
          await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen({ host: address, port: p.port, exclusive: true }, () => {
              server.off("error", reject);
              resolve();
            });
          });
          const addr = server.address();
          const port = typeof addr === "object" && addr ? addr.port : p.port;
          this.bound.push({ name: p.name, server, port });
          audit(this.o.log, "listener.open", { listener: p.name, protocol: "http", address, port, tls: p.tls ? "implicit" : "none" });
        }
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Listener name -> bound port (of its first address). */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const b of this.bound) out[b.name] ??= b.port;
    return out;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(
        this.bound.map(
          (b) =>
            new Promise<void>((resolve) => {
              b.server.close(() => resolve());
              b.server.closeAllConnections();
            }),
        ),
      );
      this.tls?.close();
    })();
    return this.stopping;
  }

  private serverOptions(): { maxHeaderSize: number; requestTimeout: number; headersTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number } {
    const t = this.o.config.admin.request_timeout;
    return {
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: t,
      headersTimeout: t,
      keepAliveTimeout: Math.min(5_000, t),
      // Node checks the two timeouts above on this interval (default 30 s): keep it well under them.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(t / 4))),
    };
  }

  private async httpsServer(): Promise<Server> {
    this.tls ??= await TlsManager.load({ config: this.o.config.tls, dataDir: this.o.dataDir, log: this.o.log });
    const mgr = this.tls;
    const [cert, key] = await Promise.all([readFile(this.o.config.tls.cert), readFile(this.o.config.tls.key)]);
    return createHttpsServer({
      ...this.serverOptions(),
      cert,
      key,
      minVersion: this.o.config.tls.min_version,
      SNICallback: (name, cb) => cb(null, mgr.contextFor(name)),
    }) as unknown as Server;
  }

  private harden(server: Server): void {
    server.maxHeadersCount = MAX_HEADERS_COUNT;
    server.maxConnections = MAX_CONNECTIONS;
    server.maxRequestsPerSocket = 100;
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((e: unknown) => {
        this.o.log.error({ err: e, path: safePath(req.url) }, "admin request failed");
        if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "internal error\n");
        else res.destroy();
      });
    });
    server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      // Node's own answers for malformed, oversized or slow requests.
      if (!socket.writable) return socket.destroy();
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      const reason = status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request";
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://admin.invalid");
    } catch {
      return send(res, 400, "text/plain; charset=utf-8", "bad request\n");
    }
    const route = ROUTES[url.pathname] ?? ROUTES[url.pathname.toLowerCase()]; // autodiscover paths vary in case
    if (!route) {
      discardBody(req, res);
      return send(res, 404, "text/plain; charset=utf-8", "not found\n");
    }
    const allowed = route.method === "POST" ? ["POST"] : ["GET", "HEAD"];
    if (!allowed.includes(method)) {
      discardBody(req, res);
      res.setHeader("Allow", allowed.join(", "));
      return send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
    }
    if (route.method !== "POST" && hasBody(req)) {
      res.setHeader("Connection", "close");
      return send(res, 413, "text/plain; charset=utf-8", "no request body expected\n");
    }
    await route.run(this, req, res, url);
  }

  // --- route bodies (called from ROUTES) ---

  async health(res: ServerResponse, head: boolean): Promise<void> {
    const listeners: Record<string, { protocol: string; port: number | null; status: ListenerStatus }> = {};
    const mail = this.o.mailPorts();
    const admin = this.ports();
    let ok = true;
    for (const [name, l] of Object.entries(this.o.config.listeners)) {
      if (!l.enabled) continue;
      const port = l.protocol === "http" ? admin[name] : mail[name];
      let status: ListenerStatus;
      if (port !== undefined) status = "up";
      else if (l.protocol !== "http" && !this.o.servedProtocols.includes(l.protocol)) status = "not-implemented";
      else status = "down";
      if (status === "down") ok = false;
      listeners[name] = { protocol: l.protocol, port: port ?? null, status };
    }
    let store = "ok";
    try {
      await withTimeout(this.o.store.listDomains(), STORE_PROBE_MS);
    } catch (e) {
      store = e instanceof TimeoutError ? "timeout" : "error";
      ok = false;
    }
    const body = JSON.stringify({ status: ok ? "ok" : "fail", store, listeners }) + "\n";
    send(res, ok ? 200 : 503, "application/json; charset=utf-8", head ? null : body, Buffer.byteLength(body));
  }

  async metrics(res: ServerResponse, head: boolean): Promise<void> {
    const text = await this.o.metrics.render();
    send(res, 200, EXPOSITION_CONTENT_TYPE, head ? null : text, Buffer.byteLength(text));
  }

  /** Client endpoints: the bound port of the first enabled listener of each kind. */
  endpoints(): ClientEndpoints {
    const bound = this.o.mailPorts();
    const find = (protocol: string, tls: "implicit" | "starttls", role?: "submission"): number | null => {
      for (const [name, l] of Object.entries(this.o.config.listeners)) {
        if (!l.enabled || l.protocol !== protocol || l.tls !== tls) continue;
        if (role && l.smtp_role !== role) continue;
        if (bound[name] !== undefined) return bound[name]!;
      }
      return null;
    };
    return {
      hostname: this.o.config.server.hostname,
      imaps: find("imap", "implicit"),
      imapStarttls: find("imap", "starttls"),
      pop3s: find("pop3", "implicit"),
      pop3Starttls: find("pop3", "starttls"),
      submissions: find("smtp", "implicit", "submission"),
      submissionStarttls: find("smtp", "starttls", "submission"),
    };
  }

  /** The address if it is well-formed and in one of our domains, else null (the caller answers
   * 404). Only the domain is checked: whether the account exists is not revealed. */
  async localAddress(raw: string | null): Promise<{ address: string; domain: string } | null> {
    if (raw === null) return null;
    const a = parseMailAddress(raw.trim());
    if (!a) return null;
    return (await this.o.store.getDomain(a.domain)) ? { address: a.address, domain: a.domain } : null;
  }

  async thunderbird(res: ServerResponse, url: URL, head: boolean): Promise<void> {
    const a = await this.localAddress(url.searchParams.get("emailaddress"));
    if (!a) return send(res, 404, "text/plain; charset=utf-8", "unknown address\n");
    const xml = thunderbirdConfig(a.address, a.domain, this.endpoints());
    send(res, 200, "application/xml; charset=utf-8", head ? null : xml, Buffer.byteLength(xml));
  }

  async autodiscover(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === null) {
      res.setHeader("Connection", "close");
      return send(res, 413, "text/plain; charset=utf-8", "request body too large\n");
    }
    const a = await this.localAddress(autodiscoverRequestAddress(body));
    if (!a) return send(res, 404, "text/plain; charset=utf-8", "unknown address\n");
    send(res, 200, "application/xml; charset=utf-8", autodiscoverResponse(a.address, this.endpoints()));
  }

  async apple(res: ServerResponse, url: URL, head: boolean): Promise<void> {
    const a = await this.localAddress(url.searchParams.get("email"));
    if (!a) return send(res, 404, "text/plain; charset=utf-8", "unknown address\n");
    const plist = appleProfile(a.address, this.endpoints());
    if (!plist) return send(res, 404, "text/plain; charset=utf-8", "no implicit-TLS IMAP and submission listeners to configure\n");
    res.setHeader("Content-Disposition", `attachment; filename="${a.domain}.mobileconfig"`);
    send(res, 200, "application/x-apple-aspen-config; charset=utf-8", head ? null : plist, Buffer.byteLength(plist));
  }

  mtaSts(res: ServerResponse, head: boolean): void {
    const c = this.o.config.admin;
    const text = mtaStsPolicy({
      mode: c.mta_sts_mode,
      mx: c.mta_sts_mx.length > 0 ? c.mta_sts_mx : [this.o.config.server.hostname],
      maxAgeSeconds: Math.floor(c.mta_sts_max_age / 1000),
    });
    send(res, 200, "text/plain; charset=utf-8", head ? null : text, Buffer.byteLength(text)); // RFC 8461 §3.2 media type text/plain
  }
}

interface Route {
  method: "GET" | "POST";
  run(a: AdminServer, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

const isHead = (req: IncomingMessage): boolean => req.method === "HEAD";

/** The fixed route table. Keys are exact paths (lower-case for the case-insensitive ones). */
const ROUTES: Record<string, Route> = {
  "/healthz": { method: "GET", run: (a, req, res) => a.health(res, isHead(req)) },
  "/metrics": { method: "GET", run: (a, req, res) => a.metrics(res, isHead(req)) },
  "/mail/config-v1.1.xml": { method: "GET", run: (a, req, res, url) => a.thunderbird(res, url, isHead(req)) },
  "/.well-known/autoconfig/mail/config-v1.1.xml": { method: "GET", run: (a, req, res, url) => a.thunderbird(res, url, isHead(req)) },
  "/autodiscover/autodiscover.xml": { method: "POST", run: (a, req, res) => a.autodiscover(req, res) },
  "/apple/portcullis.mobileconfig": { method: "GET", run: (a, req, res, url) => a.apple(res, url, isHead(req)) },
  "/.well-known/mta-sts.txt": { method: "GET", run: async (a, req, res) => a.mtaSts(res, isHead(req)) },
};
Object.setPrototypeOf(ROUTES, null); // "/__proto__" and friends are not routes

function send(res: ServerResponse, status: number, type: string, body: string | null, length?: number): void {
  res.statusCode = status;
  res.setHeader("Content-Type", type);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Length", String(length ?? Buffer.byteLength(body ?? "")));
  res.end(body ?? undefined);
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (len !== undefined && len !== "0");
}

/** A response that will not read the request body closes the connection instead of draining it. */
function discardBody(req: IncomingMessage, res: ServerResponse): void {
  if (hasBody(req)) res.setHeader("Connection", "close");
}

/** Reads the body as UTF-8, or null when it is larger than `max` bytes (reading stops there). */
function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > max) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

class TimeoutError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}

/** The request path for a log line, bounded and without the query (which may carry an address). */
function safePath(url: string | undefined): string {
  return (url ?? "").split("?")[0]!.slice(0, 200);
}
