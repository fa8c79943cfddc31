// File-permission check run by `serve` and `check` (threat model §5): the data directory, the
// configuration files, the TLS keys and the DKIM keys must belong to the user running Portcullis
// and must not be accessible to group or others (directories 0700, files 0600 or stricter).
//
// Each problem carries the exact shell command that fixes it. The check only reads metadata; it
// never changes a mode itself (an operator should see and run the fix).

import { stat, readdir } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { Config } from "./schema.js";

export interface PermissionProblem {
  path: string;
  /** What is wrong, in words ("readable by group and others (mode 0644)"). */
  problem: string;
  /** The command that fixes it ("chmod 600 /path"). */
  fix: string;
}

export interface PermissionTargets {
  dataDir: string;
  configFiles: string[];
  /** Private keys: TLS key(s) and DKIM keys. */
  keys: string[];
}

/** Quotes a path for a POSIX shell when it needs it. */
export function shellQuote(p: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

function who(mode: number): string {
  const g = (mode & 0o070) !== 0;
  const o = (mode & 0o007) !== 0;
  return g && o ? "group and others" : g ? "group" : "others";
}

/** The private keys the configuration names (TLS, SNI, the remote log's client key), plus every
 * DKIM key under <data>/dkim. */
export async function keyFiles(config: Config, dataDir: string): Promise<string[]> {
  const keys = [config.tls.key, ...config.tls.sni.map((s) => s.key)];
  if (config.log.remote?.key !== undefined) keys.push(config.log.remote.key);
  const dkimDir = join(dataDir, "dkim");
  try {
    for (const n of (await readdir(dkimDir)).sort()) if (n.endsWith(".pem")) keys.push(join(dkimDir, n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return keys;
}

/** Checks ownership and modes. An empty list means all is well. */
export async function checkPermissions(t: PermissionTargets, o: { uid?: number; user?: string } = {}): Promise<PermissionProblem[]> {
  const uid = o.uid ?? process.getuid?.() ?? -1;
  const user = o.user ?? userInfo().username;
  const problems: PermissionProblem[] = [];
  const seen = new Set<string>();
  const check = async (path: string, kind: "dir" | "file", what: string): Promise<void> => {
    if (seen.has(path)) return;
    seen.add(path);
    const q = shellQuote(path);
    let st;
    try {
      st = await stat(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push({
        path,
        problem: code === "ENOENT" ? `${what} does not exist` : `${what} cannot be read (${code})`,
        fix: code === "ENOENT" ? (kind === "dir" ? `mkdir -m 700 ${q}` : `create it (portcullis init) or fix the path in the configuration`) : `chown ${user} ${q}`,
      });
      return;
    }
    if (kind === "dir" && !st.isDirectory()) {
      problems.push({ path, problem: `${what} is not a directory`, fix: `point server.data_dir at a directory` });
      return;
    }
    if (kind === "file" && !st.isFile()) {
      problems.push({ path, problem: `${what} is not a regular file`, fix: `point the configuration at a regular file` });
      return;
    }
    if (uid >= 0 && st.uid !== uid) {
      problems.push({ path, problem: `${what} is owned by uid ${st.uid}, not by ${user} (uid ${uid}) who runs Portcullis`, fix: `chown ${user} ${q}` });
    }
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      const want = kind === "dir" ? "700" : "600";
      problems.push({
        path,
        problem: `${what} is accessible to ${who(mode)} (mode 0${mode.toString(8).padStart(3, "0")})`,
        fix: `chmod ${want} ${q}`,
      });
    }
  };
  await check(t.dataDir, "dir", "data directory");
  for (const f of t.configFiles) await check(f, "file", "configuration file");
  for (const k of t.keys) await check(k, "file", "private key");
  return problems;
}

/** One line per problem: "<problem>: <path>\n    fix: <command>". */
export function formatProblems(problems: PermissionProblem[]): string {
  return problems.map((p) => `${p.path}: ${p.problem}\n    fix: ${p.fix}`).join("\n");
}
