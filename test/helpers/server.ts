// End-to-end test harness: starts a real Portcullis on 127.0.0.1 with a fresh data directory.
//
// The data directory is made by the same code path as `portcullis init` (src/config/init.ts),
// then loaded by the same loader as `portcullis serve` (src/config/load.ts), and the server is
// started by the same `startServer` (src/server.ts). Differences from an operator's setup, all on
// purpose: every listener is on port 0 and bound to 127.0.0.1; the host name is "localhost"; the
// domains are "example.test" and "localhost"; the TLS certificate and DKIM key are generated once
// per test process and reused (RSA key generation is slow on a shared machine); audit log lines
// are captured in memory (events()) instead of going to stdout.
//
// `config` overrides are TOML-shaped (the same keys as portcullis.toml) and are written as the
// drop-in portcullis.d/90-test.toml, so they are merged and validated like an operator's.

import { mkdtemp, rm, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { stringify as stringifyToml } from "smol-toml";
import { initDataDir, generateTlsCertificate, generateDkimPrivateKey, type TlsMaterial } from "../../src/config/init.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { createLogger } from "../../src/log/audit.js";
import { startServer } from "../../src/server.js";
import { makeCredentials } from "../../src/auth/index.js";
import type { Services } from "../../src/services.js";
import type { Account } from "../../src/store/types.js";

export interface TestPorts {
  smtp: number;
  submission: number;
  submissions: number;
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
  /** The admin http listener (health, metrics, autoconfiguration). */
  admin: number;
}

export interface TestServer {
  host: "127.0.0.1";
  dataDir: string;
  config: Config;
  services: Services;
  /** Bound ports; 0 for a listener whose protocol module does not exist yet (IMAP this session). */
  ports: TestPorts;
  /** The server's self-signed certificate (PEM); trust it as the CA. SAN: localhost, 127.0.0.1, ::1. */
  caCert: string;
  certFile: string;
  domain: "example.test";
  /** Creates an account (with INBOX and the special-use mailboxes) with this password. */
  addUser(address: string, password: string): Promise<Account>;
  /** Every log line so far, parsed (audit events have an `event` field). */
  events(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Raw TOML-shaped overrides, deep-merged over the generated portcullis.toml. */
  config?: Record<string, unknown>;
}

let material: Promise<{ tls: TlsMaterial; dkimKey: string }> | null = null;
function sharedMaterial(): Promise<{ tls: TlsMaterial; dkimKey: string }> {
  material ??= (async () => ({ tls: await generateTlsCertificate("localhost"), dkimKey: await generateDkimPrivateKey() }))();
  return material;
}

/** A writable stream that keeps each JSON line it receives, parsed. */
class LineCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  private partial = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const text = this.partial + chunk.toString();
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      if (line.trim() === "") continue;
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ unparsed: line });
      }
    }
    cb();
  }
}

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), "portcullis-test-"));
  const cleanup = () => rm(root, { recursive: true, force: true });
  try {
    const { tls, dkimKey } = await sharedMaterial();
    const init = await initDataDir({
      dataDir: join(root, "data"),
      domain: "example.test",
      hostname: "localhost",
      extraDomains: ["localhost"],
      zeroPorts: true,
      addresses: ["127.0.0.1"],
      tls,
      dkimKey,
    });
    if (o.config && Object.keys(o.config).length > 0) {
      await mkdir(join(init.dataDir, "portcullis.d"), { mode: 0o700 });
      await writeFile(join(init.dataDir, "portcullis.d", "90-test.toml"), stringifyToml(o.config), { mode: 0o600 });
    }
    const loaded = await loadConfig(init.configFile);
    const capture = new LineCapture();
    const log = createLogger({ level: loaded.config.log.level, destination: capture });
    const running = await startServer({ config: loaded.config, dataDir: loaded.dataDir, log });
    const p = running.ports();
    const port = (name: keyof TestPorts): number => p[name] ?? 0;
    let stopped: Promise<void> | null = null;
    return {
      host: "127.0.0.1",
      dataDir: loaded.dataDir,
      config: loaded.config,
      services: running.services,
      ports: {
        smtp: port("smtp"),
        submission: port("submission"),
        submissions: port("submissions"),
        imap: port("imap"),
        imaps: port("imaps"),
        pop3: port("pop3"),
        pop3s: port("pop3s"),
        admin: port("admin"),
      },
      caCert: tls.cert,
      certFile: init.certFile,
      domain: "example.test",
      async addUser(address: string, password: string): Promise<Account> {
        return running.services.store.createAccount(address, { credentials: await makeCredentials(password) });
      },
      events: () => capture.lines.slice(),
      stop(): Promise<void> {
        stopped ??= (async () => {
          try {
            await running.stop(2_000);
          } finally {
            await cleanup();
          }
        })();
        return stopped;
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
