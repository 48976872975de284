// BullMQ's side of scripts/bench_bullmq.py, scripts/bench_redis_time.py and
// scripts/bench_peers.py; the Python side times the drain of the first.
//
//   node bench.mjs add  PREFIX N            addBulk N no-op jobs, 1,000 per call;
//                                           prints {"add_bulk": jobs/s}
//   node bench.mjs work PREFIX N CONC       one Worker (concurrency CONC, no-op
//                                           processor); says it is ready (INCR
//                                           PREFIX:bench:ready), starts when
//                                           PREFIX:bench:go exists, and exits
//                                           once the queue has N completed jobs
//
// Modes driven over stdin/stdout, which send nothing to Redis between "go"
// and the result (the Redis-time table counts every command the server runs):
// each prints {"ready": true} once connected (and its jobs added), waits for
// a line on stdin, does its part and prints one JSON line.
//
//   addone  PREFIX N          queue.add N times, one at a time
//   addbulk PREFIX N          queue.addBulk, 1,000 per call
//   drain   PREFIX N CONC [queued]  addBulk N first (not with "queued": the
//                             backlog is there); on go a Worker at CONC runs
//                             until N jobs completed (counted in process)
//   fill    PREFIX N          addBulk N jobs, 8 calls of 1,000 in flight
//                             (the 1,000,000-job backlog); no go needed
//   serve   PREFIX CONC       an idle Worker until stdin closes
//   result  PREFIX N DELAYMS  N samples: add (delay DELAYMS when > 0), then
//                             job.waitUntilFinished(QueueEvents); random
//                             0-20 ms gaps; prints the milliseconds from the
//                             add call (plus the delay) to the result in hand
//
// The Redis URL comes in BENCH_REDIS_URL (not argv, where any local user
// could read its password). The queue is named "drain"; BullMQ keeps
// completed jobs by default, as taskq does, so both sides write the same
// kind of history.
import readline from 'node:readline';
import { Queue, QueueEvents, Worker } from 'bullmq';
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
const STDIO_MODES = new Set(['addone', 'addbulk', 'drain', 'fill', 'serve', 'result']);
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const jobsFrom = (i, m) => Array.from({ length: m }, (_, j) => ({ name: 'noop', data: { i: i + j } }));

async function addBulk(count, inFlight) {
  const calls = [];
  for (let i = 0; i < count; i += CHUNK) calls.push([i, Math.min(CHUNK, count - i)]);
  const lanes = Array.from({ length: inFlight }, async () => {
    for (let call = calls.shift(); call; call = calls.shift()) await queue.addBulk(jobsFrom(...call));
  });
  await Promise.all(lanes);
}

async function stdioMode() {
  const input = readline.createInterface({ input: process.stdin });
  try {
    await stdioSteps(input[Symbol.asyncIterator]());
  } finally {
    input.close();
  }
}

async function stdioSteps(stdinLines) {
  const arg = Number(concText);
  if (mode === 'fill') {
    await addBulk(n, 8);
    say({ filled: n });
    return;
  }
  let worker = null;
  let completed = 0;
  let allDone = null;
  const finished = new Promise((resolve) => { allDone = resolve; });
  if (mode === 'drain' && process.argv[6] !== 'queued') await addBulk(n, 1);
  if (mode === 'drain' || mode === 'serve') {
    worker = new Worker('drain', async () => null,
      { connection, prefix, concurrency: mode === 'serve' ? n : arg, autorun: false });
    worker.on('completed', () => { completed += 1; if (completed === n) allDone(); });
    await worker.waitUntilReady();
  }
  let events = null;
  if (mode === 'result') {
    events = new QueueEvents('drain', { connection, prefix });
    await events.waitUntilReady();
    await (await queue.add('noop', {})).waitUntilFinished(events, 10000);  // warm
  }
  say({ ready: true });
  await stdinLines.next();
  const started = performance.now();
  if (mode === 'addone') {
    for (let i = 0; i < n; i++) await queue.add('noop', { i });
  } else if (mode === 'addbulk') {
    await addBulk(n, 1);
  } else if (mode === 'drain') {
    worker.run();
    await finished;
  } else if (mode === 'serve') {
    worker.run();
    await stdinLines.next();  // until stdin closes
  } else if (mode === 'result') {
    const out = [];
    for (let i = 0; i < n; i++) {
      await sleep(Math.random() * 20);
      const t = performance.now();
      const job = await queue.add('noop', { i }, arg > 0 ? { delay: arg } : {});
      await job.waitUntilFinished(events, 10000);
      out.push(performance.now() - t - arg);
    }
    say({ ms: out });
    await events.close();
    return;
  }
  const seconds = (performance.now() - started) / 1000;
  if (worker) await worker.close();  // a drain's last jobs in hand complete: counted
  say({ done: mode === 'drain' ? completed : n, seconds });
}

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
} else if (STDIO_MODES.has(mode)) {
  await stdioMode();
} else {
  console.error(`unknown mode ${mode}`);
  process.exitCode = 2;
}
await queue.close();
