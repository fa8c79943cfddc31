// Test doubles for the policy: an in-memory store of bans, a logger that captures audit lines,
// and a hand-wound clock. Used by the policy's unit tests (and usable by others' tests); never by
// the server itself.

import { Writable } from "node:stream";
import type { Ban } from "../store/types.js";
import { createLogger, type AuditLogger } from "../log/audit.js";
import type { BanStore } from "./bans.js";

/** The Store's ban methods over a Map. Rows are copied in and out, as a database would. */
export class MemoryBanStore implements BanStore {
  readonly rows = new Map<string, Ban>();
  /** When set, putBan rejects with this error (to test a failing store). */
  failPut: Error | null = null;

  async putBan(ban: Ban): Promise<void> {
    if (this.failPut) throw this.failPut;
    this.rows.set(ban.subject, structuredClone(ban));
  }
  async getBans(): Promise<Ban[]> {
    return [...this.rows.values()].map((b) => structuredClone(b));
  }
  async deleteBan(subject: string): Promise<boolean> {
    return this.rows.delete(subject);
  }
}

/** A pino logger writing to memory; `lines()` returns every line parsed. */
export function captureLog(): { log: AuditLogger; lines(): Array<Record<string, unknown>>; events(name: string): Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger({ level: "debug", destination: sink });
  const lines = () =>
    chunks
      .join("")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, events: (name) => lines().filter((l) => l.event === name) };
}

/** A clock that moves only when told. */
export class FakeClock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}
