// Loaded into a step's Node process by the bench (NODE_OPTIONS=--import) to break its time down: when the
// process got to run code, which programs it ran and for how long, its /health polls, the User Timing marks the
// action sets, and its /proc/self/io counters. Written as JSON to BENCH_TRACE when the process exits. Plain
// JavaScript, so that loading it costs next to nothing; the bench's timed runs do not load it at all.
import { ChildProcess } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import { readFileSync, writeFileSync } from 'node:fs'

const out = process.env.BENCH_TRACE
const epoch = () => performance.timeOrigin + performance.now()
const trace = { timeOrigin: performance.timeOrigin, preloadAt: epoch(), children: [], health: [], marks: [], io: {}, exitAt: 0 }

if (out) {
  // Every way of starting a program (spawn, execFile, exec) ends in ChildProcess.prototype.spawn.
  const spawn = ChildProcess.prototype.spawn
  ChildProcess.prototype.spawn = function (options) {
    const record = { file: options.file, args: (options.args ?? []).slice(1), start: epoch(), end: undefined }
    trace.children.push(record)
    const end = () => (record.end ??= epoch())
    this.once('exit', end)
    this.once('error', end)
    return spawn.call(this, options)
  }
  // Node's HTTP client (the action's /health polls) and undici (its other requests, and fetch's) publish every
  // request on diagnostics channels, which are process-wide by name: a bundled copy publishes to the same ones.
  const polls = new WeakMap()
  const created = ({ request }) => {
    if (!String(request.path).endsWith('/health')) return
    const record = { start: epoch(), end: 0, status: 0 }
    polls.set(request, record)
    trace.health.push(record)
  }
  const answered = ({ request, response }) => {
    const record = polls.get(request)
    if (record) Object.assign(record, { end: epoch(), status: response.statusCode })
  }
  const failed = ({ request }) => {
    const record = polls.get(request)
    if (record) record.end = epoch()
  }
  for (const [name, listener] of [
    ['http.client.request.created', created],
    ['http.client.response.finish', answered],
    ['http.client.request.error', failed],
    ['undici:request:create', created],
    ['undici:request:headers', answered],
    ['undici:request:error', failed],
  ]) {
    diagnostics.subscribe(name, listener)
  }
  process.on('exit', () => {
    trace.exitAt = epoch()
    trace.marks = performance.getEntriesByType('mark').map((m) => ({ name: m.name, at: performance.timeOrigin + m.startTime }))
    for (const line of readFileSync('/proc/self/io', 'utf8').split('\n')) {
      const [name, value] = line.split(':')
      if (name && value) trace.io[name.trim()] = Number(value)
    }
    writeFileSync(out, JSON.stringify(trace))
  })
}
