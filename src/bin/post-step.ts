import '../zod-jitless.js'
import { exitWhenIdle } from '../compile-cache.js'
import { guardProcess } from '../errors.js'
import { run } from '../post.js'

guardProcess()
await run()
exitWhenIdle()
