// Go templates (ls/inspect --format) and docker-machine's output shapes.
export * from './dm.js'
export * from './render.js'
export {compileTemplate} from './template.js'
