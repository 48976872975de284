// BullMQ's side of scripts/bench_bullmq.py; the Python side times the drain.
//
//   node bench.mjs add  PREFIX N            addBulk N no-op jobs, 1,000 per call;
//                                           prints {"add_bulk": jobs/s}
//   node bench.mjs work PREFIX N CONC       one Worker (concurrency CONC, no-op
//                                           processor); says it is ready (INCR
//                                           PREFIX:bench:ready), starts when
//                                           PREFIX:bench:go exists, and exits
//                                           once the queue has N completed jobs
//
// The Redis URL comes in BENCH_REDIS_URL (not argv, where any local user
// could read its password). The queue is named "drain"; BullMQ keeps
// completed jobs by default, as taskq does, so both sides write the same
// kind of history.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const [mode, prefix, nText, concText] = process.argv.slice(2);
const url = process.env.BENCH_REDIS_URL;
const n = Number(nText);
const u = new URL(url);
const connection = {
  host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0),
  password: u.password ? decodeURIComponent(u.password) : undefined,
  username: u.username ? decodeURIComponent(u.username) : undefined,
  maxRetriesPerRequest: null,
};
const CHUNK = 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const queue = new Queue('drain', { connection, prefix });
await queue.waitUntilReady();

if (mode === 'add') {
  const started = performance.now();
  for (let i = 0; i < n; i += CHUNK) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) jobs.push({ name: 'noop', data: { i: j } });
    await queue.addBulk(jobs);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ add_bulk: n / seconds }));
} else if (mode === 'work') {
  const control = new IORedis(connection);
  const worker = new Worker('drain', async () => null,
    { connection, prefix, concurrency: Number(concText), autorun: false });
  await worker.waitUntilReady();
  await control.incr(`${prefix}:bench:ready`);
  while (!(await control.exists(`${prefix}:bench:go`))) await sleep(1);
  worker.run();
  while ((await queue.getCompletedCount()) < n) await sleep(20);
  await worker.close();
  control.disconnect();
} else {
  console.error(`unknown mode ${mode}`);
  process.exitCode = 2;
}
await queue.close();
