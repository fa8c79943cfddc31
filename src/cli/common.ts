// Shared pieces of the command-line interface: the --config option, loading the configuration
// and the store for a command, reading passwords, and errors that become an exit status.
//
// Invariants: every command takes --config; messages for the operator go to stderr, results to
// stdout; a password is read without echo (or from stdin with --password-stdin) and never printed
// or logged.

import type { Command } from "commander";
import { loadConfig, resolveConfigPath, type LoadedConfig } from "../config/load.js";
import { createLogger, type AuditLogger } from "../log/audit.js";
import { openStore } from "../store/index.js";
import type { Store } from "../store/types.js";

/** An error the CLI reports as one message (no stack) with an exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const CONFIG_HELP = "configuration file (default: $PORTCULLIS_CONFIG, then ./data/portcullis.toml)";

/** Adds --config FILE to a command. */
export function withConfig(cmd: Command): Command {
  return cmd.option("--config <file>", CONFIG_HELP);
}

/** The --config value of a command or of the program. */
export function configPath(cmd: Command): string {
  const o = cmd.optsWithGlobals<{ config?: string }>();
  return resolveConfigPath(o.config);
}

export async function loadFor(cmd: Command): Promise<LoadedConfig> {
  return loadConfig(configPath(cmd));
}

/** The logger of one-shot commands: JSON on stderr, warnings and worse only. */
export function cliLogger(): AuditLogger {
  return createLogger({ level: "warn", destination: process.stderr });
}

/** Runs `fn` with the configuration and an open store, closing the store afterwards. */
export async function withStore<T>(cmd: Command, fn: (c: { loaded: LoadedConfig; store: Store; log: AuditLogger }) => Promise<T>): Promise<T> {
  const loaded = await loadFor(cmd);
  const log = cliLogger();
  const store = await openStore(loaded.dataDir, { log });
  try {
    return await fn({ loaded, store, log });
  } finally {
    await store.close();
  }
}

/** Lower-cases and checks an address local@domain (RFC 5321 §4.1.2, dot-atom local parts only). */
export function normalizeAddress(input: string): { address: string; local: string; domain: string } {
  const a = input.trim().toLowerCase();
  const m = /^([a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@([a-z0-9.-]+)$/.exec(a);
  if (!m || m[1]!.length > 64 || a.length > 254) throw new CliError(`not a valid address: ${JSON.stringify(input)} (expected local@domain)`);
  return { address: a, local: m[1]!, domain: m[2]!.replace(/\.$/, "") };
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads one line from the terminal without echo. */
export function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return Promise.reject(new CliError("no terminal to prompt for the password; pipe it with --password-stdin"));
  return new Promise((resolvePw, reject) => {
    let value = "";
    const done = (err: Error | null): void => {
      input.setRawMode(false);
      input.pause();
      input.off("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolvePw(value);
    };
    const onData = (buf: Buffer): void => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(null);
        if (ch === "\u0003") return done(new CliError("cancelled", 130));
        if (ch === "\u0004" && value === "") return done(new CliError("cancelled", 1));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " ") value += ch;
      }
    };
    input.setRawMode(true); // no echo, byte by byte; the prompt is shown only once echo is off
    process.stderr.write(prompt);
    input.resume();
    input.on("data", onData);
  });
}

/** The new password: the first line of stdin with --password-stdin, else prompted twice. */
export async function readNewPassword(o: { passwordStdin?: boolean }): Promise<string> {
  if (o.passwordStdin) {
    const text = await readAllStdin();
    const pw = text.split(/\r?\n/)[0] ?? "";
    if (pw === "") throw new CliError("no password on stdin");
    return pw;
  }
  const a = await promptHidden("New password: ");
  const b = await promptHidden("Repeat password: ");
  if (a !== b) throw new CliError("the passwords do not match");
  return a;
}

/** A table with left-aligned columns. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}
