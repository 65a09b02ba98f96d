// The download function alone (src/model/parallel-download.ts, automatic connections), in a process of its own,
// so that scripts/bench/download.ts can time one way of hashing against the other with nothing else differing.
// argv: <url> <dest> <size> <sha256 hex> <in-order|after>. The action's log lines go to stdout, which nobody reads.
import { downloadModelFile } from '../../src/model/parallel-download.js'

const [url, dest, size, sha256, hashMode] = process.argv.slice(2) as [string, string, string, string, string]
if (hashMode !== 'in-order' && hashMode !== 'after') throw new Error(`the hash mode must be in-order or after, not ${hashMode}`)
await downloadModelFile({ url, dest, label: 'bench', expectedSize: Number(size), expectedDigest: `sha256:${sha256}`, timeoutMs: 30_000, connections: undefined, hashMode })
