import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readFile, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Blobs, DirSync } from "./blobs.js";

test("Blobs.write: durable file in its fan-out directory, 0600, undo removes it", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-blobs-"));
  try {
    const blobs = await Blobs.open(path.join(dir, "blobs"), { inlineMax: 0 }); // file bodies
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => blobs.write(Buffer.from(`body ${i}\r\n`))));
    for (const [i, b] of results.entries()) {
      assert.match(b.name, /^[0-9a-f]{24}$/);
      assert.equal(b.size, `body ${i}\r\n`.length);
      const file = blobs.pathOf(b.name);
      assert.equal(path.basename(path.dirname(file)), b.name.slice(0, 2));
      assert.equal((await readFile(file)).toString(), `body ${i}\r\n`);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
    }
    assert.equal(new Set(results.map((r) => r.name)).size, 20);
    assert.deepEqual(await readdir(blobs.tmp), []);
    await results[0]!.undo();
    assert.equal((await blobs.scan()).length, 19);
    assert.throws(() => blobs.pathOf("../../etc/passwd"));

    // A caller's file is taken over, and given back by undo.
    const src = path.join(dir, "msg.eml");
    await writeFile(src, "hello\r\n", { mode: 0o644 });
    const taken = await blobs.write({ path: src, size: 7 });
    await assert.rejects(stat(src));
    assert.equal((await stat(blobs.pathOf(taken.name))).mode & 0o777, 0o600);
    await taken.undo();
    assert.equal(await readFile(src, "utf8"), "hello\r\n");
    assert.equal((await blobs.scan()).length, 19);

    // removeOrphans keeps known names only.
    const keep = new Set(results.slice(1, 5).map((r) => r.name));
    const removed = await blobs.removeOrphans((n) => keep.has(n));
    assert.equal(removed.length, 15);
    assert.equal((await blobs.scan()).length, 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("DirSync: concurrent syncs of one directory all resolve, sharing fsyncs", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "portcullis-dirsync-"));
  try {
    const ds = new DirSync();
    const all = Array.from({ length: 50 }, () => ds.sync(dir));
    // At most two distinct fsync promises for 50 callers: the running one and the next one.
    assert.ok(new Set(all).size <= 2);
    await Promise.all(all);
    await ds.sync(dir); // and it works again afterwards
    await assert.rejects(ds.sync(path.join(dir, "missing")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
