// The gate's TLS end to end: versions and ciphers against a real client (openssl s_client),
// STARTTLS and its command-injection defence, channel binding, certificate reload.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import path from "node:path";
import { spawn } from "node:child_process";
import { writeFile, rename } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { startGate, LineClient, makeCert, until, HOST, type GateHarness } from "./fixtures/gate-harness.js";

let h: GateHarness;

before(async () => {
  h = await startGate({ timings: { handshakeTimeoutMs: 1000 } });
});
after(() => h.stop());

function sClient(port: number, args: string[], input = "QUIT\n"): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn("openssl", ["s_client", "-connect", `${HOST}:${port}`, "-servername", "localhost", "-crlf", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    // Give the handshake and greeting time before sending QUIT.
    setTimeout(() => p.stdin.end(input), 700);
    const t = setTimeout(() => p.kill(), 10_000);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

function tlsConnect(port: number, o: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: HOST, port, ca: h.cert, servername: "localhost", ...o }, () => resolve(s));
    s.once("error", reject);
  });
}

test("openssl s_client: TLS 1.1 is refused by the server, TLS 1.2 and 1.3 work (implicit TLS listener)", async () => {
  const failedBefore = h.events("tls.failed").length;
  // SECLEVEL=0 so that OpenSSL 3 really offers TLS 1.1: the refusal must come from our server.
  const old = await sClient(h.ports.implicit!, ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
  assert.notEqual(old.code, 0, old.out);
  assert.doesNotMatch(old.out, /gate test ready/);
  assert.match(old.out, /alert protocol version|unsupported protocol|no protocols available/i, old.out);
  await until(() => h.events("tls.failed").length > failedBefore, 3000, "tls.failed");
  assert.match(String(h.events("tls.failed").at(-1)!.error), /unsupported protocol|version/i);

  const v12 = await sClient(h.ports.implicit!, ["-tls1_2"]);
  assert.match(v12.out, /\* OK gate test ready/, v12.out);
  assert.match(v12.out, /Protocol\s*:\s*TLSv1\.2/);
  assert.match(v12.out, /Cipher\s*:\s*ECDHE-RSA-(AES256-GCM-SHA384|AES128-GCM-SHA256|CHACHA20-POLY1305)/);

  const v13 = await sClient(h.ports.implicit!, ["-tls1_3"]);
  assert.match(v13.out, /\* OK gate test ready/, v13.out);
  assert.match(v13.out, /TLSv1\.3/);
  const est = h.events("tls.established").filter((e) => e.mode === "implicit");
  assert.ok(est.some((e) => e.version === "TLSv1.2") && est.some((e) => e.version === "TLSv1.3"));
});

test("openssl s_client: TLS 1.2 without forward secrecy or AEAD is refused", async () => {
  const r = await sClient(h.ports.implicit!, ["-tls1_2", "-cipher", "AES128-SHA:AES256-SHA256:ECDHE-RSA-AES128-SHA"]);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.out, /gate test ready/);
});

test("STARTTLS injection: a command pipelined after STARTTLS is never executed", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  assert.equal(await c.line(), "* OK gate test ready");
  assert.equal(await c.cmd("LOGIN"), "NO encryption required");
  c.send("STARTTLS\r\nECHO injected\r\n"); // one write, one segment
  assert.equal(await c.line(), "OK begin TLS");
  const t = await c.upgrade(h.cert);
  assert.equal(t.getProtocol(), "TLSv1.3");
  // The first reply under TLS is to our own command, not to the injected one.
  assert.equal(await c.cmd("ECHO after"), "ECHO [tls] after");
  assert.equal(await c.cmd("LOGIN"), "OK logged in");
  assert.equal(await c.cmd("QUIT"), "OK bye");
  const rec = h.sessions.find((s) => s.commands.includes("ECHO after"))!;
  assert.deepEqual(rec.commands, ["LOGIN", "STARTTLS", "ECHO after", "LOGIN", "QUIT"]);
  const d = h.events("tls.starttls.discarded").find((e) => e.conn === rec.conn.id);
  assert.equal(d?.bytes, "ECHO injected\r\n".length);
  assert.ok(h.events("tls.established").some((e) => e.conn === rec.conn.id && e.mode === "starttls"));
});

test("STARTTLS followed by garbage instead of a ClientHello: tls.failed, connection closed, server fine", async () => {
  const c = await LineClient.connect(h.ports.plain!);
  await c.line();
  assert.equal(await c.cmd("STARTTLS"), "OK begin TLS");
  c.send("this is not TLS\r\n");
  assert.equal(await c.line(), null);
  await until(() => h.events("tls.failed").some((e) => e.mode === "starttls"), 3000, "tls.failed");
  const d = await LineClient.connect(h.ports.plain!);
  assert.equal(await d.line(), "* OK gate test ready");
  d.close();
});

test("implicit TLS: a client that never starts the handshake is dropped after the handshake timeout", async () => {
  const s = net.connect({ host: HOST, port: h.ports.implicit! });
  s.on("error", () => {});
  const started = Date.now();
  await new Promise<void>((r) => s.once("close", () => r()));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 3000, `dropped after ${elapsed} ms`);
  assert.ok(h.events("tls.failed").some((e) => /not completed within/.test(String(e.error))));
});

test("tls-exporter channel binding (RFC 9266): same 32 octets on both sides on TLS 1.3, none on TLS 1.2", async () => {
  const t = await tlsConnect(h.ports.implicit!);
  const c = await LineClientOver(t);
  await c.line();
  const info = JSON.parse((await c.cmd("INFO"))!.slice(5)) as { secure: boolean; tls: { version: string; servername: string }; cb: string };
  assert.equal(info.secure, true);
  assert.equal(info.tls.version, "TLSv1.3");
  assert.equal(info.tls.servername, "localhost");
  assert.equal(info.cb, t.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)).toString("hex"));
  t.destroy();

  const t12 = await tlsConnect(h.ports.implicit!, { maxVersion: "TLSv1.2" });
  const c12 = await LineClientOver(t12);
  await c12.line();
  const info12 = JSON.parse((await c12.cmd("INFO"))!.slice(5)) as { tls: { version: string }; cb: string | null };
  assert.equal(info12.tls.version, "TLSv1.2");
  assert.equal(info12.cb, null);
  t12.destroy();
});

test("tls.min_version = TLSv1.3 refuses TLS 1.2 clients", async () => {
  const g = await startGate({ config: { tls: { min_version: "TLSv1.3" } } });
  try {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: HOST, port: g.ports.implicit!, ca: g.cert, servername: "localhost", maxVersion: "TLSv1.2" }, () => resolve(s));
        s.once("error", reject);
      }),
    );
    const ok = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: HOST, port: g.ports.implicit!, ca: g.cert, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    assert.equal(ok.getProtocol(), "TLSv1.3");
    ok.destroy();
  } finally {
    await g.stop();
  }
});

function fingerprintOf(t: tls.TLSSocket): string {
  return t.getPeerX509Certificate()!.fingerprint256;
}

test("TLS reload on demand: new handshakes see the new certificate, open connections keep working; a bad file keeps the old one", async () => {
  const g = await startGate();
  try {
    const oldFp = new X509Certificate(g.cert).fingerprint256;
    const first = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: HOST, port: g.ports.implicit!, ca: g.cert, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    assert.equal(fingerprintOf(first), oldFp);
    const firstClient = await LineClientOver(first);
    await firstClient.line();

    const next = await makeCert("reloaded");
    await writeFile(path.join(g.dataDir, "tls", "cert.pem.new"), next.cert);
    await writeFile(path.join(g.dataDir, "tls", "key.pem"), next.key);
    await rename(path.join(g.dataDir, "tls", "cert.pem.new"), path.join(g.dataDir, "tls", "cert.pem"));
    await g.gate.reloadTls();
    const newFp = new X509Certificate(next.cert).fingerprint256;
    const second = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: HOST, port: g.ports.implicit!, ca: next.cert, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    assert.equal(fingerprintOf(second), newFp);
    second.destroy();
    assert.equal(await firstClient.cmd("ECHO still"), "ECHO [tls] still", "the connection made before the reload works");
    first.destroy();

    // A key that does not match: the reload fails, is logged, and the current certificate stays.
    const other = await makeCert("other");
    await writeFile(path.join(g.dataDir, "tls", "key.pem"), other.key);
    await g.gate.reloadTls();
    assert.ok(g.events("tls.reload.failed").length >= 1);
    const third = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: HOST, port: g.ports.implicit!, ca: next.cert, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    assert.equal(fingerprintOf(third), newFp);
    third.destroy();
  } finally {
    await g.stop();
  }
});

test("TLS reload on file change (tls.watch), debounced", async () => {
  const g = await startGate({ config: { tls: { watch: true } }, timings: { tlsWatchDebounceMs: 150 } });
  try {
    const reloadsBefore = g.events("tls.reload").length;
    const next = await makeCert("watched");
    await writeFile(path.join(g.dataDir, "tls", "key.pem"), next.key);
    await writeFile(path.join(g.dataDir, "tls", "cert.pem"), next.cert);
    await until(() => g.events("tls.reload").length > reloadsBefore, 5000, "tls.reload after the files changed");
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const t = tls.connect({ host: HOST, port: g.ports.implicit!, ca: next.cert, servername: "localhost" }, () => resolve(t));
      t.once("error", reject);
    });
    assert.equal(fingerprintOf(s), new X509Certificate(next.cert).fingerprint256);
    s.destroy();
    // Two files written in a row: one reload, not a failed one in between.
    assert.equal(g.events("tls.reload").length, reloadsBefore + 1);
    assert.equal(g.events("tls.reload.failed").length, 0);
  } finally {
    await g.stop();
  }
});

/** A LineClient over an already connected TLS socket. */
async function LineClientOver(t: tls.TLSSocket): Promise<LineClient> {
  return LineClient.fromSocket(t);
}
