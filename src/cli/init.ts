// `portcullis init`: creates a new setup (see src/config/init.ts for what and how).

import { InvalidArgumentError, type Command } from "commander";
import { dirname, basename, relative } from "node:path";
import { initDataDir, InitError, type InitResult } from "../config/init.js";
import { CliError, CONFIG_HELP, out, cliLogger, configPath } from "./common.js";

export function parsePortBase(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n + 995 > 65535) throw new InvalidArgumentError(`a number from 0 to ${65535 - 995}`);
  return n;
}

/** What init tells the operator. */
export function describeInit(r: InitResult): string {
  const rel = (p: string): string => relative(r.dataDir, p);
  const lines = [
    `Created ${r.dataDir} (mode 0700):`,
    `  ${rel(r.configFile)}  configuration (0600)`,
    `  ${rel(r.certFile)}, ${rel(r.keyFile)}  self-signed TLS certificate for ${r.hostname}, localhost, 127.0.0.1 (0600, valid 825 days)`,
    `  ${rel(r.dkimFile)}  DKIM key for ${r.domains[0]} (0600)`,
    `  the store, with domain ${r.domains.join(", ")}`,
    "",
    "Listeners:",
    ...Object.entries(r.ports).map(([name, port]) => `  ${name.padEnd(12)} ${port}${name === "admin" ? " (127.0.0.1 only)" : ""}`),
    "",
    "Publish this DNS record so that receivers can verify DKIM signatures:",
    `  ${r.dkimDnsRecord}`,
    "",
    `Next: portcullis user add you@${r.domains[0]} --config ${r.configFile}`,
    `      portcullis serve --config ${r.configFile}`,
  ];
  return lines.join("\n");
}

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("create a new setup: data directory, portcullis.toml, TLS certificate, DKIM key and store")
    .option("--data <dir>", "data directory to create (default: the directory of --config)")
    .requiredOption("--domain <domain>", "the first mail domain")
    .option("--hostname <name>", "the server's host name (default: mail.<domain>, or localhost)")
    .option("--port-base <n>", "add N to every standard port (e.g. 10000: SMTP on 10025)", parsePortBase)
    .option("--config <file>", CONFIG_HELP)
    .action(async (o: { data?: string; domain: string; hostname?: string; portBase?: number }, cmd: Command) => {
      let dataDir = o.data;
      if (!dataDir) {
        const file = configPath(cmd);
        if (basename(file) !== "portcullis.toml") throw new CliError(`init writes <dir>/portcullis.toml; pass --data DIR`);
        dataDir = dirname(file);
      }
      try {
        const r = await initDataDir({ dataDir, domain: o.domain, hostname: o.hostname, portBase: o.portBase ?? 0, log: cliLogger() });
        out(describeInit(r));
      } catch (e) {
        if (e instanceof InitError) throw new CliError(e.message);
        throw e;
      }
    });
}
