// zod compiles a parser for an object schema the first time it parses with it (new Function). A step parses each
// shape once or twice (its inputs, a catalog, a remembered file), so compiling costs more than it saves: about 5 ms
// of CPU on a warm start. The entry points import this before anything that defines a schema.
import { z } from 'zod'

z.config({ jitless: true })
