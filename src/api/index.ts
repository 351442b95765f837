// The KV data model shared by every layer: types, limits, validation, errors and the protobuf codec.
export * from './kv.js'
export * from './limits.js'
export * from './errors.js'
export * from './validate.js'
export * from './codec.js'
