// A child process whose stdout is read line by line, for tests that load a bundle or run
// a real runtime client in a fresh `node`.
import { spawn, type ChildProcess } from 'node:child_process'

export interface Child {
  proc: ChildProcess
  /** stdout lines so far */
  lines: string[]
  /** stderr so far */
  stderr: () => string
  /** Resolves with the first stdout line matching, or rejects when the child exits first or after `timeoutMs`. */
  waitForLine: (match: RegExp, timeoutMs?: number) => Promise<string>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export const spawnNode = (nodeBin: string, args: string[], options: { env: NodeJS.ProcessEnv, cwd?: string }): Child => {
  const proc = spawn(nodeBin, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let err = ''
  let buf = ''
  let done = false
  const waiters: Array<{ match: RegExp, resolve: (l: string) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }> = []
  const check = (): void => {
    for (const w of [...waiters]) {
      const hit = lines.find((l) => w.match.test(l))
      if (hit !== undefined) { clearTimeout(w.timer); waiters.splice(waiters.indexOf(w), 1); w.resolve(hit) } else if (done) {
        clearTimeout(w.timer)
        waiters.splice(waiters.indexOf(w), 1)
        w.reject(new Error(`child exited before printing ${String(w.match)}\nstdout:\n${lines.join('\n')}\nstderr:\n${err}`))
      }
    }
  }
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (d: string) => {
    buf += d
    const parts = buf.split('\n')
    buf = parts.pop() ?? ''
    lines.push(...parts)
    check()
  })
  proc.stderr!.setEncoding('utf8')
  proc.stderr!.on('data', (d: string) => { err += d })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('close', (code, signal) => {
      if (buf !== '') lines.push(buf)
      done = true
      check()
      resolve({ code, signal })
    })
  })
  return {
    proc,
    lines,
    stderr: () => err,
    waitForLine: (match, timeoutMs = 20000) => new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.findIndex((w) => w.timer === timer), 1)
        reject(new Error(`no stdout line matching ${String(match)} within ${timeoutMs} ms\nstdout:\n${lines.join('\n')}\nstderr:\n${err}`))
      }, timeoutMs)
      waiters.push({ match, resolve, reject, timer })
      check()
    }),
    exited,
  }
}
