import '../zod-jitless.js'
import { guardProcess } from '../errors.js'
import { run } from '../main.js'

guardProcess()
await run()
