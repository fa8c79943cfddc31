// Reliability battery, long crash run (`npm run test:stress`): the kill -9 test of
// test/crash-kill9.test.ts with many more rounds (CRASH_ROUNDS, default 25 here).

process.env.CRASH_ROUNDS ??= "25";
await import("../crash-kill9.test.js");
