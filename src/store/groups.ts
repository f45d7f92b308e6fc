/**
 * Cluster group records: what a classic group is, apart from its members (who are the machine
 * records naming it). `<store>/groups/NAME.json`, written by the group's first member and removed
 * with its last, so a group's mode is on record from the moment it exists. Plain JSON, checked by
 * hand: ls and env read it without loading zod.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {mkdirPrivate, writeFileAtomic} from '../core/index.js'

export interface GroupRecord {
  name: string
  mode: 'classic'
  createdAt: string
  /** The placement strategy the group was made with (create --swarm-strategy). */
  strategy?: string
}

const file = (root: string, name: string) => path.join(root, 'groups', `${name}.json`)

/** The group's record, or undefined when there is none (or it is unreadable: members then decide). */
export async function loadGroup(root: string, name: string): Promise<GroupRecord | undefined> {
  const text = await fs.readFile(file(root, name), 'utf8').catch(() => undefined)
  if (!text) return undefined
  try {
    const g = JSON.parse(text) as Partial<GroupRecord>
    return g.name === name && g.mode === 'classic' && typeof g.createdAt === 'string' ? g as GroupRecord : undefined
  } catch {
    return undefined
  }
}

/** Writes the record unless one exists: the first member makes the group, later ones find it. */
export async function ensureGroup(root: string, g: GroupRecord): Promise<GroupRecord> {
  const known = await loadGroup(root, g.name)
  if (known) return known
  await mkdirPrivate(path.join(root, 'groups'))
  await writeFileAtomic(file(root, g.name), JSON.stringify(g, null, 2) + '\n')
  return g
}

export async function removeGroup(root: string, name: string): Promise<void> {
  await fs.rm(file(root, name), {force: true})
}
