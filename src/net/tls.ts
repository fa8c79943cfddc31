// TLS for every listener: the server's secure contexts (default certificate plus SNI entries),
// built from config.tls with files relative to the data directory, reloaded on demand (SIGHUP,
// `reloadTls`) and when the files change; plus the handshake used for implicit TLS and STARTTLS,
// and the tls-exporter channel binding for SCRAM-*-PLUS.
//
// Invariants:
// - TLS 1.2 is the oldest version ever accepted (threat model §1, RFC 8996); 1.2 uses only
//   ECDHE with AES-GCM or ChaCha20-Poly1305, in the server's order.
// - A reload that fails (missing file, key not matching the certificate) keeps the contexts in
//   use and logs tls.reload.failed; handshakes in progress and established connections keep the
//   context they started with.
// - File watching is debounced: an editor or certbot replacing cert and key in two steps
//   triggers one reload, after both are written.

import { createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";
import type { Socket } from "node:net";
import type { Config } from "../config/schema.js";
import { audit, type AuditLogger } from "../log/audit.js";
import { TLS_HANDSHAKE_TIMEOUT_MS } from "./limits.js";
import type { TlsInfo } from "./types.js";

/** TLS 1.3 suites (all AEAD), then TLS 1.2: forward secrecy (ECDHE) and AEAD only. */
export const TLS_CIPHERS = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_GCM_SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
].join(":");

type TlsConfig = Config["tls"];

interface LoadedContexts {
  default: SecureContext;
  /** Lower-case exact names and "*.domain" wildcards. */
  sni: Map<string, SecureContext>;
  certs: Array<{ name: string; subject: string; validTo: string; fingerprint256: string }>;
}

export class TlsManager {
  private current: LoadedContexts;
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | null = null;
  private reloading: Promise<boolean> | null = null;

  private constructor(
    private readonly config: TlsConfig,
    private readonly dataDir: string,
    private readonly log: AuditLogger,
    loaded: LoadedContexts,
  ) {
    this.current = loaded;
  }

  /** Loads the certificates; throws (with the file named) when they cannot be used. */
  static async load(o: { config: TlsConfig; dataDir: string; log: AuditLogger }): Promise<TlsManager> {
    const loaded = await loadContexts(o.config, o.dataDir);
    audit(o.log, "tls.reload", { initial: true, certificates: loaded.certs });
    return new TlsManager(o.config, o.dataDir, o.log, loaded);
  }

  get context(): SecureContext {
    return this.current.default;
  }

  /** Picks the context for an SNI name: exact match, then a "*.parent" wildcard, else default. */
  contextFor(servername: string | null | undefined): SecureContext {
    if (!servername) return this.current.default;
    const name = servername.toLowerCase().replace(/\.$/, "");
    const exact = this.current.sni.get(name);
    if (exact) return exact;
    const dot = name.indexOf(".");
    if (dot > 0) {
      const wild = this.current.sni.get(`*${name.slice(dot)}`);
      if (wild) return wild;
    }
    return this.current.default;
  }

  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };

  /** Re-reads the certificate files. Returns false (and keeps the old contexts) on failure. */
  reload(): Promise<boolean> {
    // Coalesce concurrent reloads (SIGHUP during a watch-triggered one).
    this.reloading ??= (async () => {
      try {
        const loaded = await loadContexts(this.config, this.dataDir);
        this.current = loaded;
        audit(this.log, "tls.reload", { certificates: loaded.certs });
        return true;
      } catch (err) {
        audit(this.log, "tls.reload.failed", { error: (err as Error).message }, "error");
        return false;
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  /** Watches the directories holding the certificate and key files (files are often replaced
   * by rename, which a watch on the file itself would miss) and reloads after `debounceMs`. */
  watch(debounceMs = 1000): void {
    if (this.watchers.length > 0) return;
    const files = [this.config.cert, this.config.key, ...this.config.sni.flatMap((s) => [s.cert, s.key])].map((f) =>
      path.resolve(this.dataDir, f),
    );
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const d = path.dirname(f);
      if (!byDir.has(d)) byDir.set(d, new Set());
      byDir.get(d)!.add(path.basename(f));
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename !== null && !names.has(filename.toString())) return;
          if (this.debounce) clearTimeout(this.debounce);
          this.debounce = setTimeout(() => {
            this.debounce = null;
            void this.reload();
          }, debounceMs);
          this.debounce.unref();
        });
        w.on("error", (err) => audit(this.log, "tls.reload.failed", { error: `watching ${dir}: ${err.message}` }, "warn"));
        this.watchers.push(w);
      } catch (err) {
        audit(this.log, "tls.reload.failed", { error: `cannot watch ${dir}: ${(err as Error).message}` }, "warn");
      }
    }
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = null;
  }
}

async function loadContexts(config: TlsConfig, dataDir: string): Promise<LoadedContexts> {
  const make = async (name: string, certFile: string, keyFile: string) => {
    const certPath = path.resolve(dataDir, certFile);
    const keyPath = path.resolve(dataDir, keyFile);
    let cert: Buffer;
    let key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
    } catch (err) {
      throw new Error(`TLS certificate for ${name}: ${(err as Error).message}`);
    }
    let ctx: SecureContext;
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
      ctx = createSecureContext({
        cert,
        key,
        minVersion: config.min_version, // RFC 8996: never below TLS 1.2
        ciphers: TLS_CIPHERS,
        honorCipherOrder: true,
        ecdhCurve: "X25519:P-256:P-384",
      });
    } catch (err) {
      throw new Error(`TLS certificate for ${name} (${certPath}, ${keyPath}): ${(err as Error).message}`);
    }
    return { ctx, info: { name, subject: x509.subject.replace(/\n/g, ", "), validTo: x509.validTo, fingerprint256: x509.fingerprint256 } };
  };
  const main = await make("default", config.cert, config.key);
  const sni = new Map<string, SecureContext>();
  const certs = [main.info];
  for (const entry of config.sni) {
    const c = await make(entry.name, entry.cert, entry.key);
    sni.set(entry.name.toLowerCase().replace(/\.$/, ""), c.ctx);
    certs.push(c.info);
  }
  return { default: main.ctx, sni, certs };
}

/** Runs the server side of a TLS handshake over an accepted socket (implicit TLS, or STARTTLS
 * after the reader let go of it). Bytes the socket already holds are fed to TLS by Node. Rejects
 * on error, on close and after `timeoutMs`; the caller destroys the socket. */
export function serverHandshake(socket: Socket, mgr: TlsManager, timeoutMs = TLS_HANDSHAKE_TIMEOUT_MS): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = new TLSSocket(socket, {
      isServer: true,
      secureContext: mgr.context,
      SNICallback: mgr.sniCallback,
      requestCert: false,
      rejectUnauthorized: false,
    });
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      t.off("secure", onSecure);
      t.off("error", onError);
      t.off("close", onClose);
      if (err) {
        t.on("error", () => {}); // late errors of a dead handshake
        reject(err);
      } else resolve(t);
    };
    const onSecure = (): void => done(null);
    const onError = (err: Error): void => done(err);
    const onClose = (): void => done(new Error("connection closed during the TLS handshake"));
    const timer = setTimeout(() => done(new Error(`TLS handshake not completed within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    t.once("secure", onSecure);
    t.once("error", onError);
    t.once("close", onClose);
  });
}

export function tlsInfo(t: TLSSocket): TlsInfo {
  const servername = (t as TLSSocket & { servername?: string | false }).servername;
  return {
    version: t.getProtocol() ?? "unknown",
    cipher: t.getCipher()?.standardName ?? t.getCipher()?.name ?? "unknown",
    servername: typeof servername === "string" && servername.length > 0 ? servername : null,
  };
}

/** tls-exporter channel binding (RFC 9266 §2): 32 octets exported with the label
 * "EXPORTER-Channel-Binding" and an empty context; defined for TLS 1.3 only (RFC 9266 §3), so
 * null on TLS 1.2 (where tls-unique would be needed and is not offered). */
export function tlsExporter(t: TLSSocket): Buffer | null {
  if (t.getProtocol() !== "TLSv1.3") return null;
  try {
    return t.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0));
  } catch {
    return null;
  }
}
