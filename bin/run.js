#!/usr/bin/env node
import {prepareArgv} from '../dist/src/cli/argv.js'
import {execute} from '@oclif/core/execute'

// docker-machine's globals, variables and `help CMD` (src/cli/argv.ts), before oclif parses.
const {argv, notes} = prepareArgv(process.argv.slice(2), process.env)
for (const n of notes) process.stderr.write(`note: ${n}\n`)
await execute({dir: import.meta.url, args: argv})
