// The `portcullis` command line (bin/portcullis runs the compiled form of this file).
//
// One file per command group; each registers its commands on the program. Errors the operator can
// act on (CliError, ConfigError) are printed as one message without a stack trace; the exit status
// is 0 on success and non-zero otherwise.

import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/load.js";
import { CliError, CONFIG_HELP } from "./common.js";
import { registerInit } from "./init.js";
import { registerServe } from "./serve.js";
import { registerUsers } from "./users.js";
import { registerDomains } from "./domains.js";
import { registerAliases } from "./aliases.js";
import { registerCheck } from "./check.js";
import { registerBans } from "./bans.js";
import { registerQueue } from "./queue.js";
import { registerDns } from "./dns.js";

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function buildProgram(): Command {
  const program = new Command("portcullis")
    .description("Portcullis: a secure, self-hosted mail server (SMTP, IMAP, POP3)")
    .version(version())
    .option("--config <file>", CONFIG_HELP)
    .showHelpAfterError()
    .exitOverride();
  registerInit(program);
  registerServe(program);
  registerUsers(program);
  registerDomains(program);
  registerAliases(program);
  registerCheck(program);
  registerBans(program);
  registerQueue(program);
  registerDns(program);
  // Subcommands inherit exitOverride only when set before they are added; set it on every one.
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  process.umask(0o077); // everything any command creates is private to this user (threat model §5)
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander already printed the message or help
    if (e instanceof ConfigError) {
      process.stderr.write(`portcullis: configuration error:\n  ${e.problems.join("\n  ")}\n`);
      return 1;
    }
    if (e instanceof CliError) {
      process.stderr.write(`portcullis: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`portcullis: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

process.exit(await main(process.argv));
