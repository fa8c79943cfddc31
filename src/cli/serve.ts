// `portcullis serve` (run the server in the foreground) and `portcullis quickstart` (what
// `npm start` runs: a demo setup under ./data on first use, then serve).
//
// Invariants: the process umask is 077 before any file is created; serve refuses to start while
// its data, config or keys are open to other users (threat model §5) and names the fix for each;
// SIGTERM/SIGINT stop within server.shutdown_timeout and exit 0; SIGHUP reloads the TLS files.

import type { Command } from "commander";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, relative } from "node:path";
import { loadConfig } from "../config/load.js";
import { checkPermissions, formatProblems, keyFiles } from "../config/permissions.js";
import { insecureSettings } from "../config/schema.js";
import { initDataDir } from "../config/init.js";
import { audit, createLogger } from "../log/audit.js";
import { openStore } from "../store/index.js";
import { makeCredentials, checkPasswordStrength } from "../auth/index.js";
import { CliError, withConfig, configPath, out, cliLogger } from "./common.js";

/** Runs the server until SIGTERM/SIGINT. Resolves never; exits the process. */
export async function serve(file: string): Promise<void> {
  process.umask(0o077);
  const { config, files, dataDir } = await loadConfig(file);
  const problems = await checkPermissions({ dataDir, configFiles: files, keys: await keyFiles(config, dataDir) });
  if (problems.length > 0) {
    throw new CliError(`refusing to start: ${problems.length === 1 ? "a file is" : "files are"} open to other users or missing\n${formatProblems(problems)}`);
  }
  const log = createLogger({ level: config.log.level });
  const { startServer } = await import("../server.js"); // loaded only here: the other commands do not need the protocols
  const running = await startServer({ config, dataDir, log });
  // Through the server's logger, so that the warnings also reach the metrics and the remote collector.
  for (const setting of insecureSettings(config)) audit(running.services.log, "server.config.insecure", { setting }, "warn");

  process.on("SIGHUP", () => {
    running.gate.reloadTls().catch((e: unknown) => log.error({ err: e }, "TLS reload failed"));
  });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineMs: config.server.shutdown_timeout }, "shutting down");
    // Last resort if stop() itself hangs past its deadline.
    setTimeout(() => {
      log.error({ signal }, "shutdown did not finish in time; exiting");
      process.exit(1);
    }, config.server.shutdown_timeout + 5_000).unref();
    running.stop(config.server.shutdown_timeout).then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, "error while shutting down");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  await new Promise<never>(() => undefined);
}

/** A random password for the demo user: 120 bits, URL-safe characters. */
function randomPassword(): string {
  return randomBytes(15).toString("base64url");
}

export function registerServe(program: Command): void {
  withConfig(
    program
      .command("serve")
      .description("run the server in the foreground; JSON logs on stdout; SIGTERM stops, SIGHUP reloads TLS"),
  ).action(async (_o: unknown, cmd: Command) => {
    await serve(configPath(cmd));
  });

  withConfig(
    program
      .command("quickstart")
      .description("first run: create a demo setup in ./data (domain localhost, ports 10000+, user demo@localhost), then serve"),
  ).action(async (_o: unknown, cmd: Command) => {
    process.umask(0o077);
    const file = configPath(cmd);
    if (!existsSync(file)) {
      if (basename(file) !== "portcullis.toml") throw new CliError(`${file} does not exist; quickstart creates <dir>/portcullis.toml only`);
      const r = await initDataDir({ dataDir: dirname(file), domain: "localhost", hostname: "localhost", portBase: 10_000, log: cliLogger() });
      const password = randomPassword();
      const strength = await checkPasswordStrength(password, { address: "demo@localhost" });
      if (!strength.ok) throw new Error(`generated demo password refused: ${strength.reason}`);
      const store = await openStore(r.dataDir, { log: cliLogger() });
      try {
        await store.createAccount("demo@localhost", { credentials: await makeCredentials(password) });
      } finally {
        await store.close();
      }
      const p = r.ports;
      const cert = relative(process.cwd(), r.certFile) || r.certFile;
      out(
        [
          `Created a demo setup in ${r.dataDir}`,
          "",
          `Demo login: demo@localhost / ${password}`,
          "(shown this once; change it with `portcullis user passwd demo@localhost`)",
          "",
          `SMTP (MX) localhost:${p.smtp}  submission: ${p.submission} (STARTTLS), ${p.submissions} (TLS)`,
          `IMAP      localhost:${p.imap} (STARTTLS), ${p.imaps} (TLS)`,
          `POP3      localhost:${p.pop3} (STLS), ${p.pop3s} (TLS)`,
          `TLS certificate (self-signed; trust it in your client): ${cert}`,
          "",
        ].join("\n"),
      );
    } else {
      out(`Using the existing setup ${file} (the demo password was shown when it was created).`);
    }
    await serve(file);
  });
}

