// Stand-in for a connection pool opened once at init (e.g. `new pg.Pool()`), so the
// examples type-check and run without a database. `end()` is what a real pool has.
export const db = {
  open: true,
  async query (sql: string): Promise<{ rows: unknown[], sql: string }> {
    if (!this.open) throw new Error('pool is closed')
    return { rows: [], sql }
  },
  async end (): Promise<void> {
    this.open = false
  },
}
