import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { dkimVerify } from "mailauth";
import { dkimSignature, DkimKeys } from "./dkim.js";
import { dkimPublicKey } from "./records.js";

const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const message = Buffer.from("From: Alice <alice@example.org>\r\nTo: bob@remote.test\r\nSubject: Hi\r\nDate: Sun, 22 Nov 2026 05:00:00 +0000\r\n\r\nHello  there \r\n\r\n\r\n");

test("signs relaxed/relaxed rsa-sha256 with d= and s=; the signature verifies", async () => {
  const sig = await dkimSignature(Readable.from([message]), { domain: "example.org", selector: "sel", privateKey: pem });
  assert.match(sig, /^DKIM-Signature: /);
  assert.match(sig, /\r\n$/);
  assert.doesNotMatch(sig.slice(0, -2), /\r\n(?![ \t])/, "one header field, folded");
  for (const tag of ["a=rsa-sha256", "c=relaxed/relaxed", "d=example.org", "s=sel"]) assert.ok(sig.includes(tag), tag);
  const txt = `v=DKIM1; k=rsa; p=${dkimPublicKey(pem).p}`;
  const resolver = async (name: string, type: string) => {
    if (type === "TXT" && name === "sel._domainkey.example.org") return [[txt]];
    throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
  };
  const signed = Buffer.concat([Buffer.from(sig), message]);
  const r = await dkimVerify(signed, { resolver });
  assert.equal(r.results[0]?.status.result, "pass", JSON.stringify(r.results[0]?.status));
  // Relaxed canonicalization: whitespace changes in transit still verify; a changed body does not.
  const reflowed = Buffer.from(signed.toString().replace("Subject: Hi", "Subject:   Hi").replace("Hello  there ", "Hello there"));
  assert.equal((await dkimVerify(reflowed, { resolver })).results[0]?.status.result, "pass");
  const changed = Buffer.from(signed.toString().replace("Hello", "Hullo"));
  assert.notEqual((await dkimVerify(changed, { resolver })).results[0]?.status.result, "pass", "body hash mismatch");
});

test("keys come from <data>/dkim/<domain>.<selector>.pem; none means no key; no path tricks", async () => {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-dkim-"));
  try {
    await mkdir(join(dir, "dkim"));
    await writeFile(join(dir, "dkim", "example.org.portcullis.pem"), pem, { mode: 0o600 });
    const keys = new DkimKeys(dir, "portcullis");
    assert.equal((await keys.keyFor("Example.ORG"))?.privateKey, pem);
    assert.equal(await keys.keyFor("other.org"), null);
    assert.equal(await keys.keyFor("../../etc/passwd"), null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("Ed25519 (RFC 8463) next to RSA: two signatures, both verify", async () => {
  const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const sig = await dkimSignature(Readable.from([message]), [
    { domain: "example.org", selector: "sel", privateKey: pem },
    { domain: "example.org", selector: "sel-ed25519", privateKey: ed },
  ]);
  assert.equal((sig.match(/^DKIM-Signature: /gm) ?? []).length, 2);
  assert.match(sig, /a=ed25519-sha256/);
  const records: Record<string, string> = {
    "sel._domainkey.example.org": `v=DKIM1; k=rsa; p=${dkimPublicKey(pem).p}`,
    "sel-ed25519._domainkey.example.org": `v=DKIM1; k=ed25519; p=${dkimPublicKey(ed).p}`,
  };
  assert.equal(Buffer.from(dkimPublicKey(ed).p, "base64").length, 32, "the raw 32-byte key (RFC 8463 §4.2)");
  const resolver = async (name: string, type: string) => {
    if (type === "TXT" && records[name]) return [[records[name]!]];
    throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
  };
  const r = await dkimVerify(Buffer.concat([Buffer.from(sig), message]), { resolver });
  assert.deepEqual(r.results.map((x) => [x.signingDomain, x.status.result]).sort(), [["example.org", "pass"], ["example.org", "pass"]]);
});

test("keysFor: the Ed25519 key is added only when its file exists", async () => {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-dkim-"));
  try {
    await mkdir(join(dir, "dkim"));
    await writeFile(join(dir, "dkim", "example.org.portcullis.pem"), pem, { mode: 0o600 });
    const keys = new DkimKeys(dir, "portcullis");
    assert.deepEqual((await keys.keysFor("example.org")).map((k) => k.selector), ["portcullis"]);
    const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await writeFile(join(dir, "dkim", "example.org.portcullis-ed25519.pem"), ed, { mode: 0o600 });
    const fresh = new DkimKeys(dir, "portcullis");
    assert.deepEqual((await fresh.keysFor("example.org")).map((k) => k.selector), ["portcullis", "portcullis-ed25519"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
