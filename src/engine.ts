// Interim: engine.ts is now disposal.ts (the plan, the LIFO run), disposal-run.ts (its
// bookkeeping) and disposal-remote.ts (the deleters' part). These old names stay only
// until scope-core.ts, sweep.ts and starved-budget.test.ts import from disposal.js.
export {
  type DisposalOptions as RunOptions, type DisposalPlan as Work, addToPlan as addToWork, emptyPlan as emptyWork, runDisposal as runWork,
} from './disposal.js'
