import { guardProcess } from '../errors.js'
import { runPost } from '../post.js'

guardProcess()
await runPost()
