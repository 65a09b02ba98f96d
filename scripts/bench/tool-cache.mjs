// The anchor of the store-hit figures: what @actions/tool-cache offers for the same job, in a process of its own
// so that its /proc/self/io counts only it. `node tool-cache.mjs cache <file>` runs cacheFile (the file into
// RUNNER_TOOL_CACHE), `node tool-cache.mjs find` runs find; both print {seconds, io} as JSON.
import * as tc from '@actions/tool-cache'
import { readFileSync } from 'node:fs'

const [what, file] = process.argv.slice(2)
const ioNow = () => Object.fromEntries(readFileSync('/proc/self/io', 'utf8').trim().split('\n').map((l) => [l.split(':')[0], Number(l.split(':')[1])]))
const before = ioNow()
const started = performance.now()
let found
if (what === 'cache') found = await tc.cacheFile(file, 'model.gguf', 'bench-model', '1.0.0')
else found = tc.find('bench-model', '1.0.0')
const seconds = (performance.now() - started) / 1000
const after = ioNow()
const io = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]))
console.log(JSON.stringify({ seconds, io, found }))
