import type { TestProject } from 'vitest/node'
import { buildFakeLlamaServer } from './engine-fixture.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the engine test double (a stand-in llama-server built from test/fixtures/engine). */
    fakeLlamaServer: string
  }
}

export default function setup(project: TestProject): void {
  project.provide('fakeLlamaServer', buildFakeLlamaServer())
}
