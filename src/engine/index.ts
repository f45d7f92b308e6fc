export {Engine, demux, type Hijacked} from './engine.js'
export {EngineError, EngineNotFoundError, engineError, engineMessage, type HttpResult} from './errors.js'
export {tlsFromDir, type EngineTLS} from './tls.js'
export {localEngine, type StreamingEngine} from './local.js'
