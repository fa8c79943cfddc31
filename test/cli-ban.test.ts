// `portcullis ban`: bans added from the command line are kept in the store and a running server
// refuses the banned address within seconds (BanList.refresh() every 5 s), then lets it in again
// once the ban is lifted.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli } from "./helpers/cli.js";
import { startTestServer } from "./helpers/server.js";

function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    sock.setTimeout(10_000, () => reject(new Error("timeout")));
    sock.on("data", (d: Buffer) => (got += d.toString()));
    sock.once("data", () => setTimeout(() => sock.destroy(), 50));
    sock.on("close", () => resolve(got));
    sock.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(got) : reject(e)));
  });
}

async function until(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(250);
  }
  return fn();
}

test("ban add/list/del through the CLI reach a running server", async () => {
  const s = await startTestServer();
  try {
    const cfg = ["--config", join(s.dataDir, "portcullis.toml")];
    assert.match(await greeting(s.ports.smtp), /^220 /);

    let r = await runCli(["ban", "list", ...cfg]);
    assert.equal(r.stdout, "no bans\n");
    r = await runCli(["ban", "add", "127.0.0.1", "--reason", "test run", "--duration", "1h", ...cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^banned 127\.0\.0\.1 until \d{4}-\d\d-\d\dT/);
    r = await runCli(["ban", "list", ...cfg]);
    assert.match(r.stdout, /^SUBJECT +EXPIRES +OFFENCES +REASON\n127\.0\.0\.1 +\S+ +1 +test run\n$/);

    // The server refuses 127.0.0.1 before the greeting (SMTP 554) once it has refreshed its list.
    assert.ok(await until(async () => /^554 /.test(await greeting(s.ports.smtp)), 12_000), "banned address refused");
    assert.ok(s.events().some((e) => e.event === "conn.refused"), "refusal logged");

    r = await runCli(["ban", "del", "127.0.0.1", ...cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "lifted the ban on 127.0.0.1\n");
    assert.ok(await until(async () => /^220 /.test(await greeting(s.ports.smtp)), 12_000), "let in again");

    r = await runCli(["ban", "del", "127.0.0.1", ...cfg]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "portcullis: no ban on 127.0.0.1\n");
    r = await runCli(["ban", "add", "not-an-ip", ...cfg]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'portcullis: not an IP address or CIDR network: "not-an-ip"\n');
  } finally {
    await s.stop();
  }
});
