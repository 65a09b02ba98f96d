import '../zod-jitless.js'
import { guardProcess } from '../errors.js'
import { run } from '../post.js'

guardProcess()
await run()
