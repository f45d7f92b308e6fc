/**
 * The layer rules (docs/ARCHITECTURE.md): no cycles, dynamic imports included; src/ never reaches
 * drivers/ or commands/; a driver sees berth only through the driver SDK.
 */
/* eslint-disable no-undef -- CommonJS config */
module.exports = {
  forbidden: [
    {name: 'no-cycles', severity: 'error', from: {}, to: {circular: true}},
    {name: 'src-not-outward', severity: 'error', comment: 'the core never imports drivers or commands', from: {path: '^src/'}, to: {path: '^(drivers|commands)/'}},
    {
      name: 'drivers-only-sdk', severity: 'error',
      comment: 'drivers import only the SDK\'s entries: src/sdk/index.ts, and src/sdk/localvm/index.ts for local VMs (and one another only where a preset extends a driver: conoha -> openstack)',
      from: {path: '^drivers/[^/]+/'}, to: {path: '^src/', pathNot: '^src/sdk/(localvm/)?index\\.ts$'},
    },
    {
      name: 'drivers-not-each-other', severity: 'error',
      from: {path: '^drivers/([^/]+)/', pathNot: '^drivers/conoha/'}, to: {path: '^drivers/', pathNot: ['^drivers/$1/']},
    },
    {name: 'sdk-not-pipeline', severity: 'error', comment: 'the SDK is what drivers may use: it must not pull in the pipeline', from: {path: '^src/sdk/'}, to: {path: '^src/(machine|swarm|mesh|cluster|manage|cli|provision|engine)/'}},
    {
      name: 'folders-through-index', severity: 'error', comment: 'another folder of src/ is used through its index only',
      from: {path: '^src/([^/]+)/'}, to: {path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$']},
    },
    {name: 'commands-through-index', severity: 'error', from: {path: '^commands/'}, to: {path: '^src/[^/]+/', pathNot: '^src/[^/]+/index\\.ts$'}},
    {name: 'layer-core', severity: 'error', comment: 'a layer uses only layers below it (docs/ARCHITECTURE.md)', from: {path: '^src/(core)/'}, to: {path: '^src/(store|certs|ssh|sdk|provision|engine|host|swarm|mesh|machine|registry|images|placement|cluster|manage|clusterfile|dashboard|transfer|options|cli|format)/'}},
    {name: 'layer-records', severity: 'error', comment: 'a layer uses only layers below it (docs/ARCHITECTURE.md)', from: {path: '^src/(store|certs|ssh)/'}, to: {path: '^src/(sdk|provision|engine|host|swarm|mesh|machine|registry|images|placement|cluster|manage|clusterfile|dashboard|transfer|options|cli|format)/'}},
    {name: 'layer-sdk', severity: 'error', comment: 'a layer uses only layers below it (docs/ARCHITECTURE.md)', from: {path: '^src/(sdk)/'}, to: {path: '^src/(provision|engine|host|swarm|mesh|machine|registry|images|placement|cluster|manage|clusterfile|dashboard|transfer|options|cli|format)/'}},
    {name: 'layer-host', severity: 'error', comment: 'a layer uses only layers below it (docs/ARCHITECTURE.md)', from: {path: '^src/(provision|engine|host)/'}, to: {path: '^src/(swarm|mesh|machine|registry|images|placement|cluster|manage|clusterfile|dashboard|transfer|options|cli|format)/'}},
    {name: 'layer-cluster', severity: 'error', comment: 'a layer uses only layers below it (docs/ARCHITECTURE.md)', from: {path: '^src/(swarm|mesh|machine|registry)/'}, to: {path: '^src/(images|placement|cluster|manage|clusterfile|dashboard|transfer|options|cli|format)/'}},
    {name: 'layer-apps', severity: 'error', comment: 'a layer uses only layers below it (docs/ARCHITECTURE.md)', from: {path: '^src/(placement|cluster|manage|clusterfile|dashboard|images|transfer)/'}, to: {path: '^src/(options|cli|format)/'}},
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    exclude: {path: '^(dist|node_modules|coverage)/'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    moduleSystems: ['es6'],
  },
}
