import {UserError} from '../core/index.js'

/** Machine names: also folder names in the store, hostnames and Docker context names. */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/

export function validateName(name: string): void {
  if (!NAME_RE.test(name) || name.length > 63) {
    throw new UserError(`invalid machine name "${name}": use letters, digits, '.' and '-', starting with a letter or digit (at most 63)`)
  }
}
