// Runs the real `portcullis` CLI (src/cli/main.ts through tsx) as a child process, as an operator
// would, and collects its exit status and output. Also a temp-dir helper for CLI tests.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(REPO, "src", "cli", "main.ts");
const TSX = import.meta.resolve("tsx");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
}

/** Starts the CLI without waiting for it (for `serve`). */
export function spawnCli(args: string[], o: CliOptions = {}): ChildProcess {
  const env: Record<string, string | undefined> = { ...process.env, PORTCULLIS_CONFIG: undefined, ...o.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return spawn(process.execPath, ["--import", TSX, MAIN, ...args], { cwd: o.cwd ?? tmpdir(), env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
}

/** Runs the CLI to completion. */
export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, o);
  return collect(child, o);
}

export function collect(child: ChildProcess, o: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end(o.input ?? "");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portcullis did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, o.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-cli-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
