// The committer's durability gate: a write is acknowledged only once the WAL holding its commit
// has been fsynced; when that fsync fails, the write is refused (never acknowledged).

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openDatabase, Statements } from "./db.js";
import { Blobs } from "./blobs.js";
import { Committer, WalSync } from "./context.js";

async function withDb(fn: (dir: string, file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-commit-"));
  try {
    await fn(dir, path.join(dir, "t.db"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("WalSync: concurrent callers all resolve; a missing file is an error, not a silent success", async () => {
  await withDb(async (_dir, file) => {
    const db = openDatabase(file);
    try {
      const ok = new WalSync(`${file}-wal`);
      await Promise.all([ok.sync(), ok.sync(), ok.sync(), ok.sync()]);
      await ok.close();
      const missing = new WalSync(`${file}-nonexistent`);
      await assert.rejects(missing.sync(), /ENOENT/);
      await assert.rejects(missing.sync(), /ENOENT/, "tried again, not cached");
      await missing.close();
    } finally {
      db.close();
    }
  });
});

test("Committer: writes resolve after the WAL fsync; when it fails they are refused", async () => {
  await withDb(async (dir, file) => {
    const db = openDatabase(file);
    const st = new Statements(db);
    const blobs = await Blobs.open(path.join(dir, "blobs"));
    try {
      const good = new WalSync(`${file}-wal`);
      const c = new Committer(db, st, blobs, () => undefined, undefined, good);
      const ids = await Promise.all([1, 2, 3].map((n) => c.submit(() => Number(st.get("INSERT INTO meta (key, value) VALUES (?, ?)").run(`k${n}`, n).lastInsertRowid))));
      assert.equal(ids.length, 3);
      await good.close();

      const bad = new WalSync(`${file}-gone`);
      let undone = 0;
      const c2 = new Committer(db, st, blobs, () => undefined, undefined, bad);
      await assert.rejects(
        c2.submit(
          () => st.get("INSERT INTO meta (key, value) VALUES ('k4', 4)").run(),
          async () => void undone++,
        ),
        /ENOENT/,
      );
      assert.equal(undone, 0, "committed, so nothing is undone: the row names its body");
      assert.equal(st.get("SELECT value FROM meta WHERE key = 'k4'").pluck(true).get(), 4);
      await bad.close();
    } finally {
      db.close();
    }
  });
});

test("Checkpointer: checkpoints run in the worker (auto-checkpoint off on the committing connection), and close ends it", async () => {
  const { Checkpointer } = await import("./checkpoint.js");
  await withDb(async (_dir, file) => {
    const db = openDatabase(file);
    try {
      const cp = await Checkpointer.start(db, file);
      assert.ok(cp, "the worker starts");
      assert.equal(db.pragma("wal_autocheckpoint", { simple: true }), 0);
      const insert = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
      for (let i = 0; i < 450; i++) {
        insert.run(`k${i}`, i);
        cp.requestAfterCommit();
      }
      const deadline = Date.now() + 10_000;
      while (cp.done < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(cp.done >= 2, `checkpoints done in the worker: ${cp.done}`);
      await cp.close();
      assert.equal(db.prepare("SELECT count(*) AS n FROM meta WHERE key LIKE 'k%'").pluck(true).get(), 450);
    } finally {
      db.close();
    }
  });
});
