// `portcullis check [--store]`: validates the configuration and the file permissions and, with
// --store, the store's integrity (metadata, message bodies and the search index agree). Says exactly what is wrong
// and exits 1 if anything is.

import type { Command } from "commander";
import { loadConfig, ConfigError, type LoadedConfig } from "../config/load.js";
import { checkPermissions, keyFiles, formatProblems } from "../config/permissions.js";
import { insecureSettings } from "../config/schema.js";
import { openStore } from "../store/index.js";
import { withConfig, configPath, out, cliLogger } from "./common.js";

export function registerCheck(program: Command): void {
  withConfig(
    program
      .command("check")
      .description("validate the configuration and file permissions; exit 1 if anything is wrong")
      .option("--store", "also verify the store (metadata, message bodies and the search index agree)"),
  ).action(async (o: { store?: boolean }, cmd: Command) => {
    const file = configPath(cmd);
    let failed = false;
    let loaded: LoadedConfig;
    try {
      loaded = await loadConfig(file);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      out(`configuration: ${e.problems.length} problem(s)`);
      for (const p of e.problems) out(`  ${p}`);
      process.exitCode = 1;
      return;
    }
    out(`configuration: ok (${loaded.files.join(", ")})`);
    for (const s of insecureSettings(loaded.config)) out(`  warning (weakens security): ${s}`);

    const problems = await checkPermissions({ dataDir: loaded.dataDir, configFiles: loaded.files, keys: await keyFiles(loaded.config, loaded.dataDir) });
    if (problems.length === 0) out("permissions: ok");
    else {
      failed = true;
      out(`permissions: ${problems.length} problem(s)`);
      out(formatProblems(problems).replace(/^/gm, "  "));
    }

    if (o.store) {
      const store = await openStore(loaded.dataDir, { log: cliLogger() });
      try {
        const r = await store.checkIntegrity();
        if (r.ok && r.problems.length === 0) out(`store: ok (${r.messages} messages, ${r.blobs} message bodies)`);
        else {
          failed = true;
          out(`store: ${r.problems.length} problem(s) (${r.messages} messages, ${r.blobs} message bodies)`);
          for (const p of r.problems) out(`  ${p}`);
        }
      } finally {
        await store.close();
      }
    }
    if (failed) process.exitCode = 1;
  });
}
