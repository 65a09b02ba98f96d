import { promises as fs } from 'node:fs'

/** Moves a file, or copies it (then removes the original) where a rename cannot: onto another filesystem. */
export async function moveFile(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error
    await fs.cp(from, to, { preserveTimestamps: true })
    await fs.rm(from, { force: true })
  }
}
