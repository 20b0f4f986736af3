// jest runs each test file in a vm realm; on Node 20 that realm lacks
// Symbol.asyncDispose/Symbol.dispose (Node adds them to the main realm only), which
// TypeScript's `await using` helper needs. Node's own objects carry the registered
// symbols, so point the realm's properties at them.
Symbol.asyncDispose ??= Symbol.for('nodejs.asyncDispose')
Symbol.dispose ??= Symbol.for('nodejs.dispose')
