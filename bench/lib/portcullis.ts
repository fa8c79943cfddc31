// Runs Portcullis as an operator does, as a `portcullis serve` child process, for the benchmarks
// and the crash/soak tests: a fresh setup made by the same code as `portcullis init`, users added
// through the store, every listener on port 0 bound to 127.0.0.1, and the bound ports read from
// the `server.start` audit event on the child's stdout.
//
// Invariants: only processes started here are signalled, by their pid; stop() always ends the
// child (SIGTERM, then SIGKILL after a deadline); a setup's directory is removed by its cleanup().

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initDataDir, generateTlsCertificate, generateDkimPrivateKey, type TlsMaterial } from "../../src/config/init.js";
import { openStore } from "../../src/store/index.js";
import { makeCredentials } from "../../src/auth/index.js";
import type { Store } from "../../src/store/types.js";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface Setup {
  root: string;
  dataDir: string;
  configFile: string;
  certPem: string;
  cleanup(): Promise<void>;
}

let material: Promise<{ tls: TlsMaterial; dkimKey: string }> | null = null;
function sharedMaterial(): Promise<{ tls: TlsMaterial; dkimKey: string }> {
  material ??= (async () => ({ tls: await generateTlsCertificate("localhost"), dkimKey: await generateDkimPrivateKey() }))();
  return material;
}

/** A fresh setup: domain example.test (+ localhost), listeners on port 0 at 127.0.0.1, `users`
 * created with their passwords, and `overridesToml` as the drop-in portcullis.d/90-bench.toml. */
export async function makeSetup(o: { users?: Array<[string, string]>; overridesToml?: string } = {}): Promise<Setup> {
  const root = await mkdtemp(join(tmpdir(), "portcullis-bench-"));
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
    if (o.overridesToml) {
      await mkdir(join(init.dataDir, "portcullis.d"), { mode: 0o700 });
      await writeFile(join(init.dataDir, "portcullis.d", "90-bench.toml"), o.overridesToml, { mode: 0o600 });
    }
    if (o.users && o.users.length > 0) {
      await withStore(init.dataDir, async (store) => {
        for (const [address, password] of o.users!) await store.createAccount(address, { credentials: await makeCredentials(password) });
      });
    }
    return { root, dataDir: init.dataDir, configFile: init.configFile, certPem: tls.cert, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Opens the setup's store (while no server runs on it), runs fn, closes it. */
export async function withStore<T>(dataDir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(dataDir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export interface Served {
  child: ChildProcess;
  pid: number;
  ports: Record<string, number>;
  /** The last lines of stdout/stderr (for diagnosis). */
  tail(): string;
  /** Audit events seen so far whose `event` is in `names`, counted. */
  count(name: string): number;
  /** Resident set size of the server process in bytes (from /proc). */
  rss(): number;
  /** Open file descriptors of the server process. */
  fds(): number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `deadlineMs`. */
  stop(deadlineMs?: number): Promise<void>;
  kill9(): Promise<void>;
}

/** How to run the CLI: the compiled one (dist/) when `compiled` and dist/ is up to date with
 * src/, else through tsx (a stale dist/ would run old code against a newer store). */
function cliCommand(compiled: boolean): string[] {
  const dist = join(REPO, "dist", "cli", "main.js");
  if (compiled && existsSync(dist) && !newerThan(join(REPO, "src"), statSync(dist).mtimeMs)) return [dist];
  return ["--import", import.meta.resolve("tsx"), join(REPO, "src", "cli", "main.ts")];
}

export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Starts `portcullis serve --config FILE` and resolves once it listens. */
export async function serve(configFile: string, o: { compiled?: boolean; timeoutMs?: number; nofile?: number } = {}): Promise<Served> {
  // With `nofile`, the child's open-file limit is raised through prlimit(1), which execs the
  // command in the same process (so `pid` is still the server's).
  // BENCH_NODE_ARGS: extra node flags for the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const args = [...nodeArgs, ...cliCommand(o.compiled ?? false), "serve", "--config", configFile];
  // The soft limit is raised up to the hard one (raising the hard limit needs privileges a
  // container often lacks).
  const limits = o.nofile !== undefined ? fileLimits() : null;
  const nofile = limits && o.nofile! > limits.soft ? Math.min(o.nofile!, limits.hard) : null;
  const usePrlimit = nofile !== null && nofile > limits!.soft && existsSync("/usr/bin/prlimit");
  const child = spawn(usePrlimit ? "/usr/bin/prlimit" : process.execPath, usePrlimit ? [`--nofile=${nofile}:${limits!.hard}`, process.execPath, ...args] : args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORTCULLIS_CONFIG: "" },
  });
  const pid = child.pid!;
  const lines: string[] = [];
  const counts = new Map<string, number>();
  let partial = "";
  let resolvePorts: (p: Record<string, number>) => void = () => undefined;
  const portsP = new Promise<Record<string, number>>((r) => (resolvePorts = r));
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 200) lines.shift();
  };
  child.stdout!.on("data", (d: Buffer) => {
    const parts = (partial + d.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      const m = /"event":"([a-z0-9.]+)"/.exec(line);
      if (!m) {
        keep(line);
        continue;
      }
      counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
      if (m[1] !== "conn.open" && m[1] !== "conn.close") keep(line);
      if (m[1] === "server.start") {
        try {
          resolvePorts((JSON.parse(line) as { ports: Record<string, number> }).ports);
        } catch {
          /* not JSON after all */
        }
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => keep(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  const tail = () => lines.slice(-40).join("\n");
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`portcullis serve did not start in time\n${tail()}`)), o.timeoutMs ?? 60_000).unref());
  const early = exited.then(({ code, signal }) => {
    throw new Error(`portcullis serve exited early (code ${code}, signal ${signal})\n${tail()}`);
  });
  let ports: Record<string, number>;
  try {
    ports = await Promise.race([portsP, timeout, early]);
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    throw e;
  }
  early.catch(() => undefined);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid,
    ports,
    tail,
    count: (name) => counts.get(name) ?? 0,
    rss: () => rssOf(pid),
    fds: () => {
      try {
        return readdirCount(`/proc/${pid}/fd`);
      } catch {
        return -1;
      }
    },
    exited,
    async stop(deadlineMs = 10_000) {
      if (!alive()) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => {
        if (alive()) child.kill("SIGKILL");
      }, deadlineMs);
      await exited;
      clearTimeout(t);
    },
    async kill9() {
      if (alive()) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** True when a .ts file under `dir` was modified after `ms` (dist/ is stale: run `npm run build`). */
function newerThan(dir: string, ms: number): boolean {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() ? newerThan(p, ms) : e.name.endsWith(".ts") && statSync(p).mtimeMs > ms) return true;
  }
  return false;
}

/** This process's open-file limits (inherited by children), from the shell's ulimit. */
export function fileLimits(): { soft: number; hard: number } {
  const read = (flag: string): number => {
    const r = spawnSync("sh", ["-c", `ulimit ${flag}`]);
    const v = r.stdout.toString().trim();
    return v === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(v) || 1024;
  };
  return { soft: read("-Sn"), hard: read("-Hn") };
}

function readdirCount(dir: string): number {
  return readdirSync(dir).length;
}

/** Runs the CLI to completion (e.g. `check --store`) and returns its exit code and output. */
export function runCli(args: string[], o: { compiled?: boolean; timeoutMs?: number } = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [...cliCommand(o.compiled ?? false), ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PORTCULLIS_CONFIG: "" } });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portcullis ${args.join(" ")} did not finish in time\n${output}`));
    }, o.timeoutMs ?? 120_000);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
  });
}
