// Loads the configuration: portcullis.toml plus the drop-ins portcullis.d/*.toml beside it.
//
// Invariants:
// - Files are merged in a fixed order: the main file first, then the drop-ins sorted by file name
//   (byte order, like systemd and nginx). Tables merge key by key; arrays and scalars replace.
// - Every key remembers the file that last set it, so that a validation error names the file the
//   operator must edit, the dotted key and what is allowed.
// - The merged result is validated once against `configSchema`; nothing else in Portcullis reads
//   the TOML files. Paths (server.data_dir, TLS certificates and keys) are made absolute relative
//   to the main file's directory, and the result is deep-frozen.

import { readFile, readdir } from "node:fs/promises";
import { dirname, join, resolve, isAbsolute } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { configSchema, type Config } from "./schema.js";

/** A configuration that cannot be used: one line per problem, each naming the file and the key. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} problems in the configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

export interface LoadedConfig {
  /** The validated, frozen configuration with absolute paths. */
  config: Config;
  /** Absolute path of the main file. */
  file: string;
  /** Every file read, in merge order (the main file first). */
  files: string[];
  /** Absolute path of the data directory (config.server.data_dir). */
  dataDir: string;
}

export type RawTable = Record<string, unknown>;

/** Where each key came from: JSON of its path -> file. */
export type Provenance = Map<string, string>;

/** Where the configuration file is: `--config FILE`, then $PORTCULLIS_CONFIG, then ./data/portcullis.toml. */
export function resolveConfigPath(flag?: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.PORTCULLIS_CONFIG) return resolve(env.PORTCULLIS_CONFIG);
  return resolve("data", "portcullis.toml");
}

/** The drop-in directory of a main config file: portcullis.d beside it. */
export function dropInDir(file: string): string {
  return join(dirname(file), "portcullis.d");
}

function isTable(v: unknown): v is RawTable {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype; // smol-toml makes null-prototype tables
}

/** Formats a key path as TOML would spell it: bare segments joined by dots, others quoted. */
export function dottedKey(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return "(top level)";
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : /^[A-Za-z0-9_-]+$/.test(String(p)) ? String(p) : JSON.stringify(String(p))))
    .join(".")
    .replace(/\.\[/g, "[");
}

function recordAll(prov: Provenance, path: PropertyKey[], value: unknown, file: string): void {
  prov.set(JSON.stringify(path), file);
  if (isTable(value)) for (const [k, v] of Object.entries(value)) recordAll(prov, [...path, k], v, file);
  else if (Array.isArray(value)) value.forEach((v, i) => recordAll(prov, [...path, i], v, file));
}

function forgetBelow(prov: Provenance, path: PropertyKey[]): void {
  const prefix = JSON.stringify(path).slice(0, -1);
  for (const k of [...prov.keys()]) if (k.startsWith(prefix + ",")) prov.delete(k);
}

/** Deep-merges `layer` into `base` (mutating it): tables merge, arrays and scalars replace. */
export function mergeInto(base: RawTable, layer: RawTable, file: string, prov: Provenance, path: PropertyKey[] = []): RawTable {
  for (const [key, value] of Object.entries(layer)) {
    const here = [...path, key];
    const old = base[key];
    if (isTable(old) && isTable(value)) {
      prov.set(JSON.stringify(here), file);
      mergeInto(old, value, file, prov, here);
    } else {
      forgetBelow(prov, here);
      base[key] = isTable(value) ? mergeInto({}, value, file, prov, here) : value;
      recordAll(prov, here, value, file);
    }
  }
  return base;
}

/** The file that set `path` (or its nearest table that some file set). */
export function whoSet(prov: Provenance, path: ReadonlyArray<PropertyKey>, fallback: string): string {
  for (let n = path.length; n > 0; n--) {
    const f = prov.get(JSON.stringify(path.slice(0, n)));
    if (f) return f;
  }
  return fallback;
}

// Walks the schema to list the keys allowed at a path (for "unknown key" messages).
type AnySchema = z.core.$ZodType;
function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (let i = 0; i < 10; i++) {
    const def = cur._zod.def as unknown as { type: string; innerType?: AnySchema; in?: AnySchema };
    if (def.innerType) cur = def.innerType;
    else if (def.type === "pipe" && def.in) cur = def.in;
    else break;
  }
  return cur;
}
export function allowedKeysAt(path: ReadonlyArray<PropertyKey>): string[] | null {
  let cur: AnySchema = configSchema;
  for (const seg of path) {
    cur = unwrap(cur);
    const def = cur._zod.def as unknown as { type: string; shape?: Record<string, AnySchema>; valueType?: AnySchema; element?: AnySchema };
    if (def.type === "object" && def.shape) {
      const next = def.shape[String(seg)];
      if (!next) return null;
      cur = next;
    } else if (def.type === "record" && def.valueType) cur = def.valueType;
    else if (def.type === "array" && def.element) cur = def.element;
    else return null;
  }
  const def = unwrap(cur)._zod.def as unknown as { type: string; shape?: Record<string, AnySchema> };
  return def.type === "object" && def.shape ? Object.keys(def.shape) : null;
}

/** Parses one TOML file; a syntax error names the file and line. */
export function parseTomlFile(text: string, file: string): RawTable {
  try {
    return parseToml(text) as RawTable;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
      throw new ConfigError([`${file}:${e.line}:${e.column}: TOML syntax error: ${first}\n${e.codeblock}`]);
    }
    throw e;
  }
}

const LOOPBACK = (a: string): boolean => /^127\.\d+\.\d+\.\d+$/.test(a) || a === "::1" || a === "localhost";

/** Rules that span several keys and so are not in the schema. */
function crossChecks(config: Config, prov: Provenance, main: string): string[] {
  const out: string[] = [];
  const where = (path: PropertyKey[]): string => `${dottedKey(path)} in ${whoSet(prov, path, main)}`;
  const bound: Array<{ name: string; port: number; addrs: string[] }> = [];
  for (const [name, l] of Object.entries(config.listeners)) {
    const p = ["listeners", name];
    if (l.protocol === "smtp" && !l.smtp_role) out.push(`${where([...p, "smtp_role"])}: required for an smtp listener; allowed: "mx", "submission"`);
    if (l.protocol !== "smtp" && l.smtp_role) out.push(`${where([...p, "smtp_role"])}: only allowed on an smtp listener`);
    // Threat model §1: cleartext password login may be relaxed only on loopback.
    if (l.allow_insecure_auth && !(l.addresses && l.addresses.length > 0 && l.addresses.every(LOOPBACK))) {
      out.push(`${where([...p, "allow_insecure_auth"])}: allowed only on a listener whose addresses are all loopback (127.0.0.1, ::1); set ${dottedKey([...p, "addresses"])} = ["127.0.0.1"]`);
    }
    if (l.protocol === "http" && l.tls === "starttls") out.push(`${where([...p, "tls"])}: an http listener takes "none" or "implicit"`);
    if (l.enabled && l.port !== 0) bound.push({ name, port: l.port, addrs: l.addresses ?? ["*"] });
  }
  for (let i = 0; i < bound.length; i++) {
    for (let j = i + 1; j < bound.length; j++) {
      const a = bound[i]!;
      const b = bound[j]!;
      if (a.port === b.port && (a.addrs.includes("*") || b.addrs.includes("*") || a.addrs.some((x) => b.addrs.includes(x)))) {
        out.push(`listeners ${a.name} and ${b.name} both use port ${a.port} (${where(["listeners", b.name, "port"])})`);
      }
    }
  }
  for (const name of Object.keys(config.access.listener)) {
    if (!(name in config.listeners)) out.push(`${where(["access", "listener", name])}: no listener named ${JSON.stringify(name)}; listeners: ${Object.keys(config.listeners).join(", ") || "(none)"}`);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, prov: Provenance, main: string): string[] {
  if (issue.code === "unrecognized_keys") {
    const allowed = allowedKeysAt(issue.path);
    return issue.keys.map((k) => {
      const path = [...issue.path, k];
      return `unknown key ${dottedKey(path)} in ${whoSet(prov, path, main)}${allowed ? ` (allowed here: ${allowed.join(", ")})` : ""}`;
    });
  }
  const path = issue.path;
  const set = prov.has(JSON.stringify(path));
  const file = whoSet(prov, path, main);
  const message = issue.code === "invalid_type" && !set ? `missing; ${issue.message.replace(/, received undefined$/, "")}` : issue.message;
  return [`${dottedKey(path)} in ${file}: ${message}`];
}

/** Validates a merged raw configuration. `prov` says which file set each key; `main` is the main file. */
export function validateConfig(raw: RawTable, prov: Provenance, main: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(result.error.issues.flatMap((i) => describeIssue(i, prov, main)));
  const problems = crossChecks(result.data, prov, main);
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** Makes the paths in `config` absolute, relative to `baseDir` (the main config file's directory). */
function absolutePaths(config: Config, baseDir: string): Config {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...config,
    server: { ...config.server, data_dir: abs(config.server.data_dir) },
    tls: {
      ...config.tls,
      cert: abs(config.tls.cert),
      key: abs(config.tls.key),
      sni: config.tls.sni.map((s) => ({ ...s, cert: abs(s.cert), key: abs(s.key) })),
    },
    log: {
      ...config.log,
      ...(config.log.remote
        ? {
            remote: {
              ...config.log.remote,
              ...(config.log.remote.ca !== undefined ? { ca: abs(config.log.remote.ca) } : {}),
              ...(config.log.remote.cert !== undefined ? { cert: abs(config.log.remote.cert) } : {}),
              ...(config.log.remote.key !== undefined ? { key: abs(config.log.remote.key) } : {}),
            },
          }
        : {}),
    },
  };
}

/** Reads the main file and its drop-ins, merges, validates, resolves paths and freezes. */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const main = resolve(file);
  let text: string;
  try {
    text = await readFile(main, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ConfigError([`${main}: no such file (create one with \`portcullis init\`, or pass --config FILE)`]);
    if (code === "EACCES") throw new ConfigError([`${main}: permission denied`]);
    throw e;
  }
  const prov: Provenance = new Map();
  const raw = mergeInto({}, parseTomlFile(text, main), main, prov);
  const files = [main];
  const dir = dropInDir(main);
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".toml") && !n.startsWith(".")).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  for (const name of names) {
    const f = join(dir, name);
    mergeInto(raw, parseTomlFile(await readFile(f, "utf8"), f), f, prov);
    files.push(f);
  }
  const config = deepFreeze(absolutePaths(validateConfig(raw, prov, main), dirname(main)));
  return { config, file: main, files, dataDir: config.server.data_dir };
}
