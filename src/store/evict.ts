// cache-max-size: after a run, the least recently used entries of the whole cache-dir (models and engines) are
// removed until it fits; never one that a live process holds a lease on.
import type { EntryRecord } from './entry-store.js'

/** What eviction needs of a store. */
export interface Evictable {
  catalog: { read(): Promise<{ entries: Record<string, EntryRecord> }> }
  evictEntry(name: string): Promise<'removed' | 'gone' | 'in-use'>
}

export interface Evicted {
  name: string
  sizeBytes: number
}

export async function evictLeastRecentlyUsed(
  stores: Evictable[],
  maxBytes: number,
): Promise<Evicted[]> {
  const all = (
    await Promise.all(
      stores.map(async (store) => Object.entries((await store.catalog.read()).entries).map(([name, record]) => ({ store, name, record }))),
    )
  ).flat()
  all.sort((a, b) => a.record.last_used.localeCompare(b.record.last_used))
  let total = all.reduce((sum, e) => sum + e.record.size_bytes, 0)
  const evicted: Evicted[] = []
  for (const { store, name, record } of all) {
    if (total <= maxBytes) break
    const outcome = await store.evictEntry(name)
    // Gone already (another job evicted it meanwhile) counts as room made: it must not cost a second entry.
    if (outcome !== 'in-use') total -= record.size_bytes
    if (outcome === 'removed') evicted.push({ name, sizeBytes: record.size_bytes })
  }
  return evicted
}
