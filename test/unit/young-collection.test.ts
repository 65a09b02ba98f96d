import { execFileSync } from 'node:child_process'
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { minorCollector, YoungCollection } from '../../src/util/young-collection.js'

describe('minorCollector', () => {
  it("reaches V8's gc without leaving it exposed to this context or to contexts made later", () => {
    const collect = minorCollector()
    expect(typeof collect).toBe('function')
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined')
    expect(vm.runInNewContext('typeof gc')).toBe('undefined')
  })

  it('frees buffers that died young, which V8 would otherwise keep until a full collection', async () => {
    const collect = minorCollector()
    if (!collect) throw new Error('no collector in this Node')
    collect({ type: 'minor' })
    const before = process.memoryUsage().arrayBuffers
    // 24 MiB in socket-sized buffers, each dropped at once: below the 64 MiB at which V8 collects on its own.
    let sink = 0
    for (let i = 0; i < 384; i++) sink += Buffer.allocUnsafeSlow(64 * 1024).fill(i).at(-1) as number
    expect(sink).toBeGreaterThan(0)
    const piled = process.memoryUsage().arrayBuffers
    expect(piled - before).toBeGreaterThanOrEqual(20 * 2 ** 20)
    collect({ type: 'minor' })
    // The backing stores are freed by V8's sweeper, which may finish a moment after the collection.
    let after = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 50 && after - before > 4 * 2 ** 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      after = process.memoryUsage().arrayBuffers
    }
    expect(after - before).toBeLessThan(4 * 2 ** 20)
  })
})

describe('YoungCollection', () => {
  it('asks for a minor collection after every `every` bytes, and not before', () => {
    // A recording stand-in for V8's gc(): what is asserted is when it is called.
    const calls: unknown[] = []
    const young = new YoungCollection(16, (options) => void calls.push(options))
    young.received(10)
    expect(calls).toEqual([])
    young.received(6)
    expect(calls).toEqual([{ type: 'minor' }])
    young.received(15)
    expect(calls).toHaveLength(1)
    young.received(40)
    expect(calls).toHaveLength(2)
  })

  it('counts and does nothing more where no collector could be had', () => {
    expect(() => new YoungCollection(1, null).received(10)).not.toThrow()
  })
})

describe('minorCollector under node --expose-gc', () => {
  it('uses the global gc and leaves the flag on for contexts made later', () => {
    const script = `
      import vm from 'node:vm'
      const { minorCollector } = await import(${JSON.stringify(new URL('../../src/util/young-collection.ts', import.meta.url).href)})
      const collect = minorCollector()
      console.log(JSON.stringify({ same: collect === globalThis.gc, later: vm.runInNewContext('typeof gc') }))`
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(JSON.parse(out.trim().split('\n').at(-1) as string)).toEqual({ same: true, later: 'function' })
  })
})
