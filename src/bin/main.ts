// The main step's entry: Node's compile cache first, then the bundle of the step (a chunk of its own, so that it
// is compiled with the cache on).
import { useCompileCache } from '../compile-cache.js'

useCompileCache()
await import('./main-step.js')
