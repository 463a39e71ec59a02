/**
 * The workflow code a worker runs, bundled at build time: scripts/build writes
 * dist/workflows-bundle.js (Temporal's bundleWorkflowCode, the same webpack bundling a worker does
 * at start from `workflowsPath`) and beside it dist/workflows-bundle.json, the manifest: the
 * SHA-256 of the bundle and of every file webpack read to make it (pgincr's compiled workflow
 * modules and what they import, the SDK's workflow library, source maps). A worker that starts
 * from such a bundle skips webpack, and its RSS stays lower by tens of MiB (webpack's heap is
 * freed, the pages stay: README "Fault gauntlet", very large transaction).
 *
 * A bundle is used only when every one of those files still hashes as recorded: workflow code
 * that differs from the code the activities and replay tests run breaks determinism, so a
 * bundle left behind by an edit outside scripts/build (tsc run by hand, another SDK installed)
 * must never run. A new import can only appear by editing a listed file, so the list is
 * complete. Anything else (no manifest, a file changed or gone, an unreadable bundle) and the
 * worker bundles at start as before; `selectWorkflowCode` says which and why.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

export const WORKFLOW_BUNDLE_FILE = 'workflows-bundle.js';
export const WORKFLOW_BUNDLE_MANIFEST = 'workflows-bundle.json';

interface Manifest {
  /** SHA-256 of the bundle file. */
  bundle: string;
  /** Every file webpack read, relative to the manifest's folder → its SHA-256. */
  inputs: Record<string, string>;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** webpack's compiler, as far as the input recorder needs it. */
interface Compiler {
  hooks: { done: { tap(name: string, fn: (stats: { compilation: { fileDependencies: Iterable<string> } }) => void): void } };
}

/**
 * Bundles `workflowsPath` into `outDir` with its manifest; replaces an older bundle atomically
 * (the manifest last: a bundle without its manifest is never used). Returns the bundle's size
 * and the number of input files. Runs webpack: build time (and tests) only.
 */
export async function writeWorkflowBundle(workflowsPath: string, outDir: string): Promise<{ bytes: number; inputs: number }> {
  const bundlePath = join(outDir, WORKFLOW_BUNDLE_FILE);
  const manifestPath = join(outDir, WORKFLOW_BUNDLE_MANIFEST);
  rmSync(manifestPath, { force: true });
  let read: string[] = [];
  const recordInputs = {
    apply(compiler: Compiler) {
      compiler.hooks.done.tap('pgincr-workflow-inputs', (stats) => {
        read = [...stats.compilation.fileDependencies];
      });
    },
  };
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => ({ ...config, plugins: [...(config.plugins ?? []), recordInputs] }),
  });
  // Files only (webpack also lists folders it resolved in); the generated entrypoint lives in
  // webpack's memory file system only, its text is the SDK's.
  const inputs = read.filter((file) => statSync(file, { throwIfNoEntry: false })?.isFile() === true).sort();
  if (inputs.length === 0) throw new Error(`pgincr: bundling ${workflowsPath} recorded no input files: cannot tell later whether the bundle is current`);
  const bytes = Buffer.from(code);
  const manifest: Manifest = {
    bundle: sha256(bytes),
    inputs: Object.fromEntries(inputs.map((file) => [relative(outDir, file), sha256(readFileSync(file))])),
  };
  writeFileSync(`${bundlePath}.tmp`, bytes);
  renameSync(`${bundlePath}.tmp`, bundlePath);
  writeFileSync(`${manifestPath}.tmp`, JSON.stringify(manifest, null, 1));
  renameSync(`${manifestPath}.tmp`, manifestPath);
  return { bytes: bytes.length, inputs: inputs.length };
}

/** The prebuilt bundle in `dir` when it is current, else why not (the first difference found). */
export function prebuiltWorkflowBundle(dir: string): { codePath: string; inputs: number } | { reason: string } {
  const manifestPath = join(dir, WORKFLOW_BUNDLE_MANIFEST);
  const codePath = join(dir, WORKFLOW_BUNDLE_FILE);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch {
    return { reason: `no prebuilt workflow bundle (${manifestPath}; scripts/build writes it)` };
  }
  try {
    if (sha256(readFileSync(codePath)) !== manifest.bundle) return { reason: `${codePath} is not the bundle its manifest describes` };
  } catch (err) {
    return { reason: `${codePath} unreadable: ${(err as Error).message}` };
  }
  const entries = Object.entries(manifest.inputs ?? {});
  if (entries.length === 0) return { reason: `${manifestPath} lists no input files` };
  for (const [file, hash] of entries) {
    const path = resolve(dir, file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      return { reason: `${path}, an input of the prebuilt workflow bundle, is gone (run scripts/build)` };
    }
    if (sha256(bytes) !== hash) return { reason: `${path} changed since the workflow bundle was built (run scripts/build)` };
  }
  return { codePath, inputs: entries.length };
}

/** Worker options for the workflow code: the prebuilt bundle in `dir` when current, else `workflowsPath` (bundled at start). */
export function selectWorkflowCode(
  dir: string,
  workflowsPath: string,
): { workflowBundle: { codePath: string }; used: 'prebuilt'; inputs: number } | { workflowsPath: string; used: 'bundled at start'; reason: string } {
  const prebuilt = prebuiltWorkflowBundle(dir);
  if ('codePath' in prebuilt) return { workflowBundle: { codePath: prebuilt.codePath }, used: 'prebuilt', inputs: prebuilt.inputs };
  return { workflowsPath, used: 'bundled at start', reason: prebuilt.reason };
}
