// Starting and stopping the store's worker threads (the WAL checkpointer, checkpoint.ts, and the
// text indexer, textworker.ts) the same way.
//
// Invariants: a worker is handed out only after it said it is ready (an error or an exit before
// that is a failed start, never a hang); stopping asks it to finish, keeps the process alive until
// it exits or the deadline passes, then ends it.

import { Worker } from "node:worker_threads";

/** Starts a worker thread running `script` (a sibling module, named .js). Run from source (.ts
 * files under tsx, as the tests do), the thread loads the .ts file through tsx's loader, which a
 * worker does not inherit. */
export function startWorker(script: URL, workerData: unknown): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(script, { workerData });
  const ts = script.href.replace(/\.js$/, ".ts");
  const api = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** Waits for the worker's first message; null when `isReady(message)`, else why it did not start
 * (the message, an error, or an exit). The worker is terminated when it did not start. */
export async function whenReady<M>(worker: Worker, isReady: (m: M) => boolean): Promise<string | null> {
  const why = await new Promise<string | null>((resolve) => {
    worker.once("message", (m: M) => resolve(isReady(m) ? null : `unexpected first message ${JSON.stringify(m)}`));
    worker.once("error", (e) => resolve(String(e)));
    worker.once("exit", (code) => resolve(`exited with ${code}`));
  });
  if (why !== null) await worker.terminate().catch(() => undefined);
  return why;
}

/** Asks a worker thread to finish (`message`) and waits for it to exit, at most `deadlineMs`,
 * then ends it. The process is kept alive meanwhile (the workers are unref'd while they run). */
export async function stopWorker(w: Worker, message: unknown, deadlineMs: number): Promise<void> {
  w.ref();
  const exited = new Promise<void>((r) => w.once("exit", () => r()));
  w.postMessage(message);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
  clearTimeout(timer);
  await w.terminate().catch(() => undefined);
}
