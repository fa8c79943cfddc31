// `npm run bench [-- SCENARIO... --scale small|full --no-peer]`: runs the benchmark scenarios of
// issue 8 (bench/scenarios.ts) against Portcullis and, when installed, its peers; prints a table
// with absolute figures and the ratio Portcullis / peer, and writes the rows as JSON to
// bench/results/<date>.json.
//
// Scenarios: smtp, imap, idle, large, attack (default: all). For msg/s and ops/s a ratio above 1
// means Portcullis is faster; for ms and KiB a ratio below 1 means Portcullis is better.
//
// Invariants: every server the run starts is stopped, also on SIGINT/SIGTERM (the scenarios stop
// theirs in `finally`; a signal makes the current scenario fail fast and the run exit).

import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem, release } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { SCALES, scenarioAttack, scenarioIdle, scenarioImap, scenarioLarge, scenarioSmtp, type Row, type Scale } from "./scenarios.js";
import { REPO } from "./lib/portcullis.js";

const ALL = { smtp: scenarioSmtp, imap: scenarioImap, idle: scenarioIdle, large: scenarioLarge, attack: scenarioAttack } as const;
type Name = keyof typeof ALL;

function parseArgs(argv: string[]): { names: Name[]; scale: Scale; peer: boolean } {
  const names: Name[] = [];
  let scale: Scale = SCALES.small;
  let peer = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--scale") {
      const v = argv[++i];
      if (v !== "small" && v !== "full") throw new Error("--scale small|full");
      scale = SCALES[v];
    } else if (a === "--no-peer") peer = false;
    else if (a in ALL) names.push(a as Name);
    else throw new Error(`unknown argument ${a}; scenarios: ${Object.keys(ALL).join(", ")}; options: --scale small|full, --no-peer`);
  }
  return { names: names.length ? names : (Object.keys(ALL) as Name[]), scale, peer };
}

function fmt(n: number | null): string {
  if (n === null || Number.isNaN(n)) return "n/a";
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function table(rows: Row[]): string {
  const head = ["scenario", "metric", "unit", "Portcullis", "peer", "ratio P/peer", "peer name"];
  const body = rows.map((r) => [r.scenario, r.metric, r.unit, fmt(r.portcullis), fmt(r.peer), r.portcullis !== null && r.peer ? fmt(r.portcullis / r.peer) : "n/a", r.peerName]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join("  ");
  const notes = rows.filter((r) => r.note).map((r) => `  - ${r.scenario} / ${r.metric}: ${r.note}`);
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line), "", "notes:", ...notes].join("\n");
}

async function main(): Promise<void> {
  const { names, scale, peer } = parseArgs(process.argv.slice(2));
  let interrupted = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write(`[bench] ${sig}: stopping after cleaning up the current scenario (again to force)\n`);
    });
  }
  const machine = {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    loadavgAtStart: loadavg().map((x) => x.toFixed(2)).join(" "),
  };
  // The client side holds every idle connection open: check the open-file limit up front.
  if (names.includes("idle")) {
    const need = Math.max(...scale.idleCounts) + 200;
    let soft = Infinity;
    try {
      soft = Number(execFileSync("sh", ["-c", "ulimit -n"]).toString().trim()) || Infinity;
    } catch {
      /* unknown: try anyway */
    }
    if (soft < need) throw new Error(`idle at scale ${scale.name} needs ${need} open files; raise it first: ulimit -n ${need * 2}`);
  }
  const started = new Date();
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const name of names) {
    if (interrupted) break;
    process.stderr.write(`[bench] === ${name} (scale ${scale.name}) ===\n`);
    try {
      rows.push(...(await ALL[name](scale, peer)));
    } catch (e) {
      failures.push(`${name}: ${(e as Error).stack ?? e}`);
      process.stderr.write(`[bench] ${name} failed: ${(e as Error).message}\n`);
    }
  }
  const commit = (() => {
    try {
      return execFileSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]).toString().trim();
    } catch {
      return "?";
    }
  })();
  const result = { date: started.toISOString(), scale: scale.name, machine: { ...machine, loadavgAtEnd: loadavg().map((x) => x.toFixed(2)).join(" ") }, commit, rows, failures };
  console.log(`\nPortcullis benchmarks, scale ${scale.name}, ${started.toISOString()}, ${machine.cpus}, load ${machine.loadavgAtStart} → ${result.machine.loadavgAtEnd}\n`);
  console.log(table(rows));
  if (failures.length) console.log(`\nfailed scenarios:\n${failures.join("\n")}`);
  const dir = join(REPO, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nwritten: ${file}`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
