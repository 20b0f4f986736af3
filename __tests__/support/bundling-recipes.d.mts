export interface Recipe {
  name: string
  /** the configuration it stands for, as written in docs/recipes.md */
  what: string
  /** the AWS SDK is inside the bundle (else it is the runtime's, external) */
  sdkBundled: boolean
  /** name of the bundle file (default: the entry's name, .mjs) */
  outfile?: string
  args: (entry: string, outdir: string) => string[]
}
export declare const root: string
export declare const CDK_BANNER: string
export declare const recipes: Recipe[]
export declare const samWithoutBanner: Recipe
export declare const plainEsm: Recipe
export declare const outRoot: string
export declare function bundle (recipe: Recipe, entry: string, outdir?: string): { file: string, bytes: number, warnings: string }
