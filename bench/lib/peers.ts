// Private instances of the peers Portcullis is compared with: Postfix (SMTP into Maildir through
// virtual(8)) and Dovecot (IMAP and POP3 from Maildir), each with a throw-away configuration in
// a scratch directory and listening on high loopback ports (see /work/shared/docs/interop-notes.md).
//
// Invariants: nothing outside the scratch directory is written (Postfix gets its own config and
// queue directory, Dovecot its own base_dir); stop() stops only the instance started here (by
// its own config directory / master pid) and is safe to call twice; the scratch directory is
// removed by stop().

import { execFile, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rssOf } from "./portcullis.js";

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** A port that was free a moment ago (the peers need fixed ports in their configs). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function ids(name: string): { uid: number; gid: number } | null {
  const r = spawnSync("id", ["-u", name]);
  const g = spawnSync("id", ["-g", name]);
  if (r.status !== 0 || g.status !== 0) return null;
  return { uid: Number(r.stdout.toString().trim()), gid: Number(g.stdout.toString().trim()) };
}

/** Where a program lives, or null. */
export function findProgram(name: string, dirs = ["/usr/sbin", "/usr/lib/postfix/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]): string | null {
  for (const d of dirs) if (existsSync(join(d, name))) return join(d, name);
  return null;
}

/** All descendants of `pid` (and pid itself), from /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Proportional set size in bytes (shared pages divided among sharers): a fair sum over a
 * multi-process server. */
export function pssOf(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function treeMemory(pid: number): { rss: number; pss: number; processes: number } {
  const pids = processTree(pid);
  let rss = 0;
  let pss = 0;
  for (const p of pids) {
    rss += rssOf(p);
    pss += pssOf(p);
  }
  return { rss, pss, processes: pids.length };
}

/** CPU seconds (user + system) used so far by `pid` and all its descendants, including the
 * children that already exited and were reaped (the root's cutime/cstime). The difference of two
 * readings is the CPU a multi-process server spent in between, whatever process did the work. */
export function treeCpuSeconds(pid: number): number {
  const hz = 100; // USER_HZ, 100 on Linux
  const fields = (p: number): number[] | null => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    } catch {
      return null;
    }
  };
  let ticks = 0;
  for (const p of processTree(pid)) {
    const f = fields(p);
    if (!f) continue;
    // After "pid (comm) ": state=0 ... utime=11 stime=12 cutime=13 cstime=14 (proc(5), 14-17 minus 3).
    ticks += f[11]! + f[12]!;
    if (p === pid) ticks += f[13]! + f[14]!;
  }
  return ticks / hz;
}

// ---------------------------------------------------------------- Postfix

export interface PostfixInstance {
  port: number;
  dir: string;
  /** The master process id (from its pid file). */
  masterPid(): number;
  /** Messages delivered into the Maildirs so far. */
  delivered(): number;
  stop(): Promise<void>;
}

export function postfixAvailable(): boolean {
  return findProgram("postfix") !== null && findProgram("smtp-source") !== null && ids("postfix") !== null;
}

/** A private Postfix: smtpd on 127.0.0.1:port, local users delivered by virtual(8) to Maildir. */
export async function startPostfix(o: { users: string[]; domain?: string; port?: number }): Promise<PostfixInstance> {
  const domain = o.domain ?? "example.test";
  const pf = ids("postfix");
  if (!pf) throw new Error("no postfix user");
  const dir = await mkdtemp(join(tmpdir(), "bench-postfix-"));
  await chmod(dir, 0o755); // the postfix user must reach its queue and the Maildirs
  const port = o.port ?? (await freePort());
  const conf = join(dir, "conf");
  const mail = join(dir, "mail");
  await mkdir(conf);
  await mkdir(mail);
  await mkdir(join(dir, "queue"), { mode: 0o755 });
  await mkdir(join(dir, "data"), { mode: 0o700 });
  await chown(join(dir, "data"), pf.uid, pf.gid);
  await chown(mail, pf.uid, pf.gid);
  await writeFile(join(conf, "vmailbox"), o.users.map((u) => `${u} ${u.split("@")[0]}/Maildir/\n`).join(""));
  const main = [
    "compatibility_level = 3.6",
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    "command_directory = /usr/sbin",
    "daemon_directory = /usr/lib/postfix/sbin",
    "shlib_directory = /usr/lib/postfix",
    "meta_directory = /etc/postfix",
    "mail_owner = postfix",
    "setgid_group = postdrop",
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "myhostname = peer.localhost",
    "mydestination =",
    "mynetworks = 127.0.0.0/8",
    "alias_maps =",
    "alias_database =",
    "local_recipient_maps =",
    "biff = no",
    "smtputf8_enable = no",
    `virtual_mailbox_domains = ${domain}`,
    `virtual_mailbox_base = ${mail}`,
    `virtual_mailbox_maps = texthash:${conf}/vmailbox`,
    `virtual_uid_maps = static:${pf.uid}`,
    `virtual_gid_maps = static:${pf.gid}`,
    "virtual_minimum_uid = 1",
    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
    "smtpd_client_connection_count_limit = 0",
    "smtpd_client_connection_rate_limit = 0",
    "smtpd_client_message_rate_limit = 0",
    "message_size_limit = 52428800",
    "virtual_mailbox_limit = 0",
    "default_process_limit = 100",
    "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
    "",
  ].join("\n");
  await writeFile(join(conf, "main.cf"), main);
  // Debian's master.cf with every service out of chroot and smtpd on our port.
  const master = (await readFile("/etc/postfix/master.cf", "utf8"))
    .split("\n")
    .map((line) => {
      if (/^\s*#/.test(line) || /^\s/.test(line) || line.trim() === "") return line;
      const f = line.split(/\s+/);
      if (f.length < 8) return line;
      if (f[0] === "smtp" && f[1] === "inet") f[0] = `127.0.0.1:${port}`;
      f[4] = "n";
      return f.join(" ");
    })
    .join("\n");
  await writeFile(join(conf, "master.cf"), master);
  // Postfix prints its errors only to a terminal: run it under script(1).
  const started = await run("script", ["-qec", `postfix -c ${conf} start`, "/dev/null"]);
  if (started.code !== 0) {
    if (!process.env.BENCH_KEEP) await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    throw new Error(`postfix start failed: ${started.out}`);
  }
  await waitForPort(port, 20_000);
  let stopped = false;
  return {
    port,
    dir,
    masterPid: () => Number(readFileSync(join(dir, "queue", "pid", "master.pid"), "utf8").trim()),
    delivered: () => {
      let n = 0;
      for (const u of o.users) {
        const d = join(mail, u.split("@")[0]!, "Maildir", "new");
        try {
          n += readdirSync(d).length;
        } catch {
          /* not yet */
        }
      }
      return n;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run("postfix", ["-c", conf, "stop"]);
      // `postfix stop` returns before every child exited; give them a moment before removing files.
      await new Promise((r) => setTimeout(r, 1000));
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
}

// ---------------------------------------------------------------- Dovecot

export interface DovecotInstance {
  ports: { imap: number; imaps: number; pop3: number; pops: number };
  dir: string;
  /** Master process id (from its pid file). */
  masterPid(): number;
  /** Memory of the master and all its children (login, auth, imap/pop3 processes). */
  memory(): { rss: number; pss: number; processes: number };
  /** Writes `count` messages into a user's INBOX Maildir directly (like filling the store). */
  fill(user: string, count: number, body: (i: number) => string): Promise<void>;
  stop(): Promise<void>;
}

export function dovecotAvailable(): boolean {
  return findProgram("dovecot") !== null && existsSync("/usr/lib/dovecot/imap") && existsSync("/usr/lib/dovecot/pop3");
}

/** A private Dovecot with IMAP/IMAPS/POP3/POP3S on high loopback ports. `performance` sets
 * service_count = 0 for the login and mail processes (one process serves many clients). */
export async function startDovecot(o: { users: Array<[string, string]>; certPem: string; keyPem: string; performance?: boolean }): Promise<DovecotInstance> {
  const dir = await mkdtemp(join(tmpdir(), "bench-dovecot-"));
  await chmod(dir, 0o755);
  const vmail = ids("nobody") ?? { uid: 65534, gid: 65534 };
  const home = join(dir, "home");
  await mkdir(home);
  await chown(home, vmail.uid, vmail.gid);
  await writeFile(join(dir, "cert.pem"), o.certPem);
  await writeFile(join(dir, "key.pem"), o.keyPem, { mode: 0o600 });
  await writeFile(join(dir, "passwd"), o.users.map(([u, p]) => `${u}:{PLAIN}${p}::::::\n`).join(""), { mode: 0o644 });
  const ports = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pops: await freePort() };
  const perf = o.performance ? "  service_count = 0\n  process_min_avail = 2\n" : "";
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = ${vmail.uid}
mail_location = maildir:~/Maildir
mail_uid = ${vmail.uid}
mail_gid = ${vmail.gid}
default_process_limit = 6000
default_client_limit = 20000
# Performance mode puts thousands of clients in one imap process: the default 256 MiB address
# space limit would kill it (and every client in it) long before the machine runs short.
default_vsz_limit = 8G
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${vmail.uid} gid=${vmail.gid} home=${home}/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${ports.imap}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${ports.imaps}
    ssl = yes
  }
${perf}}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${ports.pops}
    ssl = yes
  }
${perf}}
protocol imap {
  mail_max_userip_connections = 20000
}
protocol pop3 {
  mail_max_userip_connections = 20000
}
service imap {
${o.performance ? "  service_count = 0\n  client_limit = 6000\n" : ""}}
service pop3 {
${o.performance ? "  service_count = 0\n  client_limit = 6000\n" : ""}}
`;
  const file = join(dir, "dovecot.conf");
  await writeFile(file, conf);
  const started = await run("dovecot", ["-c", file]);
  if (started.code !== 0) {
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    throw new Error(`dovecot start failed: ${started.out}`);
  }
  await waitForPort(ports.imap, 20_000);
  const masterPid = (): number => {
    try {
      return Number(readFileSync(join(dir, "run", "master.pid"), "utf8").trim());
    } catch {
      return 0;
    }
  };
  let stopped = false;
  return {
    ports,
    dir,
    masterPid,
    memory: () => treeMemory(masterPid()),
    async fill(user, count, body) {
      const md = join(home, user, "Maildir");
      for (const sub of ["cur", "new", "tmp"]) await mkdir(join(md, sub), { recursive: true });
      const t = Math.floor(Date.now() / 1000);
      for (let i = 0; i < count; i += 500) {
        const n = Math.min(500, count - i);
        await Promise.all(Array.from({ length: n }, (_, k) => writeFile(join(md, "cur", `${t}.M${i + k}P1.bench:2,${(i + k) % 3 ? "S" : ""}`), body(i + k))));
      }
      spawnSync("chown", ["-R", `${vmail.uid}:${vmail.gid}`, join(home, user)]);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run("doveadm", ["-c", file, "stop"]).then((r) => (r.code === 0 ? r : run("kill", [String(masterPid())])));
      for (let i = 0; i < 50 && masterPid() > 0 && existsSync(`/proc/${masterPid()}`); i++) await new Promise((r) => setTimeout(r, 100));
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Size of a directory tree in bytes (unused files are fine to miss). */
export function dirSize(p: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const q = join(p, e.name);
      n += e.isDirectory() ? dirSize(q) : statSync(q).size;
    }
  } catch {
    /* gone */
  }
  return n;
}
