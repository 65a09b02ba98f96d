// The local Hub server (test/support/hub-server.ts) of one test file: started before its tests, stopped after them.
import { afterAll, beforeAll } from 'vitest'
import { HubServer } from './hub-server.js'

export function hubServerForFile(): () => HubServer {
  let hub: HubServer | undefined
  beforeAll(async () => {
    hub = await HubServer.start()
  })
  afterAll(async () => {
    await hub?.stop()
  })
  return () => {
    if (!hub) throw new Error('the Hub server is started in beforeAll')
    return hub
  }
}
