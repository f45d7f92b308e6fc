export * from './certs.js'
