// `npm start`: the action on this machine, on its embedded default and with no network: llama.cpp v0.5.0 from
// the bundled source (fetched by npm ci), a generated tiny model, through the same runner harness as the tests.
// It prints the outputs and one completion, then runs the post step. The first run builds llama-server
// (minutes, with progress); later runs reuse node_modules/.cache/setup-llama-server/start/cache.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { llamaCppSource } from '../test/support/llama-source.js'
import { processesWithTrackingId, ROOT, runMain, runPost, type JobDirs } from '../test/support/runner.js'
import { tinyModelBytes } from '../test/support/tiny-model.js'

const base = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server', 'start')
const dirs: JobDirs = { root: base, workspace: path.join(base, 'workspace'), temp: path.join(base, 'temp'), toolCache: path.join(base, 'tool-cache') }
for (const dir of [dirs.workspace, dirs.temp, dirs.toolCache]) mkdirSync(dir, { recursive: true })
const model = path.join(dirs.workspace, 'tiny.gguf')
if (!existsSync(model)) writeFileSync(model, await tinyModelBytes())

const { repo } = llamaCppSource()
console.log(`llama.cpp source: ${repo}\nmodel: ${model}\ncache-dir: ${path.join(base, 'cache')}\n`)
const main = await runMain({
  dirs,
  inputs: { model: 'tiny.gguf', 'llama-cpp-repo': repo, 'cache-dir': path.join(base, 'cache'), 'remote-cache': 'none' },
  timeoutMs: 60 * 60_000,
  onOutput: (text) => process.stdout.write(text),
})
console.log('\noutputs:')
for (const [name, value] of Object.entries(main.outputs)) console.log(`  ${name}: ${value}`)
if (main.outputs.url) {
  const response = await fetch(`${main.outputs.url}/completion`, { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', n_predict: 16 }) })
  const body = (await response.json()) as { content: string; tokens_predicted: number }
  console.log(`\nPOST ${main.outputs.url}/completion → ${response.status}: ${body.tokens_predicted} tokens: ${JSON.stringify(body.content)}`)
}
const post = await runPost(main)
process.stdout.write(`\npost:\n${post.stdout}`)
const left = processesWithTrackingId(main.trackingId)
console.log(left.length ? `processes left: ${left.join(', ')}` : 'no process left')
if (main.exitCode !== 0) console.error(`main failed:\n${main.errors.join('\n')}`)
if (main.exitCode !== 0 || post.exitCode !== 0 || left.length) process.exitCode = 1
