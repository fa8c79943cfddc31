// Which process owns a store directory.
//
// The store may be opened by several processes at once (the server, and `portcullis user add`
// next to it): SQLite copes with that. But deleting orphaned body files at open is only safe for
// the one process that writes mail, or it would delete a file another process has just renamed
// into place and is about to commit. So `<store>/owner.pid` names the owning process; a process
// takes ownership when the file is missing or names a process that no longer exists. A reused
// PID can only make us skip the clean-up, never delete a live file.

import { promises as fsp } from "node:fs";
import path from "node:path";

export interface Ownership {
  owner: boolean;
  release(): Promise<void>;
}

/** Pids of this process that hold an open store, so a second open in-process is not an owner. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function acquireOwnership(storeDir: string): Promise<Ownership> {
  const file = path.join(storeDir, "owner.pid");
  const notOwner: Ownership = { owner: false, release: async () => undefined };
  if (held.has(file)) return notOwner;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fsp.open(file, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      held.add(file);
      return {
        owner: true,
        release: async () => {
          held.delete(file);
          const content = await fsp.readFile(file, "utf8").catch(() => "");
          if (Number.parseInt(content, 10) === process.pid) await fsp.unlink(file).catch(() => undefined);
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number.parseInt(await fsp.readFile(file, "utf8").catch(() => ""), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return notOwner;
      // Stale: its process is gone, or it is our own pid left by an earlier run (pid 1 in a container).
      await fsp.unlink(file).catch(() => undefined);
    }
  }
  return notOwner;
}
