export * from './manage.js'
