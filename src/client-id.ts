/**
 * Per-client numbering, so resources can be keyed by client (`identityOf`, batch
 * groups) without holding the client in a string. Weakly held: a client dropped
 * by its owner is not kept alive by cleanup. Core module: imports nothing.
 */
const clientIds = new WeakMap<object, number>()
let nextClientId = 1

/**
 * A number unique to `client` for this process's lifetime.
 *
 * @example
 * ```ts
 * clientId(east) !== clientId(west) // two clients: two regions or accounts, never one batch
 * const groupKey = `${clientId(r.client)}\0${r.bucket}`
 * ```
 */
export const clientId = (client: object): number => {
  let id = clientIds.get(client)
  if (id === undefined) clientIds.set(client, id = nextClientId++)
  return id
}
