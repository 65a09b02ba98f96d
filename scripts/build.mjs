// Bundles the two entry points with ncc into <out>/main and <out>/post: `node scripts/build.mjs dist`.
// The dist test builds into a temporary directory with this same script and compares.
import ncc from '@vercel/ncc'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const out = path.resolve(process.argv[2] ?? 'dist')

await rm(out, { recursive: true, force: true })
for (const entry of ['main', 'post']) {
  const { code, assets } = await ncc(path.join(root, 'src', 'bin', `${entry}.ts`), {
    minify: false,
    sourceMap: false,
    license: 'licenses.txt',
    quiet: true,
  })
  const dir = path.join(out, entry)
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'index.js'), code)
  for (const [name, asset] of Object.entries(assets ?? {})) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true })
    await writeFile(path.join(dir, name), asset.source)
  }
}
// The bundles are ES modules; this marks them so wherever dist/ is read from.
await writeFile(path.join(out, 'package.json'), '{ "type": "module" }\n')
