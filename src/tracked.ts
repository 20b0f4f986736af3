// Interim: tracked.ts is now scope-items.ts (what a scope holds: the item types, the
// public resource/deleter types, identity, attempts). Kept only until index.ts,
// s3-object.ts and disposal-lifo-and-deferral.test.ts import from scope-items.js.
export * from './scope-items.js'
