// `npm start`: runs the bundled action on this machine as the runner would (through the test harness), prints
// its outputs and one request to the server, then runs the post step. LLAMA_SERVER_PATH picks the binary;
// without it, the engine test double from test/fixtures/engine is built and used.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { buildFakeLlamaServer } from '../test/support/engine-fixture.js'
import { writeHeaderOnlyModel } from '../test/support/gguf-writer.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost } from '../test/support/runner.js'

const binary = process.env.LLAMA_SERVER_PATH || buildFakeLlamaServer()
const dirs = newJobDirs()
mkdirSync(path.join(dirs.workspace, 'models'))
writeHeaderOnlyModel(path.join(dirs.workspace, 'models', 'tiny.gguf'))

console.log(`job directory: ${dirs.root}\nengine: ${binary}${process.env.LLAMA_SERVER_PATH ? '' : ' (the test double: no inference)'}`)
const main = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': binary } })
process.stdout.write(main.stdout)
if (main.exitCode !== 0) {
  console.error(`main failed:\n${main.errors.join('\n')}`)
  process.exitCode = 1
}
console.log('\noutputs:')
for (const [name, value] of Object.entries(main.outputs)) console.log(`  ${name}: ${value}`)
if (main.outputs.url) {
  const health = await fetch(`${main.outputs.url}/health`)
  console.log(`\nGET ${main.outputs.url}/health → ${health.status} ${await health.text()}`)
}
const post = await runPost(main)
process.stdout.write(`\npost:\n${post.stdout}`)
const left = processesWithTrackingId(main.trackingId)
console.log(left.length ? `processes left: ${left.join(', ')}` : 'no process left')
if (left.length || post.exitCode !== 0) process.exitCode = 1
